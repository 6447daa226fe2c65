"""Credentials: console sessions, API tokens and the login-attempt record for rate limiting.

Only SHA-256 digests of session and API tokens are stored; the plain token is shown once.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKeyConstraint,
    Identity,
    Index,
    String,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db.base import Base, TenantKey


class ConsoleSession(TenantKey, Base):
    __tablename__ = "console_session"
    __table_args__ = (
        ForeignKeyConstraint(
            ["brand_id", "staff_id"], ["staff.brand_id", "staff.id"], ondelete="CASCADE"
        ),
        Index("ix_console_session_token_digest", "token_digest", unique=True),
    )

    staff_id: Mapped[int]
    token_digest: Mapped[str] = mapped_column(String(64))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    client_ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))


class ApiToken(TenantKey, Base):
    """A bearer token of a staff member (``kind='user'``) or of an integration app.

    A user token never grants more than its owner's role; an integration token acts for the
    whole brand within its scopes.
    """

    __tablename__ = "api_token"
    __table_args__ = (
        ForeignKeyConstraint(
            ["brand_id", "staff_id"], ["staff.brand_id", "staff.id"], ondelete="CASCADE"
        ),
        CheckConstraint("kind IN ('user', 'integration')", name="kind"),
        CheckConstraint("(kind = 'user') = (staff_id IS NOT NULL)", name="staff_iff_user"),
        Index("ix_api_token_token_digest", "token_digest", unique=True),
    )

    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))
    staff_id: Mapped[int | None]
    token_digest: Mapped[str] = mapped_column(String(64))
    token_prefix: Mapped[str] = mapped_column(String(16))
    scopes: Mapped[list[str]] = mapped_column(ARRAY(String(64)))
    created_by_staff_id: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class LoginAttempt(Base):
    """Failed and successful console logins, kept to throttle password guessing.

    Keyed by the brand slug as typed, because a guess may name a brand that does not exist.
    """

    __tablename__ = "login_attempt"
    __table_args__ = (
        Index("ix_login_attempt_account", "brand_slug", "login", "attempted_at"),
        Index("ix_login_attempt_ip", "client_ip", "attempted_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    brand_slug: Mapped[str] = mapped_column(String(64))
    login: Mapped[str] = mapped_column(String(64))
    client_ip: Mapped[str] = mapped_column(String(64))
    succeeded: Mapped[bool]
    attempted_at: Mapped[datetime] = mapped_column(server_default=func.now())
