"""Two brands in one deployment never see each other.

Every API route is walked with brand A's most powerful tokens against brand B's objects: each
answers 404 and brand B's rows are byte-for-byte unchanged. The walk is generated from the app's
routes, so a new route is covered (or this test fails until it is).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from siyu.access.models import ApiToken
from siyu.aftersales.models import AfterSale, Complaint
from siyu.catalog.models import Product, Sku
from siyu.db.models import Base
from siyu.db.session import make_database
from siyu.members.models import Member
from siyu.orders.models import Order
from siyu.settlement.models import Statement
from siyu.settlement.schemas import SettlementRuleIn
from siyu.settlement.service import run_settlement, set_settlement_rule
from siyu.touchpoints.runs import start_run
from siyu.touchpoints.schemas import StoreCodesRequest
from siyu.web.app import create_app
from tests.factories import World, build_world
from tests.factories_aftersales import seed_after_sales
from tests.factories_catalog import make_category, make_product
from tests.factories_consent import make_member
from tests.factories_consumers import make_address, make_consumer, make_payment
from tests.factories_segments import make_segment, make_tag
from tests.factories_touchpoints import make_touchpoint
from tests.factories_tracking import event, make_write_key, post_events, stored_events

# Bodies that would be valid for brand B's objects, so only the brand boundary can refuse them.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("PATCH", "/api/regions/{region_id}"): {"name": "Taken over"},
    ("PATCH", "/api/franchisees/{franchisee_id}"): {"name": "Taken over"},
    ("PATCH", "/api/stores/{store_id}"): {"name": "Taken over", "status": "closed"},
    ("PATCH", "/api/stock-locations/{location_id}"): {"name": "Taken over"},
    ("PATCH", "/api/staff/{staff_id}"): {"name": "Taken over", "active": False},
    ("PUT", "/api/staff/{staff_id}/password"): {"password": "a-new-password-123"},
    ("POST", "/api/stock-locations/{location_id}/stock/receipts"): {"sku_id": 1, "quantity": 5},
    ("POST", "/api/stock-locations/{location_id}/stock/adjustments"): {
        "sku_id": 1,
        "on_hand": 0,
        "reason": "Taken over",
    },
    ("PATCH", "/api/categories/{category_id}"): {"name": "Taken over"},
    ("PATCH", "/api/products/{product_id}"): {"name": "Taken over", "status": "archived"},
    ("PATCH", "/api/skus/{sku_id}"): {"list_price_fen": 1},
    ("POST", "/api/products/{product_id}/skus"): {"code": "X-1", "list_price_fen": 1},
    ("PUT", "/api/franchisees/{franchisee_id}/settlement-rule"): {"commission_bps": 1},
    ("POST", "/api/stores/{store_id}/pickups"): {"pickup_code": "12345678"},
    ("POST", "/api/orders/{order_id}/shipments"): {"carrier": "SF", "tracking_number": "SF1"},
    ("POST", "/api/after-sales/{after_sale_id}/approve"): {"note": "Taken over"},
    ("POST", "/api/after-sales/{after_sale_id}/reject"): {"note": "Taken over"},
    ("POST", "/api/after-sales/{after_sale_id}/receive"): {"lines": []},
    ("POST", "/api/complaints/{complaint_id}/answer"): {"response": "Taken over"},
    ("POST", "/api/complaints/{complaint_id}/assign"): {"owner_staff_id": 1},
    ("POST", "/api/complaints/{complaint_id}/close"): {"note": "Taken over"},
    ("PATCH", "/api/touchpoints/{touchpoint_id}"): {"name": "Taken over", "active": False},
    ("POST", "/api/touchpoints/{touchpoint_id}/codes"): {"label": "Taken over"},
    ("PATCH", "/api/touchpoints/{touchpoint_id}/codes/{code_id}"): {
        "label": "Taken over",
        "active": False,
    },
    ("POST", "/api/members/{member_id}/consent/opt-outs"): {"channels": ["sms"]},
    ("POST", "/api/members/{member_id}/points/adjustments"): {"delta": 100, "reason": "Taken over"},
    ("PATCH", "/api/tags/{tag_id}"): {"name": "Taken over"},
    ("POST", "/api/members/{member_id}/tags"): {"tag_id": 1},
    ("POST", "/api/members/{member_id}/guide-tags"): {"tag_id": 1, "guide_staff_id": 1},
    ("PATCH", "/api/segments/{segment_id}"): {"name": "Taken over"},
    ("POST", "/api/segments/{segment_id}/tagging"): {"tag_id": 1},
}
# Headers a route needs besides the token (so only the brand boundary can refuse it).
HEADERS: dict[tuple[str, str], dict[str, str]] = {
    ("POST", "/api/members/{member_id}/points/adjustments"): {"Idempotency-Key": "tenancy-walk-1"},
}
# Query strings that would be valid for brand B's objects (filled with the same parameters).
QUERIES: dict[tuple[str, str], str] = {
    ("DELETE", "/api/stores/{store_id}/listing-overrides"): "?product_id={product_id}",
    ("DELETE", "/api/regions/{region_id}/listing-overrides"): "?product_id={product_id}",
    ("GET", "/api/stores/{store_id}/pickups"): "?code=12345678",
    ("GET", "/api/reports/private-domain-share"): "?from=2026-11-01&to=2026-11-02"
    "&store_id={store_id}",
    ("GET", "/api/reports/touchpoints"): "?store_id={store_id}&touchpoint_id={touchpoint_id}",
}


def _catalog_bodies(params: dict[str, int]) -> dict[tuple[str, str], dict[str, Any]]:
    """Bodies naming brand B's catalog objects."""
    override = {"product_id": params["product_id"], "sku_id": params["sku_id"], "price_fen": 1}
    return {
        ("PUT", "/api/stores/{store_id}/listing-overrides"): override,
        ("PUT", "/api/regions/{region_id}/listing-overrides"): override,
        ("POST", "/api/categories"): {
            "code": "X1",
            "name": "X",
            "parent_id": params["category_id"],
        },
        ("POST", "/api/products"): {
            "code": "X1",
            "name": "X",
            "category_id": params["category_id"],
        },
    }


