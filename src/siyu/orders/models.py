"""Orders: separate status axes, attribution on order and line, and an append-only event log.

Every order records where it was sold (store, guide, touchpoint, channel); every line also
records where it is fulfilled from, which may differ (endless aisle: sold by the store,
shipped from a warehouse).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db.base import Base, TenantKey, Timestamps


class FulfilmentMethod(StrEnum):
    EXPRESS = "express"
    LOCAL_DELIVERY = "local_delivery"
    PICKUP = "pickup"


class LifecycleStatus(StrEnum):
    OPEN = "open"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class PaymentStatus(StrEnum):
    UNPAID = "unpaid"
    PAID = "paid"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"


class FulfilmentStatus(StrEnum):
    UNFULFILLED = "unfulfilled"
    READY_FOR_PICKUP = "ready_for_pickup"
    SHIPPED = "shipped"
    FULFILLED = "fulfilled"


class AfterSaleStatus(StrEnum):
    NONE = "none"
    REQUESTED = "requested"
    IN_PROGRESS = "in_progress"
    CLOSED = "closed"


class Order(TenantKey, Timestamps, Base):
    __tablename__ = "sales_order"
    __table_args__ = (
        UniqueConstraint("brand_id", "number"),
        UniqueConstraint("brand_id", "consumer_id", "idempotency_key"),
        ForeignKeyConstraint(["brand_id", "consumer_id"], ["consumer.brand_id", "consumer.id"]),
        ForeignKeyConstraint(["brand_id", "selling_store_id"], ["store.brand_id", "store.id"]),
        ForeignKeyConstraint(["brand_id", "guide_staff_id"], ["staff.brand_id", "staff.id"]),
        CheckConstraint(
            "fulfilment_method IN ('express', 'local_delivery', 'pickup')", name="method"
        ),
        CheckConstraint("lifecycle_status IN ('open', 'completed', 'cancelled')", name="life"),
        CheckConstraint(
            "payment_status IN ('unpaid', 'paid', 'partially_refunded', 'refunded')",
            name="payment",
        ),
        CheckConstraint(
            "fulfilment_status IN ('unfulfilled', 'ready_for_pickup', 'shipped', 'fulfilled')",
            name="fulfilment",
        ),
        CheckConstraint(
            "after_sale_status IN ('none', 'requested', 'in_progress', 'closed')",
            name="after_sale",
        ),
        CheckConstraint(
            "subtotal_fen >= 0 AND discount_fen >= 0 AND shipping_fen >= 0 AND total_fen >= 0"
            " AND paid_fen >= 0 AND refunded_fen >= 0 AND refunded_fen <= paid_fen",
            name="amounts",
        ),
        CheckConstraint("points_spent >= 0 AND points_discount_fen >= 0", name="points"),
        Index("ix_sales_order_store_placed", "brand_id", "selling_store_id", "placed_at"),
        Index("ix_sales_order_consumer", "brand_id", "consumer_id", "placed_at"),
        Index(
            "ix_sales_order_payment_due",
            "payment_due_at",
            postgresql_where=text("payment_status = 'unpaid' AND lifecycle_status = 'open'"),
        ),
        Index(
            "uq_sales_order_pickup_code",
            "brand_id",
            "selling_store_id",
            "pickup_code",
            unique=True,
            postgresql_where=text("pickup_code IS NOT NULL AND fulfilment_status <> 'fulfilled'"),
        ),
    )

    number: Mapped[str] = mapped_column(String(32))
    consumer_id: Mapped[int]
    selling_store_id: Mapped[int]
    guide_staff_id: Mapped[int | None]
    touchpoint_id: Mapped[int | None]
    channel: Mapped[str] = mapped_column(String(32), server_default="mini_program")
    fulfilment_method: Mapped[str] = mapped_column(String(16))
    lifecycle_status: Mapped[str] = mapped_column(String(16), server_default="open")
    payment_status: Mapped[str] = mapped_column(String(24), server_default="unpaid")
    fulfilment_status: Mapped[str] = mapped_column(String(24), server_default="unfulfilled")
    after_sale_status: Mapped[str] = mapped_column(String(16), server_default="none")
    subtotal_fen: Mapped[int] = mapped_column(BigInteger)
    discount_fen: Mapped[int] = mapped_column(BigInteger, server_default="0")
    shipping_fen: Mapped[int] = mapped_column(BigInteger, server_default="0")
    total_fen: Mapped[int] = mapped_column(BigInteger)
    paid_fen: Mapped[int] = mapped_column(BigInteger, server_default="0")
    refunded_fen: Mapped[int] = mapped_column(BigInteger, server_default="0")
    # Points spent at checkout (siyu.loyalty) and the discount they gave, within discount_fen.
    points_spent: Mapped[int] = mapped_column(BigInteger, server_default="0")
    points_discount_fen: Mapped[int] = mapped_column(BigInteger, server_default="0")
    placed_at: Mapped[datetime] = mapped_column(server_default=func.now())
    placed_after_hours: Mapped[bool] = mapped_column(server_default="false")
    payment_due_at: Mapped[datetime]
    paid_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    cancel_reason: Mapped[str | None] = mapped_column(String(200))
    fulfilled_at: Mapped[datetime | None]
    pickup_code: Mapped[str | None] = mapped_column(String(16))
    shipping_address: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    note: Mapped[str] = mapped_column(String(500), server_default="")
    idempotency_key: Mapped[str] = mapped_column(String(64))


class OrderLine(TenantKey, Base):
    __tablename__ = "sales_order_line"
    __table_args__ = (
        ForeignKeyConstraint(["brand_id", "order_id"], ["sales_order.brand_id", "sales_order.id"]),
        ForeignKeyConstraint(["brand_id", "sku_id"], ["sku.brand_id", "sku.id"]),
        ForeignKeyConstraint(
            ["brand_id", "fulfilling_location_id"],
            ["stock_location.brand_id", "stock_location.id"],
        ),
        CheckConstraint("quantity > 0", name="quantity"),
        CheckConstraint(
            "unit_price_fen >= 0 AND subtotal_fen >= 0 AND discount_fen >= 0 AND total_fen >= 0",
            name="amounts",
        ),
        CheckConstraint(
            "refunded_quantity >= 0 AND refunded_quantity <= quantity", name="refunded_quantity"
        ),
        Index("ix_sales_order_line_order", "brand_id", "order_id"),
    )

    order_id: Mapped[int]
    sku_id: Mapped[int]
    product_id: Mapped[int]
    product_name: Mapped[str] = mapped_column(String(200))
    sku_code: Mapped[str] = mapped_column(String(32))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_fen: Mapped[int] = mapped_column(BigInteger)
    subtotal_fen: Mapped[int] = mapped_column(BigInteger)
    discount_fen: Mapped[int] = mapped_column(BigInteger, server_default="0")
    total_fen: Mapped[int] = mapped_column(BigInteger)
    adjustments: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default="[]")
    fulfilling_location_id: Mapped[int]
    selling_store_id: Mapped[int]
    guide_staff_id: Mapped[int | None]
    touchpoint_id: Mapped[int | None]
    refunded_quantity: Mapped[int] = mapped_column(Integer, server_default="0")


class OrderEvent(TenantKey, Base):
    """Append-only history of one order: what happened, when, by whom."""

    __tablename__ = "sales_order_event"
    __table_args__ = (
        ForeignKeyConstraint(["brand_id", "order_id"], ["sales_order.brand_id", "sales_order.id"]),
        Index("ix_sales_order_event_order", "brand_id", "order_id", "id"),
    )

    order_id: Mapped[int]
    kind: Mapped[str] = mapped_column(String(48))
    actor_label: Mapped[str] = mapped_column(String(200))
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    occurred_at: Mapped[datetime] = mapped_column(server_default=func.now())
