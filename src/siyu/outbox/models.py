"""The outbox: domain events written in the same transaction as the change they describe."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKeyConstraint, Index, String, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db.base import Base, TenantKey


class OutboxEvent(TenantKey, Base):
    __tablename__ = "outbox_event"
    __table_args__ = (
        Index(
            "ix_outbox_event_pending",
            "next_attempt_at",
            "id",
            postgresql_where=text("dispatched_at IS NULL"),
        ),
    )

    event_type: Mapped[str] = mapped_column(String(64))
    aggregate_type: Mapped[str] = mapped_column(String(64))
    aggregate_id: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    occurred_at: Mapped[datetime] = mapped_column(server_default=func.now())
    request_id: Mapped[str | None] = mapped_column(String(64))
    dispatched_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(server_default=func.now())
    last_error: Mapped[str | None] = mapped_column(String(2000))


class OutboxDelivery(Base):
    """One subscriber has handled one event; redelivery skips it."""

    __tablename__ = "outbox_delivery"
    __table_args__ = (
        ForeignKeyConstraint(
            ["brand_id", "event_id"],
            ["outbox_event.brand_id", "outbox_event.id"],
            ondelete="CASCADE",
        ),
    )

    brand_id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(primary_key=True)
    subscriber: Mapped[str] = mapped_column(String(100), primary_key=True)
    delivered_at: Mapped[datetime] = mapped_column(server_default=func.now())