def _cross_brand_creates(b: World) -> dict[tuple[str, str], dict[str, Any]]:
    """Creates in brand A that point at brand B's objects."""
    return {
        ("POST", "/api/stores"): {"code": "X1", "name": "X", "region_id": b.region_a.id},
        ("POST", "/api/staff"): {
            "code": "X1",
            "name": "X",
            "role": "guide",
            "store_id": b.direct_store.id,
        },
        ("POST", "/api/warehouses"): {"code": "X1", "name": "X", "region_id": b.region_a.id},
        ("POST", "/api/touchpoints/store-codes"): {
            "kind": "shelf_code",
            "store_ids": [b.direct_store.id],
        },
        ("POST", "/api/touchpoints/store-codes/runs"): {
            "kind": "shelf_code",
            "store_ids": [b.direct_store.id],
        },
        ("POST", "/api/touchpoints"): {
            "code": "X1",
            "name": "X",
            "kind": "poster",
            "store_id": b.direct_store.id,
        },
        # not a create: a report whose query names brand B's store (walked like one)
        ("GET", "/api/reports/private-domain-share"): {},
        ("GET", "/api/reports/touchpoints"): {},
        ("POST", "/api/members/{member_id}/merges"): {"other_member_id": OTHER_MEMBERS[b.brand.id]},
    }


def _params(b: World, b_token_id: int, catalog: dict[str, int]) -> dict[str, int]:
    return {
        **catalog,
        "region_id": b.region_a.id,
        "franchisee_id": b.franchisee.id,
        "store_id": b.direct_store.id,
        "location_id": b.warehouse.id,
        "staff_id": b.staff["guide"].id,
        "token_id": b_token_id,
        "touchpoint_id": _touchpoint_of(b),
        "code_id": STORE_CODES[b.brand.id][0],
        "run_id": STORE_CODES[b.brand.id][1],
        "member_id": CONSENT_MEMBERS[b.brand.id],
        "write_key_id": WRITE_KEYS[b.brand.id],
        "segment_id": SEGMENTS[b.brand.id][0],
        "tag_id": SEGMENTS[b.brand.id][1],
    }


def _touchpoint_of(b: World) -> int:
    return TOUCHPOINTS[b.brand.id][0]


