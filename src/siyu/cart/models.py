"""Carts: one per consumer per store, across categories."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKeyConstraint, Integer, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db.base import Base, TenantKey


class Cart(TenantKey, Base):
    __tablename__ = "cart"
    __table_args__ = (
        UniqueConstraint("brand_id", "consumer_id", "store_id"),
        ForeignKeyConstraint(["brand_id", "consumer_id"], ["consumer.brand_id", "consumer.id"]),
        ForeignKeyConstraint(["brand_id", "store_id"], ["store.brand_id", "store.id"]),
    )

    consumer_id: Mapped[int]
    store_id: Mapped[int]
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class CartLine(TenantKey, Base):
    __tablename__ = "cart_line"
    __table_args__ = (
        UniqueConstraint("brand_id", "cart_id", "sku_id"),
        ForeignKeyConstraint(
            ["brand_id", "cart_id"], ["cart.brand_id", "cart.id"], ondelete="CASCADE"
        ),
        ForeignKeyConstraint(["brand_id", "sku_id"], ["sku.brand_id", "sku.id"]),
        CheckConstraint("quantity > 0", name="quantity"),
    )

    cart_id: Mapped[int]
    sku_id: Mapped[int]
    quantity: Mapped[int] = mapped_column(Integer)
    added_at: Mapped[datetime] = mapped_column(server_default=func.now())
