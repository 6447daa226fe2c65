"""After-sales: return and refund requests, and complaint tickets (客诉)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db.base import Base, TenantKey, Timestamps


class AfterSale(TenantKey, Timestamps, Base):
    __tablename__ = "after_sale"
    __table_args__ = (
        ForeignKeyConstraint(["brand_id", "order_id"], ["sales_order.brand_id", "sales_order.id"]),
        ForeignKeyConstraint(["brand_id", "consumer_id"], ["consumer.brand_id", "consumer.id"]),
        CheckConstraint("kind IN ('refund_only', 'return_and_refund')", name="kind"),
        CheckConstraint(
            "status IN ('requested', 'approved', 'rejected', 'received', 'refunded', 'cancelled')",
            name="status",
        ),
        CheckConstraint("requested_refund_fen > 0", name="requested_refund"),
        Index("ix_after_sale_order", "brand_id", "order_id"),
        Index("ix_after_sale_store_status", "brand_id", "store_id", "status"),
    )

    order_id: Mapped[int]
    consumer_id: Mapped[int]
    store_id: Mapped[int]
    kind: Mapped[str] = mapped_column(String(24))
    reason: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, server_default="")
    photos: Mapped[list[str]] = mapped_column(JSONB, server_default="[]")
    status: Mapped[str] = mapped_column(String(16), server_default="requested")
    requested_refund_fen: Mapped[int] = mapped_column(BigInteger)
    approved_refund_fen: Mapped[int | None] = mapped_column(BigInteger)
    decided_by_staff_id: Mapped[int | None]
    decided_at: Mapped[datetime | None]
    decision_note: Mapped[str | None] = mapped_column(String(500))


class AfterSaleLine(TenantKey, Base):
    __tablename__ = "after_sale_line"
    __table_args__ = (
        ForeignKeyConstraint(
            ["brand_id", "after_sale_id"], ["after_sale.brand_id", "after_sale.id"]
        ),
        ForeignKeyConstraint(
            ["brand_id", "order_line_id"], ["sales_order_line.brand_id", "sales_order_line.id"]
        ),
        CheckConstraint("quantity > 0", name="quantity"),
        Index("ix_after_sale_line_request", "brand_id", "after_sale_id"),
    )

    after_sale_id: Mapped[int]
    order_line_id: Mapped[int]
    quantity: Mapped[int] = mapped_column(Integer)
    restocked_quantity: Mapped[int] = mapped_column(Integer, server_default="0")


class Complaint(TenantKey, Timestamps, Base):
    __tablename__ = "complaint"
    __table_args__ = (
        ForeignKeyConstraint(["brand_id", "consumer_id"], ["consumer.brand_id", "consumer.id"]),
        ForeignKeyConstraint(["brand_id", "store_id"], ["store.brand_id", "store.id"]),
        ForeignKeyConstraint(["brand_id", "owner_staff_id"], ["staff.brand_id", "staff.id"]),
        CheckConstraint("status IN ('open', 'answered', 'closed')", name="status"),
        Index("ix_complaint_store_status", "brand_id", "store_id", "status", "respond_by"),
    )

    consumer_id: Mapped[int]
    order_id: Mapped[int | None]
    store_id: Mapped[int]
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    owner_staff_id: Mapped[int | None]
    status: Mapped[str] = mapped_column(String(16), server_default="open")
    respond_by: Mapped[datetime]
    responded_at: Mapped[datetime | None]
    response: Mapped[str | None] = mapped_column(Text)
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default="[]")
