"""The web shop's scan landing (/shop/{brand}/scan?scene=KEY): a printed code opens the shop,
the scan and visit are recorded, logging in joins the member with the code as its source, and
the order carries the code's touchpoint."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.consumers.models import Consumer
from siyu.members.models import Member
from siyu.orders.models import Order
from siyu.shop.scan import SCENE_COOKIE, VISITOR_COOKIE
from siyu.tracking.models import TrackingEvent
from tests.factories_mall import Mall, build_mall
from tests.factories_touchpoints import make_touchpoint
from tests.helpers import row_counts

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
KEY = re.compile(r'name="idempotency_key" value="([^"]+)"')


@pytest.fixture
def mall(session: Session) -> Mall:
    return build_mall(session)


def _csrf(html: str) -> str:
    found = CSRF.search(html)
    assert found is not None, html
    return found.group(1)


def _shelf_code(session: Session, mall: Mall) -> tuple[int, str]:
    view = make_touchpoint(session, mall.world.system, store_id=mall.store_id)
    session.commit()
    return view.touchpoint.id, view.codes[0].scene_key


def test_scanning_a_shelf_code_logging_in_and_buying_makes_an_attributed_member(
    session: Session, client: TestClient, mall: Mall
) -> None:
    # given a shelf code of the mall's store
    touchpoint_id, scene_key = _shelf_code(session, mall)
    base = f"/shop/{mall.world.brand.slug}"
    # when an anonymous visitor scans it
    landed = client.get(f"{base}/scan", params={"scene": scene_key}, follow_redirects=False)
    # then they are sent to log in, on to the code's store, remembered as a visitor with the scene
    assert landed.status_code == 303
    assert landed.headers["location"] == f"{base}/login?next={base}/stores/{mall.store_id}"
    visitor = client.cookies.get(VISITOR_COOKIE)
    assert visitor is not None and client.cookies.get(SCENE_COOKIE) == scene_key
    events = session.scalars(select(TrackingEvent).order_by(TrackingEvent.id)).all()
    assert [(e.kind, e.touchpoint_id, e.anonymous_id, e.scene) for e in events] == [
        ("scan", touchpoint_id, visitor, 1011),
        ("visit", touchpoint_id, visitor, 1011),
    ]
    # when they log in
    page = client.get(f"{base}/login", params={"next": f"{base}/stores/{mall.store_id}"})
    logged_in = client.post(
        f"{base}/login",
        data={
            "user": "scanner",
            "csrf_token": _csrf(page.text),
            "next": f"{base}/stores/{mall.store_id}",
        },
        follow_redirects=False,
    )
    assert logged_in.status_code == 303
    assert logged_in.headers["location"] == f"{base}/stores/{mall.store_id}"
    # then they joined with the shelf code, its store and no guide as the source
    session.expire_all()
    consumer = session.scalars(select(Consumer).order_by(Consumer.id.desc())).first()
    assert consumer is not None and consumer.member_id is not None
    member = session.get(Member, (mall.world.brand.id, consumer.member_id))
    assert member is not None
    assert (member.join_channel, member.source_touchpoint_id, member.source_store_id) == (
        "scan",
        touchpoint_id,
        mall.store_id,
    )
    # when they buy at the store
    catalog = client.get(f"{base}/stores/{mall.store_id}")
    added = client.post(
        f"{base}/stores/{mall.store_id}/cart",
        data={
            "csrf_token": _csrf(catalog.text),
            "product_id": str(mall.tee_s.product_id),
            "sku_id": str(mall.tee_s.id),
            "quantity": "1",
        },
        follow_redirects=False,
    )
    assert added.status_code == 303, added.text
    cart = client.get(f"{base}/stores/{mall.store_id}/cart?method=pickup")
    key = KEY.search(cart.text)
    assert key is not None
    placed = client.post(
        f"{base}/stores/{mall.store_id}/orders",
        data={"csrf_token": _csrf(cart.text), "idempotency_key": key.group(1), "method": "pickup"},
        follow_redirects=False,
    )
    # then the order carries the shelf code as its touchpoint
    assert placed.status_code == 303, placed.text
    order = session.scalars(select(Order).where(Order.consumer_id == consumer.id)).one()
    assert (order.touchpoint_id, order.selling_store_id) == (touchpoint_id, mall.store_id)


def test_an_unknown_scene_still_opens_the_shop_and_is_kept_as_an_unknown_source(
    session: Session, client: TestClient, mall: Mall
) -> None:
    # given a key the brand never issued
    base = f"/shop/{mall.world.brand.slug}"
    # when it is scanned
    landed = client.get(f"{base}/scan", params={"scene": "tNOSUCHKEY123"}, follow_redirects=False)
    # then the shop opens at the store list, and the scan is recorded without a touchpoint
    assert landed.status_code == 303
    assert landed.headers["location"] == f"{base}/login?next={base}/stores"
    events = session.scalars(select(TrackingEvent).order_by(TrackingEvent.id)).all()
    assert [(e.kind, e.touchpoint_id, e.scene_key) for e in events] == [
        ("scan", None, "tNOSUCHKEY123"),
        ("visit", None, "tNOSUCHKEY123"),
    ]


def test_a_malformed_scene_records_a_visit_without_a_key_and_sets_no_scene(
    session: Session, client: TestClient, mall: Mall
) -> None:
    # given
    base = f"/shop/{mall.world.brand.slug}"
    before = row_counts(session)
    # when a scene with characters outside the mini-program's set arrives
    landed = client.get(f"{base}/scan", params={"scene": "bad key%"}, follow_redirects=False)
    # then the shop still opens; nothing but the two events is written, with no key
    assert landed.status_code == 303
    assert client.cookies.get(SCENE_COOKIE) is None
    after = row_counts(session)
    assert {t: after[t] - before.get(t, 0) for t in after if after[t] != before.get(t, 0)} == {
        "tracking_event": 2
    }
    assert [e.scene_key for e in session.scalars(select(TrackingEvent))] == [None, None]