# brand id -> (touchpoint id, scene key) of the touchpoint seeded in two_brands
TOUCHPOINTS: dict[int, tuple[int, str]] = {}
# brand id -> the storefront write key (tracking) seeded in two_brands
WRITE_KEYS: dict[int, int] = {}
# brand id -> (code id of that touchpoint, bulk code run id) seeded in two_brands
STORE_CODES: dict[int, tuple[int, int]] = {}
# brand id -> a member seeded in two_brands (consent routes name it)
CONSENT_MEMBERS: dict[int, int] = {}
# brand id -> another member of brand B (the merge route names both)
OTHER_MEMBERS: dict[int, int] = {}
# brand id -> (segment id, tag id) seeded in two_brands
SEGMENTS: dict[int, tuple[int, int]] = {}


def _brand_rows(session: Session, brand_id: int) -> dict[str, list[Any]]:
    """Every row brand B owns, in every tenant table, in a stable order."""
    rows: dict[str, list[Any]] = {}
    for table in Base.metadata.sorted_tables:
        if "brand_id" not in table.c:
            continue
        result = session.execute(
            text(f"SELECT * FROM {table.name} WHERE brand_id = :b ORDER BY 1, 2"),
            {"b": brand_id},
        )
        rows[table.name] = [tuple(r) for r in result]
    return rows


def _make_catalog(session: Session, world: World) -> dict[str, int]:
    """A category, a product and its SKUs in ``world``'s brand: the catalog's path params."""
    category = make_category(session, world.system)
    product, skus = make_product(session, world.system, category)
    return {"category_id": category.id, "product_id": product.id, "sku_id": skus[0].id}


def _settle_october(session: Session, world: World) -> None:
    """A settled period in ``world``'s brand, so it has a statement."""
    set_settlement_rule(session, world.system, None, SettlementRuleIn(commission_bps=500))
    run_settlement(
        session, world.system, period_start=date(2026, 10, 1), period_end=date(2026, 11, 1)
    )


def _settlement_of(session: Session, brand_id: int) -> dict[str, int]:
    statement_id = session.scalar(select(Statement.id).where(Statement.brand_id == brand_id))
    assert statement_id is not None
    return {"statement_id": statement_id}


def _catalog_of(session: Session, brand_id: int) -> dict[str, int]:
    sku = session.scalars(select(Sku).where(Sku.brand_id == brand_id).order_by(Sku.id)).first()
    assert sku is not None
    category_id = session.scalar(
        select(Product.category_id).where(
            Product.brand_id == brand_id, Product.id == sku.product_id
        )
    )
    assert category_id is not None
    return {"category_id": category_id, "product_id": sku.product_id, "sku_id": sku.id}


def _after_sales_of(session: Session, brand_id: int) -> dict[str, int]:
    after_sale_id = session.scalar(select(AfterSale.id).where(AfterSale.brand_id == brand_id))
    complaint_id = session.scalar(select(Complaint.id).where(Complaint.brand_id == brand_id))
    assert after_sale_id is not None and complaint_id is not None
    return {"after_sale_id": after_sale_id, "complaint_id": complaint_id}


def _orders_of(session: Session, brand_id: int) -> dict[str, int]:
    order_id = session.scalar(select(Order.id).where(Order.brand_id == brand_id))
    assert order_id is not None
    return {"order_id": order_id}


@pytest.fixture
def two_brands(session: Session) -> tuple[World, World, int]:
    a = build_world(session)
    b = build_world(session)
    _make_catalog(session, a)
    _make_catalog(session, b)
    _settle_october(session, b)
    make_payment(
        session, make_consumer(session, b.brand, "bob"), b.direct_store.id, number="B-ORDER-1"
    )
    seed_after_sales(session, b)
    touchpoint = make_touchpoint(session, b.system, store_id=b.direct_store.id)
    TOUCHPOINTS[b.brand.id] = (touchpoint.touchpoint.id, touchpoint.codes[0].scene_key)
    run = start_run(session, b.system, StoreCodesRequest(kind="poster"))
    STORE_CODES[b.brand.id] = (touchpoint.codes[0].id, run.id)
    CONSENT_MEMBERS[b.brand.id] = make_member(session, b).id
    WRITE_KEYS[b.brand.id] = make_write_key(session, b.system)[0].id
    SEGMENTS[b.brand.id] = (
        make_segment(session, b.system, {"tier": {"in": ["gold"]}}).id,
        make_tag(session, b.system, "vip").id,
    )
    OTHER_MEMBERS[b.brand.id] = (
        session.scalars(
            select(Member.id)
            .where(Member.brand_id == b.brand.id, Member.id != CONSENT_MEMBERS[b.brand.id])
            .order_by(Member.id)
        ).first()
        or 0
    )
    b_token_id = session.query(ApiToken.id).filter(ApiToken.brand_id == b.brand.id).first()
    session.commit()
    assert b_token_id is not None
    return a, b, b_token_id[0]


