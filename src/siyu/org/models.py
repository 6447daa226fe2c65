"""Organization: regions, franchisees, stores and stock locations of one brand."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKeyConstraint,
    Index,
    Numeric,
    String,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db.base import Base, TenantKey, Timestamps


class Ownership(StrEnum):
    DIRECT = "direct"
    FRANCHISE = "franchise"


class StoreStatus(StrEnum):
    PLANNED = "planned"
    OPEN = "open"
    SUSPENDED = "suspended"
    CLOSED = "closed"


class LocationKind(StrEnum):
    STORE = "store"
    WAREHOUSE = "warehouse"


class Region(TenantKey, Timestamps, Base):
    __tablename__ = "region"
    __table_args__ = (UniqueConstraint("brand_id", "code"),)

    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))


class Franchisee(TenantKey, Timestamps, Base):
    """A franchise company; its stores' goods and money are kept apart from the brand's."""

    __tablename__ = "franchisee"
    __table_args__ = (UniqueConstraint("brand_id", "code"),)

    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    contact_name: Mapped[str | None] = mapped_column(String(100))
    contact_phone: Mapped[str | None] = mapped_column(String(32))


class Store(TenantKey, Timestamps, Base):
    __tablename__ = "store"
    __table_args__ = (
        UniqueConstraint("brand_id", "code"),
        ForeignKeyConstraint(["brand_id", "region_id"], ["region.brand_id", "region.id"]),
        ForeignKeyConstraint(
            ["brand_id", "franchisee_id"], ["franchisee.brand_id", "franchisee.id"]
        ),
        CheckConstraint(
            "(ownership = 'franchise') = (franchisee_id IS NOT NULL)",
            name="franchisee_iff_franchise",
        ),
        CheckConstraint("ownership IN ('direct', 'franchise')", name="ownership"),
        CheckConstraint("status IN ('planned', 'open', 'suspended', 'closed')", name="status"),
        CheckConstraint("latitude BETWEEN -90 AND 90", name="latitude"),
        CheckConstraint("longitude BETWEEN -180 AND 180", name="longitude"),
        Index("ix_store_brand_region", "brand_id", "region_id"),
        Index("ix_store_brand_franchisee", "brand_id", "franchisee_id"),
    )

    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    region_id: Mapped[int]
    ownership: Mapped[str] = mapped_column(String(16))
    franchisee_id: Mapped[int | None]
    address: Mapped[str] = mapped_column(String(500), server_default="")
    latitude: Mapped[Decimal | None] = mapped_column(Numeric(9, 6))
    longitude: Mapped[Decimal | None] = mapped_column(Numeric(9, 6))
    opening_hours: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    status: Mapped[str] = mapped_column(String(16), server_default=StoreStatus.OPEN.value)
    phone: Mapped[str | None] = mapped_column(String(32))


class StockLocation(TenantKey, Timestamps, Base):
    """A place that holds stock: every store has one; warehouses are shared pools.

    ``franchisee_id`` marks goods that belong to a franchisee rather than to the brand.
    """

    __tablename__ = "stock_location"
    __table_args__ = (
        UniqueConstraint("brand_id", "code"),
        UniqueConstraint("brand_id", "store_id"),
        ForeignKeyConstraint(["brand_id", "store_id"], ["store.brand_id", "store.id"]),
        ForeignKeyConstraint(["brand_id", "region_id"], ["region.brand_id", "region.id"]),
        ForeignKeyConstraint(
            ["brand_id", "franchisee_id"], ["franchisee.brand_id", "franchisee.id"]
        ),
        CheckConstraint("kind IN ('store', 'warehouse')", name="kind"),
        CheckConstraint("(kind = 'store') = (store_id IS NOT NULL)", name="store_iff_store_kind"),
    )

    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    store_id: Mapped[int | None]
    region_id: Mapped[int | None]
    franchisee_id: Mapped[int | None]
    address: Mapped[str] = mapped_column(String(500), server_default="")
    is_active: Mapped[bool] = mapped_column(server_default="true")
