"""Listing overrides (千店千面): who may set them where, and what a store then offers."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.audit.models import AuditEntry
from siyu.catalog.models import Product, Sku
from siyu.cloud_store.models import ListingOverride
from siyu.cloud_store.service import resolve_offers
from siyu.outbox.models import OutboxEvent
from tests.factories import World, build_world
from tests.factories_catalog import make_category, make_override, make_product
from tests.helpers import assert_problem, row_counts


@dataclass
class Shop:
    world: World
    product: Product
    skus: list[Sku]  # by code: P-M, P-S


@pytest.fixture
def shop(session: Session) -> Shop:
    world = build_world(session)
    category = make_category(session, world.system)
    product, skus = make_product(session, world.system, category, "P")
    session.commit()
    return Shop(world, product, skus)


def put(client: TestClient, url: str, who: str, shop: Shop, **body: object) -> object:
    return client.put(
        url, json={"product_id": shop.product.id, **body}, headers=shop.world.headers(who)
    )


def test_a_store_manager_sets_and_clears_a_price_for_their_store(
    session: Session, client: TestClient, shop: Shop
) -> None:
    # given
    world, sku = shop.world, shop.skus[0]
    url = f"/api/stores/{world.direct_store.id}/listing-overrides"
    # when the store manager sets a store price for one SKU, then reads the overrides
    response = client.put(
        url,
        json={"product_id": shop.product.id, "sku_id": sku.id, "price_fen": 15900},
        headers=world.headers("store_manager"),
    )
    listed = client.get(url, headers=world.headers("store_manager"))
    offers = resolve_offers(session, world.brand.id, world.direct_store.id, [sku.id])
    # then
    assert response.status_code == 200, response.text
    assert {k: response.json()[k] for k in ("store_id", "region_id", "sku_id", "price_fen")} == {
        "store_id": world.direct_store.id,
        "region_id": None,
        "sku_id": sku.id,
        "price_fen": 15900,
    }
    assert [o["id"] for o in listed.json()] == [response.json()["id"]]
    assert (offers[sku.id].price_fen, offers[sku.id].list_price_fen) == (15900, 19900)
    # when cleared
    cleared = client.delete(
        f"{url}?product_id={shop.product.id}&sku_id={sku.id}",
        headers=world.headers("store_manager"),
    )
    # then the list price is back
    assert cleared.status_code == 204
    session.expire_all()
    assert (
        resolve_offers(session, world.brand.id, world.direct_store.id, [sku.id])[sku.id].price_fen
        == 19900
    )
    events = session.scalars(
        select(OutboxEvent.event_type)
        .where(OutboxEvent.aggregate_type == "listing_override")
        .order_by(OutboxEvent.id)
    ).all()
    assert events == ["ListingOverrideSet", "ListingOverrideCleared"]
    actions = session.scalars(
        select(AuditEntry.action)
        .where(AuditEntry.object_type == "listing_override")
        .order_by(AuditEntry.id)
    ).all()
    assert actions == ["listing_override.create", "listing_override.delete"]


def test_put_replaces_the_row_and_an_identical_put_writes_nothing(
    session: Session, client: TestClient, shop: Shop
) -> None:
    # given a store-level override that unlists the product
    url = f"/api/stores/{shop.world.franchise_store.id}/listing-overrides"
    first = put(client, url, "franchisee_owner", shop, is_listed=False)
    # when replaced by a price, then sent again
    second = put(client, url, "franchisee_owner", shop, price_fen=9900)
    before = row_counts(session)
    third = put(client, url, "franchisee_owner", shop, price_fen=9900)
    # then one row, listed again (is_listed inherited), same price; the repeat wrote nothing
    assert first.status_code == second.status_code == third.status_code == 200  # type: ignore[attr-defined]
    assert first.json()["id"] == second.json()["id"] == third.json()["id"]  # type: ignore[attr-defined]
    assert (third.json()["is_listed"], third.json()["price_fen"]) == (None, 9900)  # type: ignore[attr-defined]
    assert row_counts(session) == before
    assert session.scalar(select(ListingOverride.id).where(ListingOverride.price_fen == 9900))


def test_region_overrides_are_inherited_and_store_overrides_win(
    session: Session, client: TestClient, shop: Shop
) -> None:
    # given region A unlists the product and prices it, and the direct store lists it again
    world = shop.world
    region_url = f"/api/regions/{world.region_a.id}/listing-overrides"
    assert (
        put(
            client, region_url, "region_manager", shop, is_listed=False, price_fen=17900
        ).status_code
        == 200
    )  # type: ignore[attr-defined]
    assert (
        put(
            client,
            f"/api/stores/{world.direct_store.id}/listing-overrides",
            "region_manager",
            shop,
            is_listed=True,
        ).status_code
        == 200
    )  # type: ignore[attr-defined]
    ids = [s.id for s in shop.skus]
    # when the offers of the three stores are resolved
    direct = resolve_offers(session, world.brand.id, world.direct_store.id, ids)
    franchise = resolve_offers(session, world.brand.id, world.franchise_store.id, ids)
    other = resolve_offers(session, world.brand.id, world.other_store.id, ids)
    # then
    assert [(o.listed, o.price_fen) for o in direct.values()] == [(True, 17900)] * 2
    assert [(o.listed, o.price_fen) for o in franchise.values()] == [(False, 17900)] * 2
    assert [(o.listed, o.price_fen) for o in other.values()] == [(True, 19900)] * 2


@pytest.mark.parametrize(
    ("who", "store", "status"),
    [
        ("brand_admin", "other_store", 200),
        ("hq_operator", "other_store", 200),
        ("region_manager", "franchise_store", 200),
        ("region_manager", "other_store", 404),
        ("franchisee_owner", "franchise_store", 200),
        ("franchisee_owner", "direct_store", 404),
        ("store_manager", "direct_store", 200),
        ("store_manager", "franchise_store", 404),
        ("guide", "direct_store", 403),
        ("integration", "direct_store", 403),
    ],
)
def test_each_role_changes_only_the_stores_of_its_scope(
    session: Session, client: TestClient, shop: Shop, who: str, store: str, status: int
) -> None:
    # given
    store_id = getattr(shop.world, store).id
    before = row_counts(session)
    # when
    url = f"/api/stores/{store_id}/listing-overrides"
    response = put(client, url, who, shop, is_listed=False)
    deleted = client.delete(f"{url}?product_id={shop.product.id}", headers=shop.world.headers(who))
    # then
    if status == 200:
        assert response.status_code == 200, response.text  # type: ignore[attr-defined]
        assert deleted.status_code == 204
    else:
        code = "store_not_found" if status == 404 else "permission_denied"
        assert_problem(response, status, code)  # type: ignore[arg-type]
        assert_problem(deleted, status, code)
        assert row_counts(session) == before


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("brand_admin", 200),
        ("hq_operator", 200),
        ("region_manager", 200),
        ("franchisee_owner", 403),
        ("store_manager", 403),
        ("guide", 403),
    ],
)
def test_only_hq_and_the_regions_manager_change_a_regions_listings(
    session: Session, client: TestClient, shop: Shop, who: str, status: int
) -> None:
    # given
    before = row_counts(session)
    # when
    response = put(
        client,
        f"/api/regions/{shop.world.region_a.id}/listing-overrides",
        who,
        shop,
        stock_source="warehouse",
    )
    # then
    if status == 200:
        assert response.status_code == 200, response.text  # type: ignore[attr-defined]
        assert response.json()["stock_source"] == "warehouse"  # type: ignore[attr-defined]
    else:
        assert_problem(response, 403, "permission_denied")  # type: ignore[arg-type]
        assert row_counts(session) == before


def test_a_region_manager_cannot_touch_another_region(
    session: Session, client: TestClient, shop: Shop
) -> None:
    before = row_counts(session)
    response = put(
        client,
        f"/api/regions/{shop.world.region_b.id}/listing-overrides",
        "region_manager",
        shop,
        is_listed=False,
    )
    assert_problem(response, 404, "region_not_found")  # type: ignore[arg-type]
    assert row_counts(session) == before


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({}, 422, "empty_listing_override", "is_listed"),
        ({"price_fen": -1}, 422, "validation_error", "price_fen"),
        ({"price_fen": 99.5}, 422, "validation_error", "price_fen"),
        ({"stock_source": "moon"}, 422, "validation_error", "stock_source"),
        ({"product_id": 999999, "is_listed": False}, 404, "product_not_found", "product_id"),
        ({"sku_id": 999999, "is_listed": False}, 404, "sku_not_found", "sku_id"),
    ],
)
def test_bad_overrides_are_refused(
    session: Session,
    client: TestClient,
    shop: Shop,
    body: dict[str, object],
    status: int,
    code: str,
    field: str,
) -> None:
    # given
    before = row_counts(session)
    # when
    response = client.put(
        f"/api/stores/{shop.world.direct_store.id}/listing-overrides",
        json={"product_id": shop.product.id, **body},
        headers=shop.world.headers("brand_admin"),
    )
    # then
    problem = assert_problem(response, status, code)
    assert problem["field"] == field
    assert row_counts(session) == before


def test_a_sku_of_another_product_is_refused(
    session: Session, client: TestClient, shop: Shop
) -> None:
    # given a second product
    _, other_skus = make_product(
        session, shop.world.system, make_category(session, shop.world.system), "Q"
    )
    session.commit()
    before = row_counts(session)
    # when its SKU is named under the first product
    response = put(
        client,
        f"/api/stores/{shop.world.direct_store.id}/listing-overrides",
        "brand_admin",
        shop,
        sku_id=other_skus[0].id,
        is_listed=False,
    )
    # then
    assert_problem(response, 404, "sku_not_found")  # type: ignore[arg-type]
    assert row_counts(session) == before


def test_clearing_a_missing_override_is_not_found(
    session: Session, client: TestClient, shop: Shop
) -> None:
    before = row_counts(session)
    response = client.delete(
        f"/api/stores/{shop.world.direct_store.id}/listing-overrides?product_id={shop.product.id}",
        headers=shop.world.headers("brand_admin"),
    )
    assert_problem(response, 404, "listing_override_not_found")
    assert row_counts(session) == before


def test_a_guide_reads_their_stores_overrides(
    session: Session, client: TestClient, shop: Shop
) -> None:
    # given
    world = shop.world
    make_override(
        session, world.system, store=world.direct_store, product=shop.product, is_listed=False
    )
    make_override(
        session, world.system, store=world.other_store, product=shop.product, is_listed=False
    )
    session.commit()
    # when
    own = client.get(
        f"/api/stores/{world.direct_store.id}/listing-overrides", headers=world.headers("guide")
    )
    other = client.get(
        f"/api/stores/{world.other_store.id}/listing-overrides", headers=world.headers("guide")
    )
    # then
    assert [o["is_listed"] for o in own.json()] == [False]
    assert_problem(other, 404, "store_not_found")
