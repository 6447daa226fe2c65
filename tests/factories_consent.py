"""Factories of the consent domain: members reachable on every channel, consumers' members,
subscribe-message answers and brand policies."""

from __future__ import annotations

import itertools
from datetime import datetime, time

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.consent.models import Subscription
from siyu.consent.policy import set_policy
from siyu.consent.rules import Channel, Purpose
from siyu.consent.schemas import ChannelPolicyIn, PolicyIn, PurposeBypassIn, QuietHoursIn
from siyu.consumers.models import ConsumerIdentity
from siyu.core.clock import SHANGHAI, utc_now
from siyu.members.identity import register_member
from siyu.members.models import Member
from siyu.org.models import Store
from siyu.staff.models import Staff
from tests.factories import World
from tests.factories_consumers import Shopper

_serial = itertools.count(1)

EVERY_KIND = ("mini_program_openid", "official_account_openid", "wecom_external_userid")
# 2026-11-18 is a Wednesday; noon in Shanghai is outside the default quiet hours.
NOON = datetime(2026, 11, 18, 12, 0, tzinfo=SHANGHAI)


def make_member(
    session: Session,
    world: World,
    *,
    kinds: tuple[str, ...] = EVERY_KIND,
    with_phone: bool = True,
    home_store: Store | None = None,
    guide: Staff | None = None,
) -> Member:
    """A joined member reachable on the channels ``kinds`` (and SMS with a phone)."""
    n = next(_serial)
    return register_member(
        session,
        world.brand.id,
        identities=[(kind, f"{kind}-{world.brand.id}-{n}") for kind in kinds],
        source="test",
        joined_at=utc_now(),
        join_channel="test",
        phone=f"139{world.brand.id % 1000:03d}{n:05d}" if with_phone else None,
        home_store_id=(home_store or world.direct_store).id,
        source_guide_staff_id=guide.id if guide else None,
    )


def member_of(session: Session, shopper: Shopper) -> int:
    """The shopper's member, registered from their mini-program openid when they have none."""
    consumer = shopper.consumer
    session.refresh(consumer)
    if consumer.member_id is not None:
        return consumer.member_id
    openid = session.scalar(
        select(ConsumerIdentity.value).where(
            ConsumerIdentity.brand_id == consumer.brand_id,
            ConsumerIdentity.consumer_id == consumer.id,
            ConsumerIdentity.kind == "mini_program_openid",
        )
    )
    assert openid is not None
    member = register_member(
        session,
        consumer.brand_id,
        identities=[("mini_program_openid", openid)],
        source="test",
        joined_at=utc_now(),
    )
    consumer.member_id = member.id
    session.flush()
    return member.id


def subscribe(
    session: Session, brand_id: int, member_id: int, template_id: str, result: str = "accept"
) -> Subscription:
    """One answer of wx.requestSubscribeMessage for ``template_id``, recorded directly."""
    row = Subscription(
        brand_id=brand_id, member_id=member_id, template_id=template_id, result=result
    )
    session.add(row)
    session.flush()
    return row


def use_policy(
    session: Session,
    world: World,
    *,
    quiet: tuple[time, time] | None = None,
    channels: dict[Channel, ChannelPolicyIn] | None = None,
    purposes: dict[Purpose, PurposeBypassIn] | None = None,
) -> None:
    """Save the brand's policy (no quiet hours unless given)."""
    set_policy(
        session,
        world.system,
        PolicyIn(
            quiet_hours=QuietHoursIn(start=quiet[0], end=quiet[1]) if quiet else None,
            channels=channels or {},
            purposes=purposes or {},
        ),
    )
