"""Authentication: console logins with throttling, sessions, API tokens, and the actor they yield.

Plain session and API tokens are never stored: only their SHA-256 digests. Refused logins are
recorded (for throttling) and reported through ``LoginResult.error`` rather than raised, so the
caller can commit the record before refusing.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from siyu.access import events
from siyu.access.errors import (
    ApiTokenNotFound,
    InvalidCredentials,
    InvalidToken,
    LoginThrottled,
    SessionExpired,
)
from siyu.access.models import ApiToken, ConsoleSession, LoginAttempt
from siyu.access.passwords import burn_verification_time, verify_password
from siyu.access.rules import (
    Actor,
    ActorKind,
    Permission,
    Role,
    integration_actor,
    parse_scopes,
    staff_actor,
)
from siyu.access.schemas import ApiTokenCreate
from siyu.audit.service import record_change
from siyu.brands.models import Brand
from siyu.config import get_settings
from siyu.core.clock import utc_now
from siyu.core.errors import InvalidInput, PermissionDenied, SiyuError
from siyu.outbox.service import record_event
from siyu.staff.models import Staff

API_TOKEN_PREFIX = "siyu_"  # noqa: S105 - a public prefix
# An address may fail this many times the per-account limit before it is throttled as a whole.
ADDRESS_FAILURE_FACTOR = 4
# last_used_at is refreshed at most this often, so reads stay free of writes.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# ---------------------------------------------------------------- actors


def actor_for_staff(
    staff: Staff, *, token_id: int | None = None, token_scopes: frozenset[Permission] | None = None
) -> Actor:
    return staff_actor(
        brand_id=staff.brand_id,
        staff_id=staff.id,
        name=staff.name,
        role=Role(staff.role),
        region_id=staff.region_id,
        store_id=staff.store_id,
        franchisee_id=staff.franchisee_id,
        token_id=token_id,
        token_scopes=token_scopes,
    )


# ---------------------------------------------------------------- console login


@dataclass(frozen=True)
class LoginResult:
    error: SiyuError | None = None
    session_token: str | None = None
    console_session: ConsoleSession | None = None
    staff: Staff | None = None


def _recent_failures(session: Session, condition: ColumnElement[bool], since: datetime) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(LoginAttempt)
            .where(condition, LoginAttempt.attempted_at >= since, LoginAttempt.succeeded.is_(False))
        )
        or 0
    )


def log_in(
    session: Session,
    *,
    brand_slug: str,
    login: str,
    password: str,
    client_ip: str,
    user_agent: str | None = None,
) -> LoginResult:
    """Check a console login and open a session.

    Side effects: always records a login attempt; on success adds a console session and sets
    ``last_login_at``. After ``login_max_failures`` failures for one account within
    ``login_window_seconds`` (or four times as many from one address), further attempts are
    refused with LoginThrottled without checking the password.
    """
    settings = get_settings()
    brand_slug = brand_slug.strip().lower()[:64]
    login = login.strip().lower()[:64]
    now = utc_now()
    window_start = now - timedelta(seconds=settings.login_window_seconds)
    last_success = session.scalar(
        select(func.max(LoginAttempt.attempted_at)).where(
            LoginAttempt.brand_slug == brand_slug,
            LoginAttempt.login == login,
            LoginAttempt.succeeded.is_(True),
        )
    )
    account_since = max(window_start, last_success) if last_success else window_start
    account_failures = _recent_failures(
        session,
        (LoginAttempt.brand_slug == brand_slug) & (LoginAttempt.login == login),
        account_since,
    )
    address_failures = _recent_failures(session, LoginAttempt.client_ip == client_ip, window_start)
    if (
        account_failures >= settings.login_max_failures
        or address_failures >= settings.login_max_failures * ADDRESS_FAILURE_FACTOR
    ):
        return LoginResult(
            error=LoginThrottled(
                "Too many failed logins. Wait a while before trying again.",
                extra={"retry_after_seconds": settings.login_window_seconds},
            )
        )

    staff = session.scalar(
        select(Staff)
        .join(Brand, Brand.id == Staff.brand_id)
        .where(Brand.slug == brand_slug, Staff.login == login, Staff.status == "active")
    )
    if staff is None or staff.password_hash is None:
        burn_verification_time(password)
        succeeded = False
    else:
        succeeded = verify_password(staff.password_hash, password)
    session.add(
        LoginAttempt(
            brand_slug=brand_slug, login=login, client_ip=client_ip[:64], succeeded=succeeded
        )
    )
    if not succeeded or staff is None:
        return LoginResult(error=InvalidCredentials("Brand, login or password is wrong."))

    token = secrets.token_urlsafe(32)
    console_session = ConsoleSession(
        brand_id=staff.brand_id,
        staff_id=staff.id,
        token_digest=token_digest(token),
        csrf_token=secrets.token_urlsafe(32),
        expires_at=now + timedelta(hours=settings.session_ttl_hours),
        client_ip=client_ip[:64],
        user_agent=(user_agent or "")[:300] or None,
    )
    session.add(console_session)
    staff.last_login_at = now
    session.flush()
    return LoginResult(session_token=token, console_session=console_session, staff=staff)


@dataclass(frozen=True)
class SessionContext:
    actor: Actor
    console_session: ConsoleSession
    staff: Staff
    brand: Brand


def resolve_session(session: Session, token: str) -> SessionContext:
    """The live session behind a console cookie. Raises SessionExpired."""
    row = session.execute(
        select(ConsoleSession, Staff, Brand)
        .join(
            Staff,
            (Staff.brand_id == ConsoleSession.brand_id) & (Staff.id == ConsoleSession.staff_id),
        )
        .join(Brand, Brand.id == ConsoleSession.brand_id)
        .where(ConsoleSession.token_digest == token_digest(token))
    ).one_or_none()
    if row is None:
        raise SessionExpired("Please log in.")
    console_session, staff, brand = row
    if (
        console_session.revoked_at is not None
        or console_session.expires_at <= utc_now()
        or staff.status != "active"
    ):
        raise SessionExpired("Your session has ended. Please log in again.")
    return SessionContext(actor_for_staff(staff), console_session, staff, brand)


def log_out(session: Session, console_session: ConsoleSession) -> None:
    console_session.revoked_at = utc_now()


# ---------------------------------------------------------------- API tokens


@dataclass(frozen=True)
class TokenContext:
    actor: Actor
    brand: Brand
    token: ApiToken


def authenticate_token(session: Session, token: str) -> TokenContext:
    """The actor behind a bearer token. Raises InvalidToken for unknown, revoked or expired
    tokens and for tokens of disabled staff."""
    if not token.startswith(API_TOKEN_PREFIX):
        raise InvalidToken("The bearer token is not a siyu API token.")
    row = session.execute(
        select(ApiToken, Brand, Staff)
        .join(Brand, Brand.id == ApiToken.brand_id)
        .outerjoin(Staff, (Staff.brand_id == ApiToken.brand_id) & (Staff.id == ApiToken.staff_id))
        .where(ApiToken.token_digest == token_digest(token))
    ).one_or_none()
    if row is None:
        raise InvalidToken("The API token is unknown or has been revoked.")
    api_token, brand, staff = row
    now = utc_now()
    if api_token.revoked_at is not None or (
        api_token.expires_at is not None and api_token.expires_at <= now
    ):
        raise InvalidToken("The API token is unknown or has been revoked.")
    scopes = frozenset(
        Permission(s) for s in api_token.scopes if s in Permission._value2member_map_
    )
    if api_token.kind == "user":
        if staff is None or staff.status != "active":
            raise InvalidToken("The API token's owner is no longer active.")
        actor = actor_for_staff(staff, token_id=api_token.id, token_scopes=scopes)
    else:
        actor = integration_actor(
            brand_id=brand.id, token_id=api_token.id, name=api_token.name, scopes=scopes
        )
    if api_token.last_used_at is None or now - api_token.last_used_at > LAST_USED_RESOLUTION:
        api_token.last_used_at = now
    return TokenContext(actor, brand, api_token)


def issue_token(session: Session, actor: Actor, data: ApiTokenCreate) -> tuple[ApiToken, str]:
    """Create a token and return it with its plain value (shown once).

    A user token belongs to the acting staff member and may only narrow their permissions; an
    integration token needs ``integration:manage`` and an explicit list of scopes.
    """
    actor.require(Permission.TOKEN_MANAGE)
    if data.kind == "integration":
        actor.require(Permission.INTEGRATION_MANAGE)
        if not data.scopes:
            raise InvalidInput("An integration token needs its scopes.", field="scopes")
        scopes = parse_scopes(data.scopes)
        staff_id = None
    else:
        if actor.kind is not ActorKind.STAFF or actor.staff_id is None:
            raise PermissionDenied("Only a staff member can hold a user token.", field="kind")
        scopes = parse_scopes(data.scopes) if data.scopes is not None else actor.permissions
        staff_id = actor.staff_id
    beyond = scopes - actor.permissions
    if beyond:
        raise PermissionDenied(
            "A token cannot carry permissions you do not have: "
            + ", ".join(sorted(p.value for p in beyond)),
            field="scopes",
        )
    plain = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        brand_id=actor.brand_id,
        name=data.name,
        kind=data.kind,
        staff_id=staff_id,
        token_digest=token_digest(plain),
        token_prefix=plain[:12],
        scopes=sorted(p.value for p in scopes),
        created_by_staff_id=actor.staff_id,
        expires_at=utc_now() + timedelta(days=data.expires_in_days)
        if data.expires_in_days
        else None,
    )
    session.add(row)
    session.flush()
    record_change(
        session,
        actor,
        action="api_token.issue",
        object_type="api_token",
        object_id=row.id,
        before=None,
        after={"name": row.name, "kind": row.kind, "staff_id": staff_id, "scopes": row.scopes},
    )
    record_event(
        session,
        actor.brand_id,
        events.ApiTokenIssued(
            api_token_id=row.id, kind=row.kind, staff_id=staff_id, scopes=row.scopes
        ),
    )
    return row, plain


def _token_scope(actor: Actor) -> ColumnElement[bool]:
    mine = ApiToken.staff_id == actor.staff_id
    if actor.can(Permission.INTEGRATION_MANAGE):
        return or_(mine, ApiToken.kind == "integration")
    return mine


def list_tokens(session: Session, actor: Actor) -> Sequence[ApiToken]:
    """Your own tokens; with ``integration:manage`` also the brand's integration tokens."""
    actor.require(Permission.TOKEN_MANAGE)
    return session.scalars(
        select(ApiToken)
        .where(ApiToken.brand_id == actor.brand_id, _token_scope(actor))
        .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
    ).all()


def revoke_token(session: Session, actor: Actor, token_id: int) -> ApiToken:
    actor.require(Permission.TOKEN_MANAGE)
    row = session.scalar(
        select(ApiToken)
        .where(
            ApiToken.brand_id == actor.brand_id,
            ApiToken.id == token_id,
            _token_scope(actor),
        )
        .with_for_update()
    )
    if row is None:
        raise ApiTokenNotFound(f"API token {token_id} was not found.")
    if row.revoked_at is None:
        row.revoked_at = utc_now()
        record_change(
            session,
            actor,
            action="api_token.revoke",
            object_type="api_token",
            object_id=row.id,
            before={"revoked_at": None},
            after={"revoked_at": row.revoked_at.isoformat()},
        )
        record_event(session, actor.brand_id, events.ApiTokenRevoked(api_token_id=row.id))
    return row
