"""Membership from the consumer's side: every mini-program login has a member, scanning a
touchpoint's code makes them join (扫码即会员), a page can make them join, and a phone number
from WeChat binds (and may merge) profiles.

Called by ``siyu.consumers.service`` at login and by the storefront API; none of these
functions commits. A scene key the brand never issued is an unknown source, never an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.consumers.errors import WeChatRateLimited, WeChatUnavailable
from siyu.consumers.models import Consumer, ConsumerIdentity
from siyu.core.clock import utc_now
from siyu.core.logging import get_logger
from siyu.members import events
from siyu.members.errors import InvalidPhoneCode, MemberMergePhoneConflict, UnsupportedPhone
from siyu.members.identity import (
    IdentityKind,
    members_by_identities,
    normalize_phone,
    register_member,
    survivor_of,
)
from siyu.members.lifecycle import evaluate_lifecycle
from siyu.members.locks import lock_member
from siyu.members.merging import link_identities
from siyu.members.models import Member
from siyu.outbox.service import record_event
from siyu.touchpoints.models import Touchpoint
from siyu.touchpoints.service import resolve_scene
from siyu.wechat.adapters import ERR_INVALID_CODE, ERR_RATE_LIMITED, MiniProgramAuth, WeChatError
from siyu.wechat.service import mini_program_app_id

JOIN_BY_SCAN = "scan"
JOIN_FROM_PAGE = "mini_program"
LOGIN_SOURCE = "mini_program"
PHONE_SOURCE = "wechat_phone"
# The identifier kinds a consumer's own identities map to (same names on both sides).
CONSUMER_KINDS = (IdentityKind.MINI_PROGRAM_OPENID.value, IdentityKind.UNIONID.value)

log = get_logger("siyu.members")


@dataclass(frozen=True)
class SceneOutcome:
    """What a scene key did: ``known`` false for a key the brand never issued."""

    scene_key: str
    known: bool
    joined: bool


def member_of_consumer(
    session: Session,
    brand_id: int,
    consumer: Consumer,
    identities: list[tuple[str, str]],
    *,
    source: str = LOGIN_SOURCE,
) -> Member:
    """The consumer's member, found by its identifiers or registered as a prospect, with the
    identifiers linked (merging members that share them, the oldest surviving); sets
    ``consumer.member_id``. A merge refused for different phones leaves the profiles apart
    (logged) rather than refusing the consumer. Side effects: see ``register_member`` and
    ``merging.link_identities``."""
    if consumer.member_id is not None:
        member = survivor_of(session, brand_id, consumer.member_id)
    else:
        holders = members_by_identities(session, brand_id, identities)
        if holders:
            member = survivor_of(session, brand_id, min(holders.values()))
        else:
            member = register_member(session, brand_id, identities=identities, source=source)
    try:
        with session.begin_nested():
            member = link_identities(session, brand_id, member.id, identities, source)
    except MemberMergePhoneConflict:
        log.warning("member_identities_not_linked", brand_id=brand_id, member_id=member.id)
        member = survivor_of(session, brand_id, member.id)
    consumer.member_id = member.id
    session.flush()
    return member


def consumer_identities(session: Session, consumer: Consumer) -> list[tuple[str, str]]:
    rows = session.execute(
        select(ConsumerIdentity.kind, ConsumerIdentity.value)
        .where(
            ConsumerIdentity.brand_id == consumer.brand_id,
            ConsumerIdentity.consumer_id == consumer.id,
            ConsumerIdentity.kind.in_(CONSUMER_KINDS),
        )
        .order_by(ConsumerIdentity.id)
    ).all()
    return [(kind, value) for kind, value in rows]


def membership_of(session: Session, brand_id: int, consumer: Consumer) -> Member:
    """The consumer's member (registered from their identities if they have none yet)."""
    if consumer.member_id is not None:
        return survivor_of(session, brand_id, consumer.member_id)
    return member_of_consumer(session, brand_id, consumer, consumer_identities(session, consumer))


