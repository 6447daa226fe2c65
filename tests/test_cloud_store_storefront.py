"""The storefront a mini-program calls: a store's catalog and product pages, for consumers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.orm import Session

from siyu.catalog.models import Category, Product, Sku
from siyu.cloud_store.models import StockSource
from siyu.cloud_store.service import resolve_offers, store_catalog
from siyu.org.schemas import StoreUpdate
from siyu.org.service import update_store
from tests.factories import World, build_world, make_warehouse
from tests.factories_catalog import (
    make_category,
    make_override,
    make_product,
    set_stock,
    store_location,
)
from tests.factories_consumers import Shopper, make_consumer
from tests.helpers import assert_problem


@dataclass
class Mall:
    world: World
    shopper: Shopper
    tops: Category
    shoes: Category
    tee: Product
    tee_skus: list[Sku]  # TEE-L, TEE-M, TEE-S
    run: Product
    run_skus: list[Sku]  # RUN-42


@pytest.fixture
def mall(session: Session) -> Mall:
    world = build_world(session)
    apparel = make_category(session, world.system, "APPAREL")
    tops = make_category(session, world.system, "TOPS", apparel)
    shoes = make_category(session, world.system, "SHOES")
    tee, tee_skus = make_product(session, world.system, tops, "TEE", sizes=("S", "M", "L"))
    run, run_skus = make_product(
        session, world.system, shoes, "RUN", sizes=("42",), price_fen=59900
    )
    shopper = make_consumer(session, world.brand)
    session.commit()
    return Mall(world, shopper, tops, shoes, tee, tee_skus, run, run_skus)


def catalog(client: TestClient, mall: Mall, query: str = "", store_id: int | None = None) -> dict:  # type: ignore[type-arg]
    store_id = store_id or mall.world.direct_store.id
    response = client.get(
        f"/api/storefront/stores/{store_id}/catalog{query}", headers=mall.shopper.headers
    )
    assert response.status_code == 200, response.text
    body: dict = response.json()  # type: ignore[type-arg]
    return body


def test_a_store_offers_the_brand_catalog_by_default(client: TestClient, mall: Mall) -> None:
    # when
    page = catalog(client, mall)
    # then every active SKU, by product then SKU code, at the list price
    assert [(i["sku_code"], i["price_fen"], i["available_quantity"]) for i in page["items"]] == [
        ("RUN-42", 59900, 0),
        ("TEE-L", 19900, 0),
        ("TEE-M", 19900, 0),
        ("TEE-S", 19900, 0),
    ]
    assert page["total"] == 4
    first = page["items"][1]
    assert first == {
        "sku_id": mall.tee_skus[0].id,
        "product_id": mall.tee.id,
        "product_code": "TEE",
        "product_name": "Product TEE",
        "sku_code": "TEE-L",
        "attributes": {"size": "L"},
        "category_id": mall.tops.id,
        "images": ["https://img.example.com/TEE/1.jpg"],
        "price_fen": 19900,
        "list_price_fen": 19900,
        "max_per_order": 5,
        "available_quantity": 0,
        "exclusive_channel": None,
    }


def test_each_store_shows_its_own_assortment_and_prices(
    session: Session, client: TestClient, mall: Mall
) -> None:
    # given the region unlists RUN, the direct store prices TEE and unlists TEE-S
    world = mall.world
    make_override(session, world.system, region=world.region_a, product=mall.run, is_listed=False)
    make_override(
        session, world.system, store=world.direct_store, product=mall.tee, price_fen=15900
    )
    make_override(
        session,
        world.system,
        store=world.direct_store,
        product=mall.tee,
        sku=mall.tee_skus[2],
        is_listed=False,
    )
    session.commit()
    # when
    direct = catalog(client, mall)
    franchise = catalog(client, mall, store_id=world.franchise_store.id)
    other = catalog(client, mall, store_id=world.other_store.id)
    # then
    assert [(i["sku_code"], i["price_fen"]) for i in direct["items"]] == [
        ("TEE-L", 15900),
        ("TEE-M", 15900),
    ]
    assert [i["sku_code"] for i in franchise["items"]] == ["TEE-L", "TEE-M", "TEE-S"]
    assert [i["sku_code"] for i in other["items"]] == ["RUN-42", "TEE-L", "TEE-M", "TEE-S"]
    assert (direct["total"], franchise["total"], other["total"]) == (2, 3, 4)


def test_inactive_archived_and_other_channel_items_are_never_listed(
    session: Session, client: TestClient, mall: Mall
) -> None:
    # given a draft product, an inactive SKU, an offline-exclusive and a mall-exclusive item
    system = mall.world.system
    make_product(session, system, mall.shoes, "DRAFT", sizes=("1",), status="draft")
    make_product(session, system, mall.shoes, "SHOP", sizes=("1",), exclusive_channel="offline")
    make_product(session, system, mall.shoes, "WEB", sizes=("1",), exclusive_channel="mini_program")
    mall.run_skus[0].status = "inactive"
    session.commit()
    # when
    page = catalog(client, mall, "?category=" + str(mall.shoes.id))
    # then
    assert [(i["sku_code"], i["exclusive_channel"]) for i in page["items"]] == [
        ("WEB-1", "mini_program")
    ]


def test_category_search_and_pages(client: TestClient, mall: Mall) -> None:
    apparel = mall.tops.parent_id
    assert [i["sku_code"] for i in catalog(client, mall, f"?category={apparel}")["items"]] == [
        "TEE-L",
        "TEE-M",
        "TEE-S",
    ]
    assert [i["sku_code"] for i in catalog(client, mall, "?q=run")["items"]] == ["RUN-42"]
    assert [i["sku_code"] for i in catalog(client, mall, "?q=TEE-M")["items"]] == ["TEE-M"]
    page = catalog(client, mall, "?limit=2&offset=2")
    assert ([i["sku_code"] for i in page["items"]], page["total"]) == (["TEE-M", "TEE-S"], 4)
    beyond = catalog(client, mall, "?limit=2&offset=10")
    assert (beyond["items"], beyond["total"]) == ([], 4)


def test_available_quantity_follows_each_offers_stock_source(
    session: Session, client: TestClient, mall: Mall
) -> None:
    # given stock at the store, at a brand warehouse, at an inactive warehouse, at a
    # franchisee's warehouse and at another store
    world = mall.world
    large, medium, small = mall.tee_skus
    here = store_location(session, world.direct_store)
    set_stock(session, here, large, 5, reserved=1, allocated=1)
    set_stock(session, here, medium, 2)
    set_stock(session, world.warehouse, large, 10, reserved=4)
    set_stock(session, world.warehouse, small, 7)
    closed = make_warehouse(session, world.system)
    closed.is_active = False
    set_stock(session, closed, small, 100)
    set_stock(session, store_location(session, world.other_store), small, 50)
    # and overrides: TEE-M from the store only, TEE-S from warehouses only
    system = world.system
    make_override(
        session,
        system,
        store=world.direct_store,
        product=mall.tee,
        sku=medium,
        stock_source=StockSource.STORE,
    )
    make_override(
        session,
        system,
        region=world.region_a,
        product=mall.tee,
        sku=small,
        stock_source=StockSource.WAREHOUSE,
    )
    session.commit()
    # when
    page = catalog(client, mall, "?q=TEE")
    # then
    assert [(i["sku_code"], i["available_quantity"]) for i in page["items"]] == [
        ("TEE-L", 3 + 6),
        ("TEE-M", 2),
        ("TEE-S", 7),
    ]


def test_a_franchisees_warehouse_serves_only_its_stores(session: Session, mall: Mall) -> None:
    # given a warehouse holding a franchisee's goods
    from siyu.org.schemas import WarehouseCreate
    from siyu.org.service import create_warehouse

    world = mall.world
    theirs = create_warehouse(
        session,
        world.system,
        WarehouseCreate(code="FW", name="Franchisee warehouse", franchisee_id=world.franchisee.id),
    )
    set_stock(session, theirs, mall.run_skus[0], 8)
    # when
    franchised, _ = store_catalog(session, world.brand.id, world.franchise_store.id, search="RUN")
    direct, _ = store_catalog(session, world.brand.id, world.direct_store.id, search="RUN")
    # then
    assert [available for _, available in franchised] == [8]
    assert [available for _, available in direct] == [0]


def test_a_product_page_shows_the_listed_skus(
    session: Session, client: TestClient, mall: Mall
) -> None:
    # given
    world = mall.world
    make_override(
        session,
        world.system,
        store=world.direct_store,
        product=mall.tee,
        sku=mall.tee_skus[0],
        is_listed=False,
    )
    set_stock(session, store_location(session, world.direct_store), mall.tee_skus[1], 4)
    session.commit()
    # when
    response = client.get(
        f"/api/storefront/stores/{world.direct_store.id}/products/{mall.tee.id}",
        headers=mall.shopper.headers,
    )
    # then
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["product_code"], body["category_id"]) == ("TEE", mall.tops.id)
    assert [(s["sku_code"], s["available_quantity"]) for s in body["skus"]] == [
        ("TEE-M", 4),
        ("TEE-S", 0),
    ]


def test_a_product_the_store_does_not_sell_is_not_found(
    session: Session, client: TestClient, mall: Mall
) -> None:
    world = mall.world
    make_override(
        session, world.system, store=world.direct_store, product=mall.run, is_listed=False
    )
    session.commit()
    response = client.get(
        f"/api/storefront/stores/{world.direct_store.id}/products/{mall.run.id}",
        headers=mall.shopper.headers,
    )
    assert_problem(response, 404, "product_not_found")


def test_another_brands_unknown_or_closed_store_is_not_found(
    session: Session, client: TestClient, mall: Mall
) -> None:
    # given another brand's store, and a closed store of this brand
    other = build_world(session)
    update_store(
        session,
        mall.world.system,
        mall.world.other_store.id,
        StoreUpdate.model_validate({"status": "closed"}),
    )
    session.commit()
    for store_id in (other.direct_store.id, 999_999, mall.world.other_store.id):
        # when
        response = client.get(
            f"/api/storefront/stores/{store_id}/catalog", headers=mall.shopper.headers
        )
        product = client.get(
            f"/api/storefront/stores/{store_id}/products/{mall.tee.id}",
            headers=mall.shopper.headers,
        )
        # then
        assert_problem(response, 404, "store_not_found")
        assert_problem(product, 404, "store_not_found")


def test_staff_tokens_and_no_token_are_refused(client: TestClient, mall: Mall) -> None:
    url = f"/api/storefront/stores/{mall.world.direct_store.id}/catalog"
    assert_problem(client.get(url), 401, "not_authenticated")
    assert client.get(url, headers=mall.world.headers("brand_admin")).status_code == 401


@contextmanager
def count_statements(session: Session) -> Iterator[list[str]]:
    statements: list[str] = []
    engine = session.get_bind()

    def on_execute(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)


def test_resolving_offers_takes_three_queries_however_many_skus(
    session: Session, mall: Mall
) -> None:
    # given 40 more SKUs and overrides at both levels
    world = mall.world
    _, many = make_product(
        session, world.system, mall.shoes, "MANY", sizes=tuple(str(n) for n in range(40))
    )
    make_override(session, world.system, region=world.region_a, product=mall.tee, price_fen=100)
    make_override(
        session, world.system, store=world.direct_store, product=mall.tee, is_listed=False
    )
    session.commit()
    ids = [s.id for s in [*many, *mall.tee_skus]]
    # when
    with count_statements(session) as few:
        one = resolve_offers(session, world.brand.id, world.direct_store.id, ids[:1])
    with count_statements(session) as statements:
        offers = resolve_offers(session, world.brand.id, world.direct_store.id, [*ids, 999_999])
    # then
    assert len(one) == 1
    assert len(statements) == len(few) == 3
    assert sorted(offers) == sorted(ids)
    tee = offers[mall.tee_skus[0].id]
    assert (tee.listed, tee.price_fen, tee.stock_source) == (False, 100, "store_then_warehouse")


def test_a_catalog_page_takes_four_queries(session: Session, mall: Mall) -> None:
    with count_statements(session) as statements:
        rows, total = store_catalog(session, mall.world.brand.id, mall.world.direct_store.id)
    assert (len(rows), total) == (4, 4)
    assert len(statements) == 4
