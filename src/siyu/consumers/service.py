"""Consumers of the mall: mini-program login, consumer tokens and the address book.

Consumer tokens (``siyuc_...``) are separate from staff API tokens (``siyu_...``): only their
SHA-256 digest is stored, they expire after 30 days, and each side refuses the other's. A
consumer is found by any of its identities (mini-program openid, unionid) or created on first
login. Refused logins write nothing; the caller logs them.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from siyu.access.errors import InvalidToken
from siyu.brands.models import Brand
from siyu.brands.service import get_brand_by_slug
from siyu.consumers import events
from siyu.consumers.errors import (
    AddressNotFound,
    ConsumerBlocked,
    InvalidLoginCode,
    LoginCodeUsed,
    WeChatRateLimited,
    WeChatUnavailable,
)
from siyu.consumers.locks import lock_consumer
from siyu.consumers.models import Address, Consumer, ConsumerIdentity, ConsumerSession
from siyu.consumers.schemas import AddressCreate, AddressUpdate
from siyu.core.clock import utc_now
from siyu.core.errors import SiyuError
from siyu.core.logging import get_logger
from siyu.members.membership import join_by_scene, member_of_consumer
from siyu.outbox.service import record_event
from siyu.wechat.adapters import (
    ERR_CODE_USED,
    ERR_INVALID_CODE,
    ERR_RATE_LIMITED,
    MiniProgramAuth,
    WeChatError,
)
from siyu.wechat.service import mini_program_app_id

CONSUMER_TOKEN_PREFIX = "siyuc_"  # noqa: S105 - a public prefix
CONSUMER_SESSION_TTL = timedelta(days=30)
OPENID = "mini_program_openid"
UNIONID = "unionid"
LAST_SEEN_RESOLUTION = timedelta(minutes=1)

log = get_logger("siyu.consumers")


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class ConsumerContext:
    brand: Brand
    consumer: Consumer
    session: ConsumerSession


def _login_refusal(error: WeChatError) -> SiyuError:
    if error.errcode == ERR_INVALID_CODE:
        return InvalidLoginCode("The login code is invalid or has expired.", field="code")
    if error.errcode == ERR_CODE_USED:
        return LoginCodeUsed("The login code has already been used.", field="code")
    if error.errcode == ERR_RATE_LIMITED:
        return WeChatRateLimited("WeChat is rate limiting logins. Try again in a minute.")
    return WeChatUnavailable(f"WeChat refused the login ({error.errcode}).")


def _find_consumer(
    session: Session, brand_id: int, openid: str, unionid: str | None
) -> Consumer | None:
    wanted = [(OPENID, openid)] + ([(UNIONID, unionid)] if unionid else [])
    rows = session.execute(
        select(ConsumerIdentity.kind, Consumer)
        .join(
            Consumer,
            (Consumer.brand_id == ConsumerIdentity.brand_id)
            & (Consumer.id == ConsumerIdentity.consumer_id),
        )
        .where(
            ConsumerIdentity.brand_id == brand_id,
            ConsumerIdentity.kind.in_([k for k, _ in wanted]),
            ConsumerIdentity.value.in_([v for _, v in wanted]),
        )
    ).all()
    by_kind = {kind: consumer for kind, consumer in rows}
    # The openid is this mini program's own key; the unionid links other channels.
    return by_kind.get(OPENID) or by_kind.get(UNIONID)


def _add_identity(session: Session, brand_id: int, consumer_id: int, kind: str, value: str) -> None:
    session.execute(
        insert(ConsumerIdentity)
        .values(brand_id=brand_id, consumer_id=consumer_id, kind=kind, value=value)
        .on_conflict_do_nothing(index_elements=["brand_id", "kind", "value"])
    )


def log_in_consumer(
    session: Session,
    *,
    brand_slug: str,
    code: str,
    gateway: MiniProgramAuth,
    scene_key: str | None = None,
    anonymous_id: str | None = None,
) -> tuple[ConsumerSession, str, Consumer, bool]:
    """Exchange a ``wx.login`` code for a consumer session.

    Returns (session row, plain token shown once, consumer, created). Side effects: creates the
    consumer and its identities on first login (ConsumerRegistered), adds missing identities
    (e.g. a unionid that appeared later), finds or registers the consumer's member and links
    the identifiers to it (``siyu.members.membership``), lets a prospect join when
    ``scene_key`` names a touchpoint (scan-to-join; an unknown key is only recorded on the
    event), opens a 30-day session (ConsumerLoggedIn with the member and ``anonymous_id``, the
    pre-login visitor id the tracking stitches to the member). Raises
    BrandNotFound, InvalidLoginCode (40029), LoginCodeUsed (40163), WeChatRateLimited (45011),
    WeChatUnavailable (other platform errors), ConsumerBlocked — and writes nothing then.
    """
    brand = get_brand_by_slug(session, brand_slug.strip().lower())
    app_id = mini_program_app_id(session, brand.id)
    try:
        wx = gateway.code_to_session(app_id, code)
    except WeChatError as error:
        log.warning(
            "consumer_login_refused", brand_id=brand.id, errcode=error.errcode, errmsg=error.errmsg
        )
        raise _login_refusal(error) from error

    consumer = _find_consumer(session, brand.id, wx.openid, wx.unionid)
    created = consumer is None
    if consumer is None:
        consumer = Consumer(brand_id=brand.id)
        session.add(consumer)
        session.flush()
        record_event(
            session,
            brand.id,
            events.ConsumerRegistered(consumer_id=consumer.id, has_unionid=wx.unionid is not None),
        )
    elif consumer.status != "active":
        raise ConsumerBlocked("This account is blocked. Contact the brand's service.")
    _add_identity(session, brand.id, consumer.id, OPENID, wx.openid)
    if wx.unionid:
        _add_identity(session, brand.id, consumer.id, UNIONID, wx.unionid)
    identities = [(OPENID, wx.openid)] + ([(UNIONID, wx.unionid)] if wx.unionid else [])
    member = member_of_consumer(session, brand.id, consumer, identities)
    scene = join_by_scene(session, brand.id, member, scene_key) if scene_key else None

    now = utc_now()
    token = CONSUMER_TOKEN_PREFIX + secrets.token_urlsafe(32)
    consumer_session = ConsumerSession(
        brand_id=brand.id,
        consumer_id=consumer.id,
        token_digest=token_digest(token),
        created_at=now,
        expires_at=now + CONSUMER_SESSION_TTL,
    )
    session.add(consumer_session)
    consumer.last_seen_at = now
    session.flush()
    record_event(
        session,
        brand.id,
        events.ConsumerLoggedIn(
            consumer_id=consumer.id,
            consumer_session_id=consumer_session.id,
            member_id=consumer.member_id,
            anonymous_id=anonymous_id,
            scene_key=scene.scene_key[:64] if scene else None,
            scene_known=scene.known if scene else None,
        ),
    )
    return consumer_session, token, consumer, created


def authenticate_consumer(session: Session, token: str) -> ConsumerContext:
    """The consumer behind a ``siyuc_`` bearer token. Raises InvalidToken (code invalid_token)
    for staff tokens, unknown, revoked or expired tokens, and blocked consumers."""
    if not token.startswith(CONSUMER_TOKEN_PREFIX):
        raise InvalidToken("The bearer token is not a consumer token.")
    row = session.execute(
        select(ConsumerSession, Consumer, Brand)
        .join(
            Consumer,
            (Consumer.brand_id == ConsumerSession.brand_id)
            & (Consumer.id == ConsumerSession.consumer_id),
        )
        .join(Brand, Brand.id == ConsumerSession.brand_id)
        .where(ConsumerSession.token_digest == token_digest(token))
    ).one_or_none()
    if row is None:
        raise InvalidToken("The consumer token is unknown or has expired.")
    consumer_session, consumer, brand = row
    now = utc_now()
    if consumer_session.revoked_at is not None or consumer_session.expires_at <= now:
        raise InvalidToken("The consumer token is unknown or has expired.")
    if consumer.status != "active":
        raise InvalidToken("This account is blocked.")
    if consumer.last_seen_at is None or now - consumer.last_seen_at > LAST_SEEN_RESOLUTION:
        consumer.last_seen_at = now
    return ConsumerContext(brand, consumer, consumer_session)


def log_out_consumer(session: Session, context: ConsumerContext) -> None:
    context.session.revoked_at = utc_now()


# ---------------------------------------------------------------- address book


def list_addresses(session: Session, context: ConsumerContext) -> Sequence[Address]:
    """The consumer's addresses, the default first."""
    return session.scalars(
        select(Address)
        .where(Address.brand_id == context.brand.id, Address.consumer_id == context.consumer.id)
        .order_by(Address.is_default.desc(), Address.id)
    ).all()


