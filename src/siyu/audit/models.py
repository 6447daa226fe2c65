"""The audit log: who changed what, when, and the object before and after."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db.base import Base, TenantKey


class AuditEntry(TenantKey, Base):
    __tablename__ = "audit_entry"
    __table_args__ = (
        Index("ix_audit_entry_brand_time", "brand_id", "occurred_at"),
        Index("ix_audit_entry_brand_object", "brand_id", "object_type", "object_id"),
    )

    occurred_at: Mapped[datetime] = mapped_column(server_default=func.now())
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_staff_id: Mapped[int | None]
    actor_token_id: Mapped[int | None]
    actor_label: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(64))
    object_id: Mapped[str] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    request_id: Mapped[str | None] = mapped_column(String(64))
