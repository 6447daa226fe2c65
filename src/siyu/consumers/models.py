"""Consumers of the mall: who buys, how they are identified, their sessions and addresses.

Identities are kept apart from the person (one consumer, many identifiers), so that the
members issue can merge profiles without touching orders.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    ForeignKeyConstraint,
    Index,
    Numeric,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db.base import Base, TenantKey, Timestamps


class Consumer(TenantKey, Timestamps, Base):
    __tablename__ = "consumer"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'blocked')", name="status"),
        ForeignKeyConstraint(["brand_id", "member_id"], ["member.brand_id", "member.id"]),
        Index("ix_consumer_member", "brand_id", "member_id"),
    )

    nickname: Mapped[str | None] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(32))
    avatar_url: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16), server_default="active")
    last_seen_at: Mapped[datetime | None]
    member_id: Mapped[int | None]


class ConsumerIdentity(TenantKey, Base):
    """One identifier of a consumer: ``kind`` is mini_program_openid, unionid, phone, ..."""

    __tablename__ = "consumer_identity"
    __table_args__ = (
        UniqueConstraint("brand_id", "kind", "value"),
        ForeignKeyConstraint(
            ["brand_id", "consumer_id"], ["consumer.brand_id", "consumer.id"], ondelete="CASCADE"
        ),
        Index("ix_consumer_identity_consumer", "brand_id", "consumer_id"),
    )

    consumer_id: Mapped[int]
    kind: Mapped[str] = mapped_column(String(32))
    value: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class ConsumerSession(TenantKey, Base):
    """A mini-program login: consumer tokens are separate from staff tokens."""

    __tablename__ = "consumer_session"
    __table_args__ = (
        ForeignKeyConstraint(
            ["brand_id", "consumer_id"], ["consumer.brand_id", "consumer.id"], ondelete="CASCADE"
        ),
        Index("ix_consumer_session_token_digest", "token_digest", unique=True),
    )

    consumer_id: Mapped[int]
    token_digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class Address(TenantKey, Timestamps, Base):
    __tablename__ = "address"
    __table_args__ = (
        ForeignKeyConstraint(
            ["brand_id", "consumer_id"], ["consumer.brand_id", "consumer.id"], ondelete="CASCADE"
        ),
        Index("ix_address_consumer", "brand_id", "consumer_id"),
    )

    consumer_id: Mapped[int]
    recipient: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str] = mapped_column(String(32))
    province: Mapped[str] = mapped_column(String(50))
    city: Mapped[str] = mapped_column(String(50))
    district: Mapped[str] = mapped_column(String(50), server_default="")
    detail: Mapped[str] = mapped_column(String(300))
    latitude: Mapped[Decimal | None] = mapped_column(Numeric(9, 6))
    longitude: Mapped[Decimal | None] = mapped_column(Numeric(9, 6))
    is_default: Mapped[bool] = mapped_column(server_default="false")
