"""The catalog's staff API: categories, products and SKUs; HQ writes, every staff role reads."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.audit.models import AuditEntry
from siyu.catalog.models import Category, Product
from siyu.outbox.models import OutboxEvent
from tests.factories import World, build_world
from tests.factories_catalog import make_category, make_product
from tests.helpers import assert_problem, row_counts

WRITERS = {"brand_admin", "hq_operator"}
REFUSED = ["region_manager", "franchisee_owner", "store_manager", "guide", "integration"]


@pytest.fixture
def world(session: Session) -> World:
    built = build_world(session)
    session.commit()
    return built


@pytest.fixture
def tops(session: Session, world: World) -> Category:
    apparel = make_category(session, world.system, "APPAREL")
    category = make_category(session, world.system, "TOPS", apparel)
    session.commit()
    return category


def tee_body(category_id: int, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "code": "JX-TEE-001",
        "name": "Organic cotton tee 有机棉T恤",
        "category_id": category_id,
        "images": ["https://img.example.com/tee/1.jpg"],
        "skus": [
            {"code": "JX-TEE-001-M", "attributes": {"size": "M"}, "list_price_fen": 19900},
            {
                "code": "JX-TEE-001-L",
                "attributes": {"size": "L", "colour": "black"},
                "list_price_fen": 20900,
                "barcode": "6901234500011",
                "max_per_order": 3,
            },
        ],
    }
    body.update(changes)
    return body


def events_of(session: Session, event_type: str) -> list[dict[str, Any]]:
    session.expire_all()
    return [
        e.payload
        for e in session.scalars(
            select(OutboxEvent).where(OutboxEvent.event_type == event_type).order_by(OutboxEvent.id)
        )
    ]


def test_hq_creates_a_category_tree(session: Session, client: TestClient, world: World) -> None:
    # when
    parent = client.post(
        "/api/categories",
        json={"code": "APPAREL", "name": "Apparel 服装"},
        headers=world.headers("hq_operator"),
    )
    child = client.post(
        "/api/categories",
        json={"code": "TOPS", "name": "Tops", "parent_id": parent.json()["id"], "sort_order": 2},
        headers=world.headers("hq_operator"),
    )
    listing = client.get("/api/categories", headers=world.headers("guide"))
    # then
    assert parent.status_code == 201, parent.text
    assert child.status_code == 201
    assert [(c["code"], c["parent_id"], c["sort_order"]) for c in listing.json()] == [
        ("APPAREL", None, 0),
        ("TOPS", parent.json()["id"], 2),
    ]
    assert [e["code"] for e in events_of(session, "CategoryCreated")] == ["APPAREL", "TOPS"]


def test_a_category_cannot_move_below_its_own_child(
    session: Session, client: TestClient, world: World, tops: Category
) -> None:
    # given
    apparel_id = tops.parent_id
    before = row_counts(session)
    # when
    response = client.patch(
        f"/api/categories/{apparel_id}",
        json={"parent_id": tops.id},
        headers=world.headers("brand_admin"),
    )
    # then
    body = assert_problem(response, 422, "invalid_category_parent")
    assert body["field"] == "parent_id"
    assert row_counts(session) == before


def test_renaming_and_moving_a_category_to_the_top(
    session: Session, client: TestClient, world: World, tops: Category
) -> None:
    # when
    response = client.patch(
        f"/api/categories/{tops.id}",
        json={"name": "Tops 上装", "parent_id": None},
        headers=world.headers("brand_admin"),
    )
    # then
    assert response.status_code == 200, response.text
    assert (response.json()["name"], response.json()["parent_id"]) == ("Tops 上装", None)
    assert events_of(session, "CategoryChanged")[-1]["changes"] == {
        "name": "Tops 上装",
        "parent_id": None,
    }


def test_hq_creates_a_product_with_its_skus(
    session: Session, client: TestClient, world: World, tops: Category
) -> None:
    # when
    response = client.post(
        "/api/products", json=tee_body(tops.id), headers=world.headers("hq_operator")
    )
    # then
    assert response.status_code == 201, response.text
    product = response.json()
    assert (product["code"], product["status"], product["exclusive_channel"]) == (
        "JX-TEE-001",
        "active",
        None,
    )
    assert [
        (s["code"], s["attributes"], s["list_price_fen"], s["barcode"], s["max_per_order"])
        for s in product["skus"]
    ] == [
        ("JX-TEE-001-L", {"size": "L", "colour": "black"}, 20900, "6901234500011", 3),
        ("JX-TEE-001-M", {"size": "M"}, 19900, None, 99),
    ]
    assert events_of(session, "ProductCreated") == [
        {
            "product_id": product["id"],
            "code": "JX-TEE-001",
            "name": "Organic cotton tee 有机棉T恤",
            "category_id": tops.id,
            "status": "active",
            "exclusive_channel": None,
        }
    ]
    assert [e["code"] for e in events_of(session, "SkuCreated")] == [
        "JX-TEE-001-M",
        "JX-TEE-001-L",
    ]
    actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions[-3:] == ["product.create", "sku.create", "sku.create"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"code": "TAKEN"}, "code"),
        (
            {"skus": [{"code": "TAKEN-M", "list_price_fen": 100}]},
            "skus.0.code",
        ),
        (
            {
                "skus": [
                    {"code": "NEW-M", "list_price_fen": 100},
                    {"code": "NEW-M", "list_price_fen": 100},
                ]
            },
            "skus.1.code",
        ),
    ],
)
def test_codes_are_unique_in_the_brand(
    session: Session,
    client: TestClient,
    world: World,
    tops: Category,
    change: dict[str, Any],
    field: str,
) -> None:
    # given a product TAKEN with SKU TAKEN-M
    make_product(session, world.system, tops, "TAKEN", sizes=("M",))
    session.commit()
    before = row_counts(session)
    # when
    response = client.post(
        "/api/products", json=tee_body(tops.id, **change), headers=world.headers("brand_admin")
    )
    # then
    body = assert_problem(response, 409, "duplicate_code")
    assert body["field"] == field
    assert row_counts(session) == before


@pytest.mark.parametrize(
    ("sku", "field"),
    [
        ({"code": "X-1", "list_price_fen": -1}, "list_price_fen"),
        ({"code": "X-1", "list_price_fen": 199.5}, "list_price_fen"),
        ({"code": "X-1", "list_price_fen": "19900"}, "list_price_fen"),
        ({"code": "X-1", "list_price_fen": 100, "max_per_order": 0}, "max_per_order"),
        ({"code": "X 1", "list_price_fen": 100}, "code"),
    ],
)
def test_bad_skus_are_refused(
    session: Session,
    client: TestClient,
    world: World,
    tops: Category,
    sku: dict[str, Any],
    field: str,
) -> None:
    # given
    before = row_counts(session)
    # when
    response = client.post(
        "/api/products", json=tee_body(tops.id, skus=[sku]), headers=world.headers("brand_admin")
    )
    # then
    body = assert_problem(response, 422, "validation_error")
    assert str(body["field"]).endswith(field), body
    assert row_counts(session) == before


def test_an_unknown_category_is_refused(session: Session, client: TestClient, world: World) -> None:
    # given
    before = row_counts(session)
    # when
    response = client.post(
        "/api/products", json=tee_body(999_999), headers=world.headers("brand_admin")
    )
    # then
    body = assert_problem(response, 404, "category_not_found")
    assert body["field"] == "category_id"
    assert row_counts(session) == before


@pytest.mark.parametrize("who", REFUSED)
def test_only_hq_changes_the_catalog(
    session: Session, client: TestClient, world: World, tops: Category, who: str
) -> None:
    # given
    product, skus = make_product(session, world.system, tops, "TEE")
    session.commit()
    before = row_counts(session)
    # when each write is attempted
    responses = [
        client.post("/api/categories", json={"code": "X", "name": "X"}, headers=world.headers(who)),
        client.patch(f"/api/categories/{tops.id}", json={"name": "X"}, headers=world.headers(who)),
        client.post("/api/products", json=tee_body(tops.id), headers=world.headers(who)),
        client.patch(f"/api/products/{product.id}", json={"name": "X"}, headers=world.headers(who)),
        client.post(
            f"/api/products/{product.id}/skus",
            json={"code": "TEE-XL", "list_price_fen": 100},
            headers=world.headers(who),
        ),
        client.patch(
            f"/api/skus/{skus[0].id}", json={"list_price_fen": 1}, headers=world.headers(who)
        ),
    ]
    # then every one is refused and nothing was written
    for response in responses:
        body = assert_problem(response, 403, "permission_denied")
        assert body["permission"] == "catalog:write"
    assert row_counts(session) == before


@pytest.mark.parametrize("who", ["guide", "store_manager", "integration"])
def test_every_staff_role_reads_the_catalog(
    session: Session, client: TestClient, world: World, tops: Category, who: str
) -> None:
    # given
    product, _ = make_product(session, world.system, tops, "TEE")
    session.commit()
    # when
    listing = client.get("/api/products", headers=world.headers(who))
    detail = client.get(f"/api/products/{product.id}", headers=world.headers(who))
    # then
    assert listing.status_code == 200
    assert [p["code"] for p in listing.json()["items"]] == ["TEE"]
    assert [s["code"] for s in detail.json()["skus"]] == ["TEE-M", "TEE-S"]


def test_products_are_listed_by_code_with_search_category_and_pages(
    session: Session, client: TestClient, world: World, tops: Category
) -> None:
    # given products in TOPS (below APPAREL) and in SHOES
    shoes = make_category(session, world.system, "SHOES")
    make_product(session, world.system, tops, "TEE-B", price_fen=100, sizes=("S", "M", "L"))
    make_product(session, world.system, tops, "TEE-A")
    make_product(session, world.system, shoes, "RUN-1")
    session.commit()
    headers = world.headers("brand_admin")
    apparel = tops.parent_id

    def codes(query: str) -> list[str]:
        response = client.get(f"/api/products{query}", headers=headers)
        assert response.status_code == 200, response.text
        return [p["code"] for p in response.json()["items"]]

    # then
    assert codes("") == ["RUN-1", "TEE-A", "TEE-B"]
    assert codes(f"?category_id={apparel}") == ["TEE-A", "TEE-B"]
    assert codes(f"?category_id={shoes.id}") == ["RUN-1"]
    assert codes("?q=tee") == ["TEE-A", "TEE-B"]
    assert codes("?q=RUN-1-M") == ["RUN-1"]
    assert codes("?limit=1&offset=1") == ["TEE-A"]
    page = client.get("/api/products?q=TEE-B", headers=headers).json()
    assert page["total"] == 1
    assert {k: page["items"][0][k] for k in ("sku_count", "min_list_price_fen")} == {
        "sku_count": 3,
        "min_list_price_fen": 100,
    }


def test_changing_a_product_and_a_sku(
    session: Session, client: TestClient, world: World, tops: Category
) -> None:
    # given
    product, skus = make_product(session, world.system, tops, "TEE")
    session.commit()
    headers = world.headers("hq_operator")
    # when
    changed = client.patch(
        f"/api/products/{product.id}",
        json={"status": "archived", "exclusive_channel": "mini_program"},
        headers=headers,
    )
    sku = client.patch(
        f"/api/skus/{skus[0].id}",
        json={"list_price_fen": 17900, "barcode": "123", "status": "inactive"},
        headers=headers,
    )
    added = client.post(
        f"/api/products/{product.id}/skus",
        json={"code": "TEE-XL", "attributes": {"size": "XL"}, "list_price_fen": 21900},
        headers=headers,
    )
    same = client.patch(f"/api/skus/{skus[0].id}", json={"list_price_fen": 17900}, headers=headers)
    # then
    assert changed.status_code == 200, changed.text
    assert (changed.json()["status"], changed.json()["exclusive_channel"]) == (
        "archived",
        "mini_program",
    )
    assert (sku.json()["list_price_fen"], sku.json()["barcode"], sku.json()["status"]) == (
        17900,
        "123",
        "inactive",
    )
    assert added.status_code == 201
    assert same.status_code == 200
    assert events_of(session, "ProductChanged")[-1]["changes"] == {
        "status": "archived",
        "exclusive_channel": "mini_program",
    }
    assert events_of(session, "SkuChanged") == [
        {
            "sku_id": skus[0].id,
            "product_id": product.id,
            "changes": {"list_price_fen": 17900, "barcode": "123", "status": "inactive"},
        }
    ]
    session.expire_all()
    assert session.get(Product, (world.brand.id, product.id)).status == "archived"  # type: ignore[union-attr]


def test_unknown_products_and_skus_are_not_found(
    session: Session, client: TestClient, world: World
) -> None:
    headers = world.headers("brand_admin")
    assert_problem(client.get("/api/products/999999", headers=headers), 404, "product_not_found")
    assert_problem(
        client.patch("/api/skus/999999", json={"status": "inactive"}, headers=headers),
        404,
        "sku_not_found",
    )
    assert_problem(
        client.patch("/api/categories/999999", json={"name": "x"}, headers=headers),
        404,
        "category_not_found",
    )
