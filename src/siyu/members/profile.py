"""The member 360: one read with everything the brand knows about a member.

Members own the profile, identities, lifecycle, online orders and acquisition; the other
sections come from the read function each domain exposes (loyalty, segments, consent,
tracking, offline), called through ``DOMAIN_SECTIONS``. A domain that is not installed gives an
empty section marked unavailable, never made-up data; the bound guide, groups and coupons are
empty sections naming the issue that fills them in.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.access.rules import Actor, Permission
from siyu.consumers.models import Consumer
from siyu.members.identity import survivor_of
from siyu.members.models import Member, MemberIdentity
from siyu.members.rules import mask_identifier
from siyu.members.schemas import (
    GUIDES_ISSUE,
    MARKETING_ISSUE,
    AcquisitionOut,
    DomainSection,
    IdentityOut,
    JourneyOut,
    Member360Out,
    OnlineOrderOut,
    PendingSection,
    lifecycle_out,
    member_out,
)
from siyu.members.service import member_in_scope
from siyu.orders.models import Order
from siyu.orders.rules import display_status
from siyu.org.models import Store
from siyu.staff.models import Staff
from siyu.touchpoints.models import Touchpoint

ONLINE_ORDERS_SHOWN = 20
JOURNEY_STEPS_SHOWN = 50
OFFLINE_ORDERS_SHOWN = 50
_Row = TypeVar("_Row")


@dataclass(frozen=True)
class DomainRead:
    """A domain's read function for the 360: ``module.function(session, brand_id, member_id,
    **extra)``; ``empty`` is the section's value while the domain is not installed."""

    module: str
    function: str
    empty: Any
    extra: tuple[tuple[str, Any], ...] = ()


DOMAIN_SECTIONS: dict[str, DomainRead] = {
    "loyalty": DomainRead("siyu.loyalty.service", "member_loyalty", None),
    "tags": DomainRead("siyu.segments.tags", "member_tags", None),
    "segments": DomainRead("siyu.segments.service", "member_segments", []),
    "consent": DomainRead("siyu.consent.service", "member_consent", None),
    "journey": DomainRead(
        "siyu.tracking.service", "member_journey", [], (("limit", JOURNEY_STEPS_SHOWN),)
    ),
    "offline_orders": DomainRead(
        "siyu.offline.service", "member_offline_orders", [], (("limit", OFFLINE_ORDERS_SHOWN),)
    ),
}


def _reader(read: DomainRead) -> Callable[..., Any] | None:
    """The domain's function, or None while its module (or the function) does not exist."""
    try:
        module = importlib.import_module(read.module)
    except ModuleNotFoundError as error:
        # Only the domain's own absence; a missing dependency inside it is a real failure.
        if error.name is None or not read.module.startswith(error.name):
            raise
        return None
    function = getattr(module, read.function, None)
    return function if callable(function) else None


