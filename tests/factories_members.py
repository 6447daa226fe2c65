"""Factories of members: logins that scan a code, POS members known by phone, a shelf code
placed with a guide, and the purchase-summary subscriber on a registry of its own."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.brands.models import Brand
from siyu.consumers.service import log_in_consumer
from siyu.core.clock import utc_now
from siyu.members.identity import IdentityKind, register_member
from siyu.members.models import Member, MemberIdentity
from siyu.members.subscribers import register
from siyu.outbox.dispatcher import SubscriberRegistry
from siyu.touchpoints.service import TouchpointView
from siyu.wechat.sandbox import SANDBOX_MINI_PROGRAM
from tests.factories import World
from tests.factories_consumers import Shopper, login_code
from tests.factories_touchpoints import make_touchpoint


def log_in(
    session: Session,
    brand: Brand,
    user: str,
    *,
    scene_key: str | None = None,
    anonymous_id: str | None = None,
) -> Shopper:
    """Log ``user`` in to the brand's mini program, as if opened by scanning ``scene_key``."""
    _, token, consumer, _ = log_in_consumer(
        session,
        brand_slug=brand.slug,
        code=login_code(session, brand, user),
        gateway=SANDBOX_MINI_PROGRAM,
        scene_key=scene_key,
        anonymous_id=anonymous_id,
    )
    return Shopper(consumer, token, user)


def member_of(session: Session, shopper: Shopper) -> Member:
    session.refresh(shopper.consumer)
    assert shopper.consumer.member_id is not None
    member = session.get(Member, (shopper.consumer.brand_id, shopper.consumer.member_id))
    assert member is not None
    session.refresh(member)
    return member


def pos_member(
    session: Session,
    brand_id: int,
    phone: str,
    *,
    joined_at: datetime | None = None,
    with_phone_column: bool = False,
) -> Member:
    """A member imported from the POS: known only by a phone identifier (and, if asked, the
    phone column too), joined at the counter."""
    return register_member(
        session,
        brand_id,
        identities=[(IdentityKind.PHONE.value, phone)],
        source="pos",
        joined_at=joined_at or utc_now(),
        join_channel="pos",
        phone=phone if with_phone_column else None,
    )


def shelf_code(session: Session, world: World) -> TouchpointView:
    """A shelf code placed with the direct store's guide (so at the direct store)."""
    return make_touchpoint(session, world.system, staff_id=world.staff["guide"].id)


def identities_of(session: Session, member_id: int) -> list[tuple[str, str]]:
    rows = session.execute(
        select(MemberIdentity.kind, MemberIdentity.value)
        .where(MemberIdentity.member_id == member_id)
        .order_by(MemberIdentity.id)
    ).all()
    return [(kind, value) for kind, value in rows]


def purchase_registry() -> SubscriberRegistry:
    """A registry with only the members' purchase-summary subscriber."""
    registry = SubscriberRegistry()
    register(registry)
    return registry
