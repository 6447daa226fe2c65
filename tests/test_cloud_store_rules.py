"""The pure rules of per-store storefronts: which override wins, and what a store can sell."""

from __future__ import annotations

from dataclasses import replace

import pytest

from siyu.cloud_store.rules import (
    OverrideLevel,
    OverrideRow,
    SkuDefaults,
    available_quantity,
    override_level,
    resolve_offer,
)

DEFAULTS = SkuDefaults(
    sku_id=10,
    product_id=1,
    product_code="TEE",
    product_name="Tee",
    sku_code="TEE-M",
    attributes={"size": "M"},
    category_id=7,
    images=("https://img.example.com/tee.jpg",),
    list_price_fen=19900,
    max_per_order=5,
    exclusive_channel=None,
    product_status="active",
    sku_status="active",
)
RP, RS, SP, SS = (
    OverrideLevel.REGION_PRODUCT,
    OverrideLevel.REGION_SKU,
    OverrideLevel.STORE_PRODUCT,
    OverrideLevel.STORE_SKU,
)


def row(level: OverrideLevel, **fields: object) -> OverrideRow:
    sku_level = level in (RS, SS)
    return OverrideRow(level=level, product_id=1, sku_id=10 if sku_level else None, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("overrides", "listed", "price_fen", "stock_source"),
    [
        # the brand default
        ([], True, 19900, "store_then_warehouse"),
        # one level alone
        ([row(RP, price_fen=18900)], True, 18900, "store_then_warehouse"),
        ([row(RS, is_listed=False)], False, 19900, "store_then_warehouse"),
        ([row(SP, stock_source="store")], True, 19900, "store"),
        ([row(SS, price_fen=0)], True, 0, "store_then_warehouse"),
        # precedence: store+SKU > store+product > region+SKU > region+product
        ([row(RP, price_fen=1), row(RS, price_fen=2)], True, 2, "store_then_warehouse"),
        ([row(RS, price_fen=2), row(SP, price_fen=3)], True, 3, "store_then_warehouse"),
        ([row(SP, price_fen=3), row(SS, price_fen=4)], True, 4, "store_then_warehouse"),
        ([row(SS, price_fen=4), row(RP, price_fen=1)], True, 4, "store_then_warehouse"),
        (
            [row(RP, is_listed=False), row(SS, is_listed=True)],
            True,
            19900,
            "store_then_warehouse",
        ),
        (
            [row(SP, is_listed=False), row(RS, is_listed=True)],
            False,
            19900,
            "store_then_warehouse",
        ),
        # field by field: each field from the most specific row that sets it
        (
            [
                row(RP, is_listed=True, price_fen=17900, stock_source="warehouse"),
                row(SP, price_fen=16900),
                row(SS, stock_source="store"),
            ],
            True,
            16900,
            "store",
        ),
        ([row(SS), row(RP, is_listed=False)], False, 19900, "store_then_warehouse"),
    ],
)
def test_the_most_specific_override_of_each_field_wins(
    overrides: list[OverrideRow], listed: bool, price_fen: int, stock_source: str
) -> None:
    # when
    offer = resolve_offer(DEFAULTS, overrides)
    # then
    assert (offer.listed, offer.price_fen, offer.stock_source) == (listed, price_fen, stock_source)
    assert offer.list_price_fen == 19900


@pytest.mark.parametrize(
    ("change", "listed"),
    [
        ({"product_status": "draft"}, False),
        ({"product_status": "archived"}, False),
        ({"sku_status": "inactive"}, False),
        ({"exclusive_channel": "mini_program"}, True),
        ({"exclusive_channel": "offline"}, False),
        ({"exclusive_channel": "douyin"}, False),
    ],
)
def test_an_override_never_lists_what_the_brand_does_not_sell_in_the_mall(
    change: dict[str, str], listed: bool
) -> None:
    # given a store override that lists the SKU explicitly
    overrides = [row(SS, is_listed=True)]
    # when
    offer = resolve_offer(replace(DEFAULTS, **change), overrides)  # type: ignore[arg-type]
    # then
    assert offer.listed is listed


def test_rows_of_other_products_and_skus_are_ignored() -> None:
    # given rows of another SKU of the product and of another product
    others = [
        OverrideRow(level=SS, product_id=1, sku_id=11, is_listed=False, price_fen=1),
        OverrideRow(level=SP, product_id=2, sku_id=None, is_listed=False, price_fen=2),
    ]
    # when
    offer = resolve_offer(DEFAULTS, others)
    # then
    assert (offer.listed, offer.price_fen) == (True, 19900)


def test_the_offer_carries_the_catalog_facts() -> None:
    # when
    offer = resolve_offer(DEFAULTS, [row(SP, price_fen=15900)])
    # then
    assert offer.sku_id == 10
    assert offer.product_id == 1
    assert (offer.product_code, offer.product_name, offer.sku_code) == ("TEE", "Tee", "TEE-M")
    assert offer.attributes == {"size": "M"}
    assert offer.category_id == 7
    assert offer.images == ("https://img.example.com/tee.jpg",)
    assert (offer.max_per_order, offer.exclusive_channel) == (5, None)


@pytest.mark.parametrize(
    ("store_id", "sku_id", "level"),
    [(None, None, RP), (None, 3, RS), (5, None, SP), (5, 3, SS)],
)
def test_override_levels(store_id: int | None, sku_id: int | None, level: OverrideLevel) -> None:
    assert override_level(store_id=store_id, sku_id=sku_id) is level


@pytest.mark.parametrize(
    ("source", "at_store", "at_warehouses", "available"),
    [
        ("store", 3, 10, 3),
        ("warehouse", 3, 10, 10),
        ("store_then_warehouse", 3, 10, 13),
        ("store_then_warehouse", 0, 0, 0),
        ("store", -2, 10, 0),
    ],
)
def test_available_quantity_follows_the_stock_source(
    source: str, at_store: int, at_warehouses: int, available: int
) -> None:
    assert available_quantity(source, at_store, at_warehouses) == available