def api_operations() -> list[tuple[str, str, list[str]]]:
    """(method, path, path parameter names) of every documented /api operation."""
    app = create_app(make_database("postgresql+psycopg://unused@/unused"))
    operations = []
    for path, methods in app.openapi()["paths"].items():
        # The storefront answers consumers, not staff: its own walk uses consumer tokens.
        if not path.startswith("/api") or path.startswith("/api/storefront"):
            continue
        for method in methods:
            operations.append((method.upper(), path, re.findall(r"{(\w+)}", path)))
    return sorted(operations)


@pytest.mark.parametrize("who", ["brand_admin", "integration"])
def test_brand_a_cannot_reach_any_object_of_brand_b(
    session: Session, client: TestClient, two_brands: tuple[World, World, int], who: str
) -> None:
    # given two brands, and a snapshot of everything brand B owns
    a, b, b_token_id = two_brands
    params = (
        _params(
            b, b_token_id, _catalog_of(session, b.brand.id) | _settlement_of(session, b.brand.id)
        )
        | _orders_of(session, b.brand.id)
        | _after_sales_of(session, b.brand.id)
    )
    creates = _cross_brand_creates(b) | _catalog_bodies(params)
    before = _brand_rows(session, b.brand.id)
    walked = 0
    # when brand A's token calls every route that names an object
    for method, path, path_params in api_operations():
        if not path_params and (method, path) not in creates:
            continue
        unknown = [p for p in path_params if p not in params]
        assert not unknown, f"{method} {path}: add {unknown} to _params"
        url = (path + QUERIES.get((method, path), "")).format(**params)
        body = BODIES.get((method, path)) or creates.get((method, path))
        headers = a.headers(who) | HEADERS.get((method, path), {})
        response = client.request(method, url, json=body, headers=headers)
        walked += 1
        # then it is told the object does not exist (an integration token without the
        # permission may be refused first: never a success, never a leak)
        allowed = {404} if who == "brand_admin" else {403, 404}
        assert response.status_code in allowed, (method, url, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    # and nothing of brand B changed
    session.expire_all()
    assert _brand_rows(session, b.brand.id) == before
    assert walked >= 15


def test_lists_never_include_another_brands_rows(
    client: TestClient, two_brands: tuple[World, World, int]
) -> None:
    # given two brands with the same shape
    a, b, _ = two_brands
    # when brand A's admin lists everything
    stores = client.get("/api/stores", headers=a.headers("brand_admin")).json()
    staff = client.get("/api/staff", headers=a.headers("brand_admin")).json()
    regions = client.get("/api/regions", headers=a.headers("brand_admin")).json()
    audit = client.get("/api/audit?limit=1000", headers=a.headers("brand_admin")).json()
    # then only brand A's rows come back
    assert {s["id"] for s in stores["items"]} == {
        a.direct_store.id,
        a.franchise_store.id,
        a.other_store.id,
    }
    assert {s["id"] for s in staff["items"]} == {s.id for s in a.staff.values()}
    assert {r["id"] for r in regions} == {a.region_a.id, a.region_b.id}
    b_ids = {str(s.id) for s in b.staff.values()} | {str(b.direct_store.id)}
    assert audit["total"] > 0
    assert not [
        e
        for e in audit["items"]
        if e["object_type"] == "staff"
        and e["object_id"] in b_ids
        and e["object_id"] not in {str(s.id) for s in a.staff.values()}
    ]


def storefront_operations() -> list[tuple[str, str, list[str]]]:
    app = create_app(make_database("postgresql+psycopg://unused@/unused"))
    operations = []
    for path, methods in app.openapi()["paths"].items():
        if path.startswith("/api/storefront"):
            for method in methods:
                operations.append((method.upper(), path, re.findall(r"{(\w+)}", path)))
    return sorted(operations)


STOREFRONT_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("PUT", "/api/storefront/stores/{store_id}/cart/lines/{sku_id}"): {"quantity": 1},
    ("PATCH", "/api/storefront/addresses/{address_id}"): {"recipient": "Taken over"},
    ("POST", "/api/storefront/stores/{store_id}/orders"): {
        "lines": [{"sku_id": 1, "quantity": 1}],
        "fulfilment_method": "pickup",
    },
    ("POST", "/api/storefront/orders/{order_id}/after-sales"): {
        "kind": "refund_only",
        "reason": "Taken over",
        "lines": [{"order_line_id": 1, "quantity": 1}],
        "requested_refund_fen": 1,
    },
}