def _plain(value: Any) -> Any:
    """JSON-ready data from a domain's answer (Pydantic models, dataclasses, lists of them)."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain(dataclasses.asdict(value))
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def domain_section(
    session: Session, name: str, brand_id: int, member_id: int, viewer: Actor
) -> DomainSection:
    """One other domain's section of the 360. The viewer is passed to functions that take one
    (per-guide tags are private to their guide)."""
    read = DOMAIN_SECTIONS[name]
    function = _reader(read)
    if function is None:
        return DomainSection(available=False, data=read.empty)
    extra = dict(read.extra)
    if "viewer" in inspect.signature(function).parameters:
        extra["viewer"] = viewer
    return DomainSection(
        available=True, data=_plain(function(session, brand_id, member_id, **extra))
    )


def _identities(session: Session, member: Member) -> list[IdentityOut]:
    rows = session.scalars(
        select(MemberIdentity)
        .where(MemberIdentity.brand_id == member.brand_id, MemberIdentity.member_id == member.id)
        .order_by(MemberIdentity.id)
    ).all()
    return [
        IdentityOut(
            kind=row.kind,
            value=mask_identifier(row.kind, row.value),
            source=row.source,
            created_at=row.created_at,
        )
        for row in rows
    ]


def online_orders(
    session: Session, member: Member, limit: int = ONLINE_ORDERS_SHOWN
) -> list[OnlineOrderOut]:
    """The member's latest mall orders (through their consumers), with store and touchpoint."""
    rows = session.execute(
        select(Order, Store.name, Touchpoint.name)
        .join(
            Consumer,
            (Consumer.brand_id == Order.brand_id) & (Consumer.id == Order.consumer_id),
        )
        .outerjoin(Store, (Store.brand_id == Order.brand_id) & (Store.id == Order.selling_store_id))
        .outerjoin(
            Touchpoint,
            (Touchpoint.brand_id == Order.brand_id) & (Touchpoint.id == Order.touchpoint_id),
        )
        .where(Order.brand_id == member.brand_id, Consumer.member_id == member.id)
        .order_by(Order.placed_at.desc(), Order.id.desc())
        .limit(limit)
    ).all()
    return [
        OnlineOrderOut(
            id=order.id,
            number=order.number,
            placed_at=order.placed_at,
            store_id=order.selling_store_id,
            store_name=store_name,
            channel=order.channel,
            touchpoint_id=order.touchpoint_id,
            touchpoint_name=touchpoint_name,
            guide_staff_id=order.guide_staff_id,
            total_fen=order.total_fen,
            paid_fen=order.paid_fen,
            refunded_fen=order.refunded_fen,
            status=display_status(
                lifecycle=order.lifecycle_status,
                payment=order.payment_status,
                fulfilment=order.fulfilment_status,
                after_sale=order.after_sale_status,
                method=order.fulfilment_method,
            ),
        )
        for order, store_name, touchpoint_name in rows
    ]


def _get(session: Session, model: type[_Row], brand_id: int, row_id: int | None) -> _Row | None:
    return session.get(model, (brand_id, row_id)) if row_id is not None else None


def acquisition(session: Session, member: Member) -> AcquisitionOut | None:
    """Where the member came from (touchpoint, store, guide); None for a prospect without
    any source."""
    if member.joined_at is None and not any(
        (member.source_touchpoint_id, member.source_store_id, member.source_guide_staff_id)
    ):
        return None
    touchpoint = _get(session, Touchpoint, member.brand_id, member.source_touchpoint_id)
    store = _get(session, Store, member.brand_id, member.source_store_id)
    guide = _get(session, Staff, member.brand_id, member.source_guide_staff_id)
    return AcquisitionOut(
        joined_at=member.joined_at,
        join_channel=member.join_channel,
        touchpoint_id=member.source_touchpoint_id,
        touchpoint_name=touchpoint.name if touchpoint else None,
        touchpoint_kind=touchpoint.kind if touchpoint else None,
        store_id=member.source_store_id,
        store_name=store.name if store else None,
        guide_staff_id=member.source_guide_staff_id,
        guide_name=guide.name if guide else None,
    )


def member_360(session: Session, actor: Actor, member_id: int) -> Member360Out:
    """Everything about a member in scope (a merged member's 360 is its survivor's, when the
    survivor is in scope too). Identifiers and phones masked. Reads only. Raises
    PermissionDenied, MemberNotFound."""
    actor.require(Permission.MEMBER_READ)
    member = member_in_scope(session, actor, member_id)
    if member.status != "active":
        member = member_in_scope(session, actor, survivor_of(session, actor.brand_id, member.id).id)

    def section(name: str) -> DomainSection:
        return domain_section(session, name, actor.brand_id, member.id, actor)

    return Member360Out(
        member=member_out(member),
        identities=_identities(session, member),
        lifecycle=lifecycle_out(member),
        loyalty=section("loyalty"),
        tags=section("tags"),
        segments=section("segments"),
        consent=section("consent"),
        online_orders=online_orders(session, member),
        offline_orders=section("offline_orders"),
        journey=JourneyOut(acquisition=acquisition(session, member), steps=section("journey")),
        bound_guide=PendingSection(pending_feature=GUIDES_ISSUE),
        groups=PendingSection(pending_feature=GUIDES_ISSUE),
        coupons=PendingSection(pending_feature=MARKETING_ISSUE),
    )
