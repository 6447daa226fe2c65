"""Factories of the catalog and the cloud stores: categories, products with SKUs, listing
overrides (through the real services) and stock levels (rows, as a POS snapshot would leave
them: the inventory domain owns the movements)."""

from __future__ import annotations

import itertools

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.access.rules import Actor
from siyu.catalog.models import Category, Product, Sku
from siyu.catalog.schemas import CategoryCreate, ProductCreate, SkuCreate
from siyu.catalog.service import create_category, create_product
from siyu.cloud_store.models import ListingOverride, StockSource
from siyu.cloud_store.schemas import ListingOverrideSet
from siyu.cloud_store.service import set_region_override, set_store_override
from siyu.inventory.models import StockLevel
from siyu.org.models import Region, StockLocation, Store

_serial = itertools.count(1)


def make_category(
    session: Session, actor: Actor, code: str | None = None, parent: Category | None = None
) -> Category:
    code = code or f"C{next(_serial)}"
    return create_category(
        session,
        actor,
        CategoryCreate(code=code, name=f"Category {code}", parent_id=parent.id if parent else None),
    )


def make_product(
    session: Session,
    actor: Actor,
    category: Category,
    code: str | None = None,
    *,
    sizes: tuple[str, ...] = ("S", "M"),
    price_fen: int = 19900,
    status: str = "active",
    exclusive_channel: str | None = None,
) -> tuple[Product, list[Sku]]:
    """A product with one SKU per size (codes ``<code>-<size>``), by SKU code."""
    code = code or f"P{next(_serial)}"
    detail = create_product(
        session,
        actor,
        ProductCreate.model_validate(
            {
                "code": code,
                "name": f"Product {code}",
                "category_id": category.id,
                "images": [f"https://img.example.com/{code}/1.jpg"],
                "status": status,
                "exclusive_channel": exclusive_channel,
                "skus": [
                    SkuCreate(
                        code=f"{code}-{size}",
                        attributes={"size": size},
                        list_price_fen=price_fen,
                        max_per_order=5,
                    )
                    for size in sizes
                ],
            }
        ),
    )
    return detail.product, detail.skus


def make_override(
    session: Session,
    actor: Actor,
    *,
    store: Store | None = None,
    region: Region | None = None,
    product: Product,
    sku: Sku | None = None,
    is_listed: bool | None = None,
    price_fen: int | None = None,
    stock_source: StockSource | None = None,
) -> ListingOverride:
    data = ListingOverrideSet(
        product_id=product.id,
        sku_id=sku.id if sku else None,
        is_listed=is_listed,
        price_fen=price_fen,
        stock_source=stock_source,
    )
    if store is not None:
        return set_store_override(session, actor, store.id, data)
    assert region is not None
    return set_region_override(session, actor, region.id, data)


def set_stock(
    session: Session,
    location: StockLocation,
    sku: Sku,
    on_hand: int,
    *,
    reserved: int = 0,
    allocated: int = 0,
) -> StockLevel:
    level = StockLevel(
        brand_id=location.brand_id,
        location_id=location.id,
        sku_id=sku.id,
        on_hand=on_hand,
        reserved=reserved,
        allocated=allocated,
    )
    session.add(level)
    session.flush()
    return level


def store_location(session: Session, store: Store) -> StockLocation:
    location = session.scalar(
        select(StockLocation).where(
            StockLocation.brand_id == store.brand_id, StockLocation.store_id == store.id
        )
    )
    assert location is not None
    return location