def test_a_consumer_of_brand_a_cannot_write_events_into_brand_b(
    session: Session, client: TestClient, two_brands: tuple[World, World, int]
) -> None:
    # given brand A's consumer, and brand B's store, product, SKU and scene key
    a, b, _ = two_brands
    shopper_a = make_consumer(session, a.brand, "alice")
    session.commit()
    catalog_b = _catalog_of(session, b.brand.id)
    before = _brand_rows(session, b.brand.id)
    # when the consumer sends events naming them (POST /api/storefront/events names no object
    # in its path, so the walk above does not reach it)
    response = post_events(
        client,
        shopper_a.headers,
        [
            event("view_item", store_id=b.direct_store.id),
            event("view_item", store_code=b.direct_store.code),
            event("view_item", product_id=catalog_b["product_id"]),
            event("view_item", sku_id=catalog_b["sku_id"]),
            event("scan", event_id="b-scan", scene=1047, scene_key=TOUCHPOINTS[b.brand.id][1]),
        ],
    )
    # then brand B's objects are unknown to brand A, and B's scene key an unknown source
    assert response.status_code == 200, response.text
    assert [(r["index"], r["code"]) for r in response.json()["rejected"]] == [
        (0, "unknown_store"),
        (1, "unknown_store"),
        (2, "unknown_product"),
        (3, "unknown_sku"),
    ]
    [scan] = stored_events(session, a.brand.id)
    assert (scan.event_id, scan.touchpoint_id) == ("b-scan", None)
    # and nothing of brand B changed
    session.expire_all()
    assert _brand_rows(session, b.brand.id) == before


def test_a_consumer_of_brand_a_cannot_reach_brand_b(
    session: Session, client: TestClient, two_brands: tuple[World, World, int]
) -> None:
    # given a consumer of each brand; brand B's consumer has an address and an order
    a, b, _ = two_brands
    shopper_a = make_consumer(session, a.brand, "alice")
    shopper_b = make_consumer(session, b.brand, "bob")
    address_b = make_address(session, shopper_b)
    session.commit()
    params: dict[str, Any] = _catalog_of(session, b.brand.id) | _orders_of(session, b.brand.id)
    params |= _after_sales_of(session, b.brand.id)
    params |= {"store_id": b.direct_store.id, "address_id": address_b.id}
    params["scene_key"] = TOUCHPOINTS[b.brand.id][1]
    before = _brand_rows(session, b.brand.id)
    walked = 0
    # when brand A's consumer calls every storefront route that names an object
    for method, path, path_params in storefront_operations():
        if not path_params:
            continue
        unknown = [p for p in path_params if p not in params]
        assert not unknown, f"{method} {path}: add {unknown} to the storefront params"
        body = STOREFRONT_BODIES.get((method, path), {})
        headers = dict(shopper_a.headers)
        if method == "POST":
            headers["Idempotency-Key"] = "tenancy-walk-1"
        response = client.request(method, path.format(**params), json=body or None, headers=headers)
        walked += 1
        if path == "/api/storefront/scenes/{scene_key}":
            # then another brand's scene key is an unknown source, never an error
            assert response.status_code == 200, response.text
            assert response.json()["known"] is False
            continue
        # then the object does not exist for them
        assert response.status_code == 404, (method, path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    session.expire_all()
    assert _brand_rows(session, b.brand.id) == before
    assert walked >= 8
