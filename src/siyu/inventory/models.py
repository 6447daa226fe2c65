"""Stock: levels per SKU and location, holds for carts and orders, and the movement ledger.

Invariants kept by the database itself: no counter goes negative and
``reserved + allocated <= on_hand``, so a unit can never be promised twice.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db.base import Base, TenantKey


class HoldStatus(StrEnum):
    RESERVED = "reserved"  # a cart or an unpaid order; expires
    ALLOCATED = "allocated"  # a paid order waiting to be fulfilled
    FULFILLED = "fulfilled"  # shipped or picked up: left on_hand
    RELEASED = "released"  # given back (cancelled, expired, refunded before fulfilment)


class MovementKind(StrEnum):
    RECEIPT = "receipt"
    ADJUSTMENT = "adjustment"
    RESERVATION = "reservation"
    RELEASE = "release"
    ALLOCATION = "allocation"
    FULFILMENT = "fulfilment"
    RETURN = "return"
    POS_SNAPSHOT = "pos_snapshot"
    RECONCILIATION = "reconciliation"


class StockLevel(Base):
    __tablename__ = "stock_level"
    __table_args__ = (
        ForeignKeyConstraint(
            ["brand_id", "location_id"], ["stock_location.brand_id", "stock_location.id"]
        ),
        ForeignKeyConstraint(["brand_id", "sku_id"], ["sku.brand_id", "sku.id"]),
        CheckConstraint("on_hand >= 0", name="on_hand"),
        CheckConstraint("reserved >= 0", name="reserved"),
        CheckConstraint("allocated >= 0", name="allocated"),
        CheckConstraint("reserved + allocated <= on_hand", name="promised_within_on_hand"),
        Index("ix_stock_level_brand_sku", "brand_id", "sku_id"),
    )

    brand_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    location_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    sku_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    on_hand: Mapped[int] = mapped_column(Integer, server_default="0")
    reserved: Mapped[int] = mapped_column(Integer, server_default="0")
    allocated: Mapped[int] = mapped_column(Integer, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class StockHold(TenantKey, Base):
    """Units promised to a cart or an order at one location, through their whole life."""

    __tablename__ = "stock_hold"
    __table_args__ = (
        ForeignKeyConstraint(
            ["brand_id", "location_id", "sku_id"],
            ["stock_level.brand_id", "stock_level.location_id", "stock_level.sku_id"],
        ),
        CheckConstraint("quantity > 0", name="quantity"),
        CheckConstraint(
            "status IN ('reserved', 'allocated', 'fulfilled', 'released')", name="status"
        ),
        CheckConstraint("holder_kind IN ('cart', 'order')", name="holder_kind"),
        Index("ix_stock_hold_holder", "brand_id", "holder_kind", "holder_id"),
        Index(
            "ix_stock_hold_expiring",
            "expires_at",
            postgresql_where=text("status = 'reserved'"),
        ),
    )

    location_id: Mapped[int]
    sku_id: Mapped[int]
    quantity: Mapped[int] = mapped_column(Integer)
    holder_kind: Mapped[str] = mapped_column(String(16))
    holder_id: Mapped[int]
    holder_line_id: Mapped[int | None]
    status: Mapped[str] = mapped_column(String(16), server_default=HoldStatus.RESERVED.value)
    expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    changed_at: Mapped[datetime] = mapped_column(server_default=func.now())


class StockMovement(TenantKey, Base):
    """Append-only: every change of a stock level, with its cause."""

    __tablename__ = "stock_movement"
    __table_args__ = (
        Index("ix_stock_movement_level", "brand_id", "location_id", "sku_id", "id"),
        CheckConstraint(
            "kind IN ('receipt', 'adjustment', 'reservation', 'release', 'allocation',"
            " 'fulfilment', 'return', 'pos_snapshot', 'reconciliation')",
            name="kind",
        ),
    )

    location_id: Mapped[int]
    sku_id: Mapped[int]
    kind: Mapped[str] = mapped_column(String(32))
    on_hand_delta: Mapped[int] = mapped_column(Integer, server_default="0")
    reserved_delta: Mapped[int] = mapped_column(Integer, server_default="0")
    allocated_delta: Mapped[int] = mapped_column(Integer, server_default="0")
    hold_id: Mapped[int | None]
    reference: Mapped[str | None] = mapped_column(String(200))
    actor_label: Mapped[str] = mapped_column(String(200))
    occurred_at: Mapped[datetime] = mapped_column(server_default=func.now())
