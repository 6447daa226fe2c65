"""Per-store storefronts (千店千面) as sparse overrides of the brand's defaults.

Nothing is materialised per SKU × store: a store's offer for a SKU is the brand default
(listed when product and SKU are active, at the list price) overridden by the region's row and
then the store's row, each at product level (``sku_id`` empty) and then SKU level.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKeyConstraint,
    Index,
    String,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db.base import Base, TenantKey, Timestamps


class StockSource(StrEnum):
    STORE = "store"
    WAREHOUSE = "warehouse"
    STORE_THEN_WAREHOUSE = "store_then_warehouse"


class ListingOverride(TenantKey, Timestamps, Base):
    __tablename__ = "listing_override"
    __table_args__ = (
        ForeignKeyConstraint(["brand_id", "region_id"], ["region.brand_id", "region.id"]),
        ForeignKeyConstraint(["brand_id", "store_id"], ["store.brand_id", "store.id"]),
        ForeignKeyConstraint(["brand_id", "product_id"], ["product.brand_id", "product.id"]),
        ForeignKeyConstraint(["brand_id", "sku_id"], ["sku.brand_id", "sku.id"]),
        CheckConstraint("(region_id IS NULL) <> (store_id IS NULL)", name="region_or_store"),
        CheckConstraint("price_fen IS NULL OR price_fen >= 0", name="price"),
        CheckConstraint(
            "stock_source IS NULL OR stock_source IN ('store', 'warehouse', "
            "'store_then_warehouse')",
            name="stock_source",
        ),
        Index(
            "uq_listing_override_store",
            "brand_id",
            "store_id",
            "product_id",
            text("coalesce(sku_id, 0)"),
            unique=True,
            postgresql_where=text("store_id IS NOT NULL"),
        ),
        Index(
            "uq_listing_override_region",
            "brand_id",
            "region_id",
            "product_id",
            text("coalesce(sku_id, 0)"),
            unique=True,
            postgresql_where=text("region_id IS NOT NULL"),
        ),
    )

    region_id: Mapped[int | None]
    store_id: Mapped[int | None]
    product_id: Mapped[int]
    sku_id: Mapped[int | None]
    is_listed: Mapped[bool | None]
    price_fen: Mapped[int | None] = mapped_column(BigInteger)
    stock_source: Mapped[str | None] = mapped_column(String(32))
