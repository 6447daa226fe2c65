"""The demo brand's touchpoints, scan-to-join journeys and offline data (issue 4).

Touchpoints: a shelf code and a counter code in three stores, a guide's code, and a paid
moments ad. Journeys go through the real services as a phone would: an anonymous visitor scans
the SH01 shelf code (scan and visit recorded), logs in with that scene (scan-to-join: the member's
source is the shelf code, its store and no guide), and buys at SH01 with the shelf code as the
order's touchpoint; a second shopper joins through the guide's code and buys; a third comes from
the ad and only joins. Then the POS exports are imported (siyu.demo.offline). Seeded once: a
second run finds the shelf code and changes nothing.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.access.rules import Actor
from siyu.brands.models import Brand
from siyu.catalog.models import Sku
from siyu.consumers.service import log_in_consumer
from siyu.demo.mall import pay_in_sandbox
from siyu.demo.offline import seed_offline
from siyu.members.models import Member
from siyu.orders.checkout import Shopper, place_order
from siyu.orders.models import FulfilmentMethod
from siyu.orders.schemas import OrderLineIn, PlaceOrder
from siyu.org.models import Store
from siyu.staff.models import Staff
from siyu.touchpoints.models import Touchpoint, TouchpointCode
from siyu.touchpoints.schemas import TouchpointCreate
from siyu.touchpoints.service import create_touchpoint
from siyu.tracking.server_events import record_scan_visit
from siyu.wechat.sandbox import SANDBOX_MINI_PROGRAM, issue_login_code
from siyu.wechat.service import mini_program_app_id

SHELF_CODE = "SH01-SHELF"
# (touchpoint code, name, kind, store code or None, guide login or None, campaign, cost fen)
TOUCHPOINTS: tuple[tuple[str, str, str, str | None, str | None, str | None, int | None], ...] = (
    (SHELF_CODE, "SH01 货架码 · 新品区", "shelf_code", "SH01", None, None, None),
    ("SH01-COUNTER", "SH01 收银台码", "counter_code", "SH01", None, None, None),
    ("HZ02-SHELF", "HZ02 货架码", "shelf_code", "HZ02", None, None, 12000),
    ("HZ02-COUNTER", "HZ02 收银台码", "counter_code", "HZ02", None, None, None),
    ("GZ01-SHELF", "GZ01 货架码", "shelf_code", "GZ01", None, None, None),
    ("SH01-GUIDE1", "SH01 导购码 · guide 1", "guide_code", None, "sh01-guide1", None, None),
    ("AD-AUTUMN", "秋季新品 朋友圈广告", "mp_moments_ad_landing", None, None, "autumn-new", 50000),
)
# (sandbox WeChat user, nickname, touchpoint code, store code to buy at or None, SKU)
JOURNEYS: tuple[tuple[str, str, str, str | None, str], ...] = (
    ("lin-xiaoyu", "林小雨", SHELF_CODE, "SH01", "JX-TEE-001-WHT-S"),
    ("zhou-ming", "周明", "SH01-GUIDE1", "SH01", "JX-SOCK-010-MIX"),
    ("he-jia", "何佳", "AD-AUTUMN", None, ""),
)


@dataclass
class MembersResult:
    touchpoints: int = 0
    journeys: int = 0
    shelf_scene_key: str | None = None
    offline_members: int = 0
    offline_orders: int = 0


def seed_demo_members(session: Session, brand: Brand, actor: Actor) -> MembersResult:
    """Seed touchpoints, journeys and POS data unless the shelf code exists (or the brand has
    no catalog yet: the journeys buy from it). Does not commit."""
    result = MembersResult()
    has_catalog = session.scalar(select(Sku.id).where(Sku.brand_id == brand.id).limit(1))
    if has_catalog is not None and _scene_key(session, brand.id, SHELF_CODE) is None:
        result.touchpoints = _create_touchpoints(session, brand, actor)
        result.journeys = _run_journeys(session, brand)
        offline = seed_offline(session, brand)
        result.offline_members = offline.members_created
        result.offline_orders = offline.orders_created
    result.shelf_scene_key = _scene_key(session, brand.id, SHELF_CODE)
    return result


def _scene_key(session: Session, brand_id: int, touchpoint_code: str) -> str | None:
    return session.scalar(
        select(TouchpointCode.scene_key)
        .join(
            Touchpoint,
            (Touchpoint.brand_id == TouchpointCode.brand_id)
            & (Touchpoint.id == TouchpointCode.touchpoint_id),
        )
        .where(Touchpoint.brand_id == brand_id, Touchpoint.code == touchpoint_code)
        .order_by(TouchpointCode.id)
        .limit(1)
    )


def _store_ids(session: Session, brand_id: int) -> dict[str, int]:
    rows = session.execute(select(Store.code, Store.id).where(Store.brand_id == brand_id))
    return {code: store_id for code, store_id in rows}


def _create_touchpoints(session: Session, brand: Brand, actor: Actor) -> int:
    stores = _store_ids(session, brand.id)
    guides = {
        s.login: s.id for s in session.scalars(select(Staff).where(Staff.brand_id == brand.id))
    }
    for code, name, kind, store, guide, campaign, cost in TOUCHPOINTS:
        create_touchpoint(
            session,
            actor,
            TouchpointCreate(
                code=code,
                name=name,
                kind=kind,
                store_id=stores[store] if store else None,
                staff_id=guides[guide] if guide else None,
                campaign=campaign,
                cost_fen=cost,
            ),
        )
    return len(TOUCHPOINTS)


def _run_journeys(session: Session, brand: Brand) -> int:
    app_id = mini_program_app_id(session, brand.id)
    stores = _store_ids(session, brand.id)
    for index, (user, nickname, touchpoint_code, store_code, sku_code) in enumerate(JOURNEYS):
        scene_key = _scene_key(session, brand.id, touchpoint_code)
        touchpoint = session.scalar(
            select(Touchpoint).where(
                Touchpoint.brand_id == brand.id, Touchpoint.code == touchpoint_code
            )
        )
        assert scene_key is not None and touchpoint is not None
        visitor = "v" + secrets.token_hex(12)
        record_scan_visit(
            session,
            brand.id,
            anonymous_id=visitor,
            member_id=None,
            consumer_id=None,
            scene_key=scene_key,
            touchpoint_id=touchpoint.id,
            store_id=touchpoint.store_id,
        )
        _, _, consumer, _ = log_in_consumer(
            session,
            brand_slug=brand.slug,
            code=issue_login_code(app_id, user),
            gateway=SANDBOX_MINI_PROGRAM,
            scene_key=scene_key,
            anonymous_id=visitor,
        )
        # The mini program would fill the profile in from wx.getUserProfile.
        consumer.nickname = nickname
        member = session.get(Member, (brand.id, consumer.member_id))
        assert member is not None
        member.display_name = nickname
        if store_code is None:
            continue
        sku_id = session.scalar(
            select(Sku.id).where(Sku.brand_id == brand.id, Sku.code == sku_code)
        )
        assert sku_id is not None
        shopper = Shopper(brand.id, consumer.id, f"consumer:{consumer.id}")
        placed = place_order(
            session,
            shopper,
            stores[store_code],
            PlaceOrder(
                lines=[OrderLineIn(sku_id=sku_id, quantity=1)],
                fulfilment_method=FulfilmentMethod.PICKUP,
                touchpoint_id=touchpoint.id,
                guide_staff_id=touchpoint.staff_id,
            ),
            idempotency_key=f"demo-journey-{index:03d}",
        )
        pay_in_sandbox(session, shopper, placed.order)
    return len(JOURNEYS)