def get_address(session: Session, context: ConsumerContext, address_id: int) -> Address:
    """One of the consumer's own addresses; anybody else's is AddressNotFound."""
    address = session.scalar(
        select(Address).where(
            Address.brand_id == context.brand.id,
            Address.consumer_id == context.consumer.id,
            Address.id == address_id,
        )
    )
    if address is None:
        raise AddressNotFound(f"Address {address_id} was not found.")
    return address


def _clear_default(session: Session, context: ConsumerContext, keep_id: int | None) -> None:
    condition = (
        (Address.brand_id == context.brand.id)
        & (Address.consumer_id == context.consumer.id)
        & Address.is_default.is_(True)
    )
    if keep_id is not None:
        condition = condition & (Address.id != keep_id)
    session.execute(
        update(Address).where(condition).values(is_default=False),
        execution_options={"synchronize_session": "fetch"},
    )


def add_address(session: Session, context: ConsumerContext, data: AddressCreate) -> Address:
    """Add an address. The first address, or one marked default, becomes the only default.
    Locks the consumer row."""
    lock_consumer(session, context.brand.id, context.consumer.id)
    is_first = not list_addresses(session, context)
    address = Address(
        brand_id=context.brand.id,
        consumer_id=context.consumer.id,
        recipient=data.recipient,
        phone=data.phone,
        province=data.province,
        city=data.city,
        district=data.district,
        detail=data.detail,
        is_default=data.is_default or is_first,
    )
    session.add(address)
    session.flush()
    if address.is_default:
        _clear_default(session, context, address.id)
    session.refresh(address)
    return address


def change_address(
    session: Session, context: ConsumerContext, address_id: int, data: AddressUpdate
) -> Address:
    """Change an address; setting ``is_default`` unsets it on the others. Unsetting the
    default is ignored (one address is always the default). Locks the consumer row."""
    lock_consumer(session, context.brand.id, context.consumer.id)
    address = get_address(session, context, address_id)
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    make_default = changes.pop("is_default", None)
    for name, value in changes.items():
        setattr(address, name, value)
    if make_default:
        address.is_default = True
        session.flush()
        _clear_default(session, context, address.id)
    session.flush()
    session.refresh(address)
    return address


def remove_address(session: Session, context: ConsumerContext, address_id: int) -> None:
    """Delete an address; if it was the default, the oldest remaining one becomes default.
    Locks the consumer row."""
    lock_consumer(session, context.brand.id, context.consumer.id)
    address = get_address(session, context, address_id)
    was_default = address.is_default
    session.delete(address)
    session.flush()
    if was_default:
        remaining = list_addresses(session, context)
        if remaining:
            remaining[0].is_default = True
            session.flush()
