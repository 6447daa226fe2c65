"""Who may send tracking events, answered from a per-process cache.

A consumer token (``Bearer siyuc_``: the consumer's events, tied to their member), a brand's
storefront write key (``X-Siyu-Write-Key``: anonymous visitors) or a staff or integration
token with ``tracking:write`` (server-side events, which may name a member). Each
credential's SHA-256 digest is cached for ``CREDENTIAL_TTL`` seconds (refusals for
``REFUSAL_TTL``), so a request costs no query; a revoked or expired consumer or staff token
keeps writing events for at most that long in a process that saw it. Rotating or revoking a
write key drops it from this process's cache at once (``CredentialCache.forget``).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from sqlalchemy.orm import Session

from siyu.access.rules import Permission
from siyu.access.service import API_TOKEN_PREFIX, authenticate_token
from siyu.consumers.service import CONSUMER_TOKEN_PREFIX, authenticate_consumer
from siyu.core.clock import utc_now
from siyu.core.errors import NotAuthenticated, SiyuError
from siyu.db.session import Database
from siyu.tracking import service
from siyu.tracking.errors import InvalidWriteKey

CREDENTIAL_TTL = 30.0
REFUSAL_TTL = 5.0
CACHE_LIMIT = 200_000


@dataclass(frozen=True, slots=True)
class Principal:
    """Who sends a batch: the brand, and the consumer and member the events belong to."""

    brand_id: int
    consumer_id: int | None = None
    member_id: int | None = None
    may_name_member: bool = False


def credential_of(authorization: str | None, write_key: str | None) -> str:
    """The credential a request presents (the Authorization header wins); raises
    NotAuthenticated when there is none."""
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    if write_key and write_key.strip():
        return write_key.strip()
    raise NotAuthenticated(
        "Send a consumer token or a staff token with tracking:write as"
        " 'Authorization: Bearer ...', or a storefront write key as 'X-Siyu-Write-Key'."
    )


def _digest(credential: str) -> str:
    return hashlib.sha256(credential.encode()).hexdigest()


class CredentialCache:
    """Principals by credential digest, refusals included. Thread-safe (dict operations)."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._entries: dict[str, tuple[float, Principal | SiyuError]] = {}

    def cached(self, credential: str) -> Principal | None:
        """The principal cached for ``credential`` (raising a cached refusal), or None."""
        entry = self._entries.get(_digest(credential))
        if entry is None or entry[0] < time.monotonic():
            return None
        value = entry[1]
        if isinstance(value, SiyuError):
            raise type(value)(value.message, field=value.field, extra=value.extra)
        return value

    def load(self, credential: str) -> Principal:
        """Authenticate against the database (blocking; commits what authentication records,
        such as a consumer's last seen time) and cache the answer, refusals too. Raises
        InvalidToken, InvalidWriteKey, PermissionDenied."""
        digest = _digest(credential)
        now = time.monotonic()
        try:
            with self.database.unit_of_work() as session:
                principal, ttl = _authenticate(session, credential)
        except SiyuError as error:
            self._remember(digest, (now + REFUSAL_TTL, error))
            raise
        self._remember(digest, (now + ttl, principal))
        return principal

    def forget(self, digest: str) -> None:
        """Drop a credential (by its SHA-256 hex digest) from this process's cache."""
        self._entries.pop(digest, None)

    def _remember(self, digest: str, entry: tuple[float, Principal | SiyuError]) -> None:
        if len(self._entries) >= CACHE_LIMIT:
            self._entries.clear()
        self._entries[digest] = entry


def _authenticate(session: Session, credential: str) -> tuple[Principal, float]:
    """The principal behind ``credential`` and how long it may be cached."""
    if credential.startswith(CONSUMER_TOKEN_PREFIX):
        context = authenticate_consumer(session, credential)
        remaining = (context.session.expires_at - utc_now()).total_seconds()
        principal = Principal(context.brand.id, context.consumer.id, context.consumer.member_id)
        return principal, max(0.0, min(CREDENTIAL_TTL, remaining))
    if credential.startswith(service.WRITE_KEY_PREFIX):
        brand_id, _ = service.authenticate_write_key(session, credential)
        return Principal(brand_id), CREDENTIAL_TTL
    if credential.startswith(API_TOKEN_PREFIX):
        actor = authenticate_token(session, credential).actor
        actor.require(Permission.TRACKING_WRITE)
        return Principal(actor.brand_id, may_name_member=True), CREDENTIAL_TTL
    raise InvalidWriteKey("The credential is neither a siyu token nor a write key.")
