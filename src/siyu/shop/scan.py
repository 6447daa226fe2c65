"""The web shop's scan landing: what a printed touchpoint code opens (扫码即会员).

``/shop/{brand}/scan?scene=KEY`` records the scan and the visit it opens, remembers the visitor
(an anonymous id cookie, stitched to the member at login) and the scene (a cookie that the
login turns into scan-to-join and checkout turns into the order's touchpoint), then sends the
shopper to the touchpoint's store. An unknown key is recorded as an unknown source and the
shopper still lands in the shop: a code must never show an error.
"""

from __future__ import annotations

import re
import secrets
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from siyu.brands.models import Brand
from siyu.brands.service import get_brand_by_slug
from siyu.consumers.service import ConsumerContext, authenticate_consumer
from siyu.core.errors import SiyuError
from siyu.members.membership import JOIN_BY_SCAN, join_member, membership_of
from siyu.shop import service
from siyu.shop.web import COOKIE_MAX_AGE, SHOP_COOKIE, ShopRoute, see_other
from siyu.touchpoints.models import Touchpoint
from siyu.touchpoints.rules import is_valid_scene_key
from siyu.touchpoints.service import resolve_scene
from siyu.tracking.server_events import record_scan_visit
from siyu.web.csrf import cookie_is_secure
from siyu.web.deps import Uow

router = APIRouter(route_class=ShopRoute)

VISITOR_COOKIE = "siyu_visitor"
SCENE_COOKIE = "siyu_scene"
# The scene credits what the shopper does in the visit it opened, not weeks later.
SCENE_MAX_AGE = 24 * 3600
_VISITOR = re.compile(r"^v[0-9a-f]{24}$")


def visitor_id(request: Request) -> str | None:
    """The anonymous visitor id of this browser, when it has a well-formed one."""
    value = request.cookies.get(VISITOR_COOKIE, "")
    return value if _VISITOR.match(value) else None


def scene_of(request: Request) -> str | None:
    """The scene key this browser arrived with (within the last day), when well-formed."""
    value = request.cookies.get(SCENE_COOKIE, "")
    return value if value and is_valid_scene_key(value) else None


def scene_touchpoint(session: Session, brand_id: int, request: Request) -> Touchpoint | None:
    """The live touchpoint of the scene this browser arrived with: the order's touchpoint (the
    scene at transaction time, as WeChat attributes a transaction to its opening scene)."""
    scene_key = scene_of(request)
    if scene_key is None:
        return None
    resolution = resolve_scene(session, brand_id, scene_key)
    return resolution.touchpoint if resolution.active else None


def _logged_in(session: Session, request: Request, brand: Brand) -> ConsumerContext | None:
    token = request.cookies.get(SHOP_COOKIE, "")
    if not token:
        return None
    try:
        context = authenticate_consumer(session, token)
    except SiyuError:
        return None
    return context if context.brand.id == brand.id else None


def _landing(session: Session, brand: Brand, store_id: int | None) -> str:
    base = f"/shop/{brand.slug}/stores"
    if store_id is None:
        return base
    browsable = {card.id for card in service.browsable_stores(session, brand.id)}
    return f"{base}/{store_id}" if store_id in browsable else base


@router.get("/{brand}/scan", include_in_schema=False)
def scan(
    brand: str,
    request: Request,
    session: Uow,
    scene: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    """Land from a scanned code. Writes two tracking events (scan, visit) and, for a logged-in
    member who has not joined, joins them with the code's touchpoint as the source."""
    row = get_brand_by_slug(session, brand)
    visitor = visitor_id(request) or "v" + secrets.token_hex(12)
    scene_key = scene if is_valid_scene_key(scene) else None
    touchpoint = resolve_scene(session, row.id, scene_key).touchpoint if scene_key else None
    context = _logged_in(session, request, row)
    member_id: int | None = None
    if context is not None:
        member = membership_of(session, row.id, context.consumer)
        if touchpoint is not None:  # the scene resolved above: join_by_scene without a lookup
            join_member(session, row.id, member.id, channel=JOIN_BY_SCAN, touchpoint=touchpoint)
        member_id = member.id
    record_scan_visit(
        session,
        row.id,
        anonymous_id=visitor,
        member_id=member_id,
        consumer_id=context.consumer.id if context is not None else None,
        scene_key=scene_key,
        touchpoint_id=touchpoint.id if touchpoint is not None else None,
        store_id=touchpoint.store_id if touchpoint is not None else None,
    )
    target = _landing(session, row, touchpoint.store_id if touchpoint is not None else None)
    if context is None:
        target = f"/shop/{row.slug}/login?next={quote(target, safe='/')}"
    response = see_other(target)
    secure = cookie_is_secure(request)
    path = f"/shop/{row.slug}"
    response.set_cookie(
        VISITOR_COOKIE,
        visitor,
        httponly=True,
        samesite="lax",
        secure=secure,
        max_age=COOKIE_MAX_AGE * 12,
        path=path,
    )
    if scene_key is not None:
        response.set_cookie(
            SCENE_COOKIE,
            scene_key,
            httponly=True,
            samesite="lax",
            secure=secure,
            max_age=SCENE_MAX_AGE,
            path=path,
        )
    return response
