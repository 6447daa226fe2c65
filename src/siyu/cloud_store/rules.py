"""Pure rules of per-store storefronts (千店千面): a store's offer for a SKU. No I/O.

A store's offer is the brand default overridden, field by field, by sparse override rows.
For each field (listed, price, stock source) the most specific row that sets it wins:

    store + SKU  >  store + product  >  region + SKU  >  region + product  >  brand default

The brand default: listed when the product and the SKU are active, at the list price, stock
from the store then the warehouses. Overrides choose among what the brand sells in the mall:
a product or SKU that is not active, or a channel-exclusive item (专供款) of another channel,
is never listed, whatever an override says.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

MALL_CHANNEL = "mini_program"
ACTIVE = "active"
STORE = "store"
WAREHOUSE = "warehouse"
STORE_THEN_WAREHOUSE = "store_then_warehouse"
DEFAULT_STOCK_SOURCE = STORE_THEN_WAREHOUSE


class OverrideLevel(IntEnum):
    """How specific an override row is: a higher level wins."""

    REGION_PRODUCT = 1
    REGION_SKU = 2
    STORE_PRODUCT = 3
    STORE_SKU = 4


@dataclass(frozen=True)
class OverrideRow:
    """One override row as the rules need it: its level and the fields it sets (None: not
    set, inherit)."""

    level: OverrideLevel
    product_id: int
    sku_id: int | None
    is_listed: bool | None = None
    price_fen: int | None = None
    stock_source: str | None = None


def override_level(*, store_id: int | None, sku_id: int | None) -> OverrideLevel:
    if store_id is not None:
        return OverrideLevel.STORE_SKU if sku_id is not None else OverrideLevel.STORE_PRODUCT
    return OverrideLevel.REGION_SKU if sku_id is not None else OverrideLevel.REGION_PRODUCT


@dataclass(frozen=True)
class SkuDefaults:
    """What the catalog says about a SKU and its product: the brand default."""

    sku_id: int
    product_id: int
    product_code: str
    product_name: str
    sku_code: str
    attributes: Mapping[str, Any]
    category_id: int
    images: tuple[str, ...]
    list_price_fen: int
    max_per_order: int
    exclusive_channel: str | None
    product_status: str
    sku_status: str


@dataclass(frozen=True)
class Offer:
    """A SKU as one store sells it in the mall."""

    sku_id: int
    product_id: int
    product_code: str
    product_name: str
    sku_code: str
    attributes: Mapping[str, Any]
    category_id: int
    images: tuple[str, ...]
    listed: bool
    price_fen: int
    list_price_fen: int
    stock_source: str
    max_per_order: int
    exclusive_channel: str | None


def sellable_in_mall(defaults: SkuDefaults, channel: str = MALL_CHANNEL) -> bool:
    """Whether the brand sells the SKU in ``channel`` at all (before any override)."""
    return (
        defaults.product_status == ACTIVE
        and defaults.sku_status == ACTIVE
        and (defaults.exclusive_channel is None or defaults.exclusive_channel == channel)
    )


def resolve_offer(
    defaults: SkuDefaults, overrides: Iterable[OverrideRow], channel: str = MALL_CHANNEL
) -> Offer:
    """The offer for ``defaults`` given the override rows of the store and its region.

    Rows of other products or other SKUs are ignored, so callers may pass every row they
    loaded for the store. Each field comes from the most specific row that sets it.
    """
    is_listed: bool | None = None
    price_fen: int | None = None
    stock_source: str | None = None
    applicable = sorted(
        (
            row
            for row in overrides
            if row.product_id == defaults.product_id
            and (row.sku_id is None or row.sku_id == defaults.sku_id)
        ),
        key=lambda row: row.level,
        reverse=True,
    )
    for row in applicable:
        if is_listed is None:
            is_listed = row.is_listed
        if price_fen is None:
            price_fen = row.price_fen
        if stock_source is None:
            stock_source = row.stock_source
    listed = sellable_in_mall(defaults, channel) and (is_listed if is_listed is not None else True)
    return Offer(
        sku_id=defaults.sku_id,
        product_id=defaults.product_id,
        product_code=defaults.product_code,
        product_name=defaults.product_name,
        sku_code=defaults.sku_code,
        attributes=defaults.attributes,
        category_id=defaults.category_id,
        images=defaults.images,
        listed=listed,
        price_fen=price_fen if price_fen is not None else defaults.list_price_fen,
        list_price_fen=defaults.list_price_fen,
        stock_source=stock_source or DEFAULT_STOCK_SOURCE,
        max_per_order=defaults.max_per_order,
        exclusive_channel=defaults.exclusive_channel,
    )


def available_quantity(stock_source: str, at_store: int, at_warehouses: int) -> int:
    """Units a store can sell of a SKU: from its own stock, the warehouses', or both.

    ``at_store`` and ``at_warehouses`` are on hand minus reserved minus allocated; never
    negative by the stock tables' own constraints, but clamped here all the same.
    """
    store_part = max(at_store, 0)
    warehouse_part = max(at_warehouses, 0)
    if stock_source == STORE:
        return store_part
    if stock_source == WAREHOUSE:
        return warehouse_part
    return store_part + warehouse_part
