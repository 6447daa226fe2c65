"""The brand's one catalog: categories, products (SPU) and their SKUs, priced in fen."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db.base import Base, TenantKey, Timestamps


class ProductStatus(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    ARCHIVED = "archived"


class SkuStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"


class Category(TenantKey, Timestamps, Base):
    __tablename__ = "category"
    __table_args__ = (
        UniqueConstraint("brand_id", "code"),
        ForeignKeyConstraint(["brand_id", "parent_id"], ["category.brand_id", "category.id"]),
    )

    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[int | None]
    sort_order: Mapped[int] = mapped_column(Integer, server_default="0")
    is_active: Mapped[bool] = mapped_column(server_default="true")


class Product(TenantKey, Timestamps, Base):
    """An SPU. ``exclusive_channel`` marks a channel-exclusive item (专供款): sold only there."""

    __tablename__ = "product"
    __table_args__ = (
        UniqueConstraint("brand_id", "code"),
        ForeignKeyConstraint(["brand_id", "category_id"], ["category.brand_id", "category.id"]),
        CheckConstraint("status IN ('draft', 'active', 'archived')", name="status"),
        Index("ix_product_brand_category", "brand_id", "category_id"),
    )

    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    category_id: Mapped[int]
    description: Mapped[str] = mapped_column(Text, server_default="")
    images: Mapped[list[str]] = mapped_column(JSONB, server_default="[]")
    status: Mapped[str] = mapped_column(String(16), server_default=ProductStatus.ACTIVE.value)
    exclusive_channel: Mapped[str | None] = mapped_column(String(32))


class Sku(TenantKey, Timestamps, Base):
    """A sellable variant. ``list_price_fen`` is the brand list price; stores may override it."""

    __tablename__ = "sku"
    __table_args__ = (
        UniqueConstraint("brand_id", "code"),
        ForeignKeyConstraint(["brand_id", "product_id"], ["product.brand_id", "product.id"]),
        CheckConstraint("list_price_fen >= 0", name="list_price"),
        CheckConstraint("max_per_order > 0", name="max_per_order"),
        CheckConstraint("status IN ('active', 'inactive')", name="status"),
        Index("ix_sku_brand_product", "brand_id", "product_id"),
    )

    product_id: Mapped[int]
    code: Mapped[str] = mapped_column(String(32))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    list_price_fen: Mapped[int] = mapped_column(BigInteger)
    barcode: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), server_default=SkuStatus.ACTIVE.value)
    max_per_order: Mapped[int] = mapped_column(Integer, server_default="99")