def join_member(
    session: Session,
    brand_id: int,
    member_id: int,
    *,
    channel: str,
    touchpoint: Touchpoint | None,
    unknown_scene_key: str | None = None,
    now: datetime | None = None,
) -> tuple[Member, bool]:
    """Make a prospect a member; (member, True) when it joined now, (member, False) when it
    had joined before (nothing changes then).

    Locks the member row. The touchpoint, when known, is the acquisition: source touchpoint,
    its store (also the home store) and its guide. Side effects: MemberJoined (with the unknown
    scene key when there was one), the lifecycle re-evaluated (prospect → new).
    """
    member = lock_member(session, brand_id, member_id)
    assert member is not None  # an existing member id
    if member.joined_at is not None:
        return member, False
    member.joined_at = now or utc_now()
    member.join_channel = channel
    if touchpoint is not None:
        member.source_touchpoint_id = touchpoint.id
        member.source_store_id = touchpoint.store_id
        member.source_guide_staff_id = touchpoint.staff_id
        if touchpoint.store_id is not None:
            member.home_store_id = touchpoint.store_id
    session.flush()
    record_event(
        session,
        brand_id,
        events.MemberJoined(
            member_id=member.id,
            join_channel=channel,
            source_touchpoint_id=member.source_touchpoint_id,
            source_store_id=member.source_store_id,
            source_guide_staff_id=member.source_guide_staff_id,
            unknown_scene_key=unknown_scene_key,
        ),
    )
    evaluate_lifecycle(session, member, now=member.joined_at)
    return member, True


def join_by_scene(session: Session, brand_id: int, member: Member, scene_key: str) -> SceneOutcome:
    """Scan-to-join at login: a scene key naming one of the brand's touchpoints makes a
    prospect join with that touchpoint as the source; an unknown key changes nothing."""
    touchpoint = resolve_scene(session, brand_id, scene_key).touchpoint
    if touchpoint is None:
        return SceneOutcome(scene_key, known=False, joined=False)
    _, joined = join_member(
        session, brand_id, member.id, channel=JOIN_BY_SCAN, touchpoint=touchpoint
    )
    return SceneOutcome(scene_key, known=True, joined=joined)


def join_from_page(
    session: Session, brand_id: int, consumer: Consumer, scene_key: str | None
) -> tuple[Member, bool]:
    """``POST /api/storefront/membership``: the consumer joins (idempotent). A scene key that
    names a touchpoint makes it the source (channel ``scan``); an unknown one is recorded on
    MemberJoined as an unknown source (channel ``mini_program``)."""
    member = membership_of(session, brand_id, consumer)
    touchpoint = resolve_scene(session, brand_id, scene_key).touchpoint if scene_key else None
    return join_member(
        session,
        brand_id,
        member.id,
        channel=JOIN_BY_SCAN if touchpoint is not None else JOIN_FROM_PAGE,
        touchpoint=touchpoint,
        unknown_scene_key=scene_key[:64] if scene_key and touchpoint is None else None,
    )


def _phone_refusal(error: WeChatError) -> Exception:
    if error.errcode == ERR_INVALID_CODE:
        return InvalidPhoneCode(
            "The phone number code is invalid, has expired or was already used.", field="code"
        )
    if error.errcode == ERR_RATE_LIMITED:
        return WeChatRateLimited("WeChat is rate limiting phone numbers. Try again in a minute.")
    return WeChatUnavailable(f"WeChat refused the phone number ({error.errcode}).")


def bind_phone(
    session: Session, brand_id: int, consumer: Consumer, code: str, gateway: MiniProgramAuth
) -> Member:
    """``POST /api/storefront/membership/phone``: exchange a getPhoneNumber code and make the
    number the member's phone and a phone identifier. A member already holding that number
    (a POS member, say) is merged with the consumer's, the older surviving; returns the
    survivor. Raises InvalidPhoneCode, WeChatRateLimited, WeChatUnavailable, UnsupportedPhone
    (not a mainland mobile), MemberMergePhoneConflict (the consumer's member has another
    phone and the number belongs to someone else) — nothing is written then.
    """
    app_id = mini_program_app_id(session, brand_id)
    try:
        answer = gateway.phone_number(app_id, code)
    except WeChatError as error:
        log.warning("phone_number_refused", brand_id=brand_id, errcode=error.errcode)
        raise _phone_refusal(error) from error
    raw = answer.pure_phone_number if answer.country_code == "86" else answer.phone_number
    phone = normalize_phone(raw)
    if phone is None:
        raise UnsupportedPhone("Only mainland China mobile numbers can be bound.", field="code")
    member = membership_of(session, brand_id, consumer)
    survivor = link_identities(
        session, brand_id, member.id, [(IdentityKind.PHONE.value, phone)], PHONE_SOURCE
    )
    locked = lock_member(session, brand_id, survivor.id)
    assert locked is not None
    if locked.phone != phone:
        locked.phone = phone
    consumer.phone = phone
    consumer.member_id = locked.id
    session.flush()
    return locked
