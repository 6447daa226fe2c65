"""Stock levels through the API: receipts, adjustments, reading levels and the ledger, and
who may do what where."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.access.service import actor_for_staff
from siyu.audit.models import AuditEntry
from siyu.catalog.models import Sku
from siyu.inventory.models import StockLevel, StockMovement
from siyu.inventory.rules import HoldRequest
from siyu.inventory.service import list_sku_levels, reserve_stock
from siyu.org.models import StockLocation
from siyu.outbox.models import OutboxEvent
from tests.factories import World, build_world
from tests.factories_inventory import location_of, make_sku, stock
from tests.helpers import assert_problem, row_counts

WRITERS = ["brand_admin", "hq_operator", "region_manager", "franchisee_owner", "store_manager"]


class Shop:
    def __init__(self, world: World, sku: Sku, direct: StockLocation) -> None:
        self.world = world
        self.sku = sku
        self.direct = direct


@pytest.fixture
def shop(session: Session) -> Shop:
    world = build_world(session)
    sku = make_sku(session, world.brand.id, "TEE-M")
    direct = location_of(session, world.direct_store)
    session.commit()
    return Shop(world, sku, direct)


def _level(session: Session, location_id: int, sku_id: int) -> tuple[int, int, int] | None:
    session.expire_all()
    row = session.execute(
        select(StockLevel.on_hand, StockLevel.reserved, StockLevel.allocated).where(
            StockLevel.location_id == location_id, StockLevel.sku_id == sku_id
        )
    ).one_or_none()
    return None if row is None else (row[0], row[1], row[2])


def _receipts(location_id: int) -> str:
    return f"/api/stock-locations/{location_id}/stock/receipts"


def _adjustments(location_id: int) -> str:
    return f"/api/stock-locations/{location_id}/stock/adjustments"


# ---------------------------------------------------------------- receipts


def test_a_receipt_raises_on_hand_with_a_movement_an_audit_entry_and_an_event(
    client: TestClient, session: Session, shop: Shop
) -> None:
    # given 3 units already on hand
    client.post(
        _receipts(shop.direct.id),
        json={"sku_id": shop.sku.id, "quantity": 3},
        headers=shop.world.headers("store_manager"),
    )
    # when the store manager receives 12 more
    response = client.post(
        _receipts(shop.direct.id),
        json={"sku_id": shop.sku.id, "quantity": 12, "reference": "DN-2024-001"},
        headers=shop.world.headers("store_manager"),
    )
    # then
    assert response.status_code == 201, response.text
    body = response.json()
    del body["updated_at"]
    assert body == {
        "location_id": shop.direct.id,
        "sku_id": shop.sku.id,
        "sku_code": "TEE-M",
        "on_hand": 15,
        "reserved": 0,
        "allocated": 0,
        "available": 15,
    }
    assert _level(session, shop.direct.id, shop.sku.id) == (15, 0, 0)
    movement = session.scalars(select(StockMovement).order_by(StockMovement.id.desc())).first()
    assert movement is not None
    assert (movement.kind, movement.on_hand_delta, movement.reference) == (
        "receipt",
        12,
        "DN-2024-001",
    )
    assert movement.actor_label == shop.world.staff["store_manager"].name
    audit = session.scalars(
        select(AuditEntry)
        .where(AuditEntry.action == "stock_level.receive")
        .order_by(AuditEntry.id.desc())
    ).first()
    assert audit is not None
    assert audit.object_id == f"{shop.direct.id}:{shop.sku.id}"
    assert audit.before == {"on_hand": 3, "reserved": 0, "allocated": 0}
    assert audit.after == {"on_hand": 15, "reserved": 0, "allocated": 0, "reference": "DN-2024-001"}
    event = session.scalars(
        select(OutboxEvent)
        .where(OutboxEvent.event_type == "StockReceived")
        .order_by(OutboxEvent.id.desc())
    ).first()
    assert event is not None
    assert event.aggregate_id == f"{shop.direct.id}:{shop.sku.id}"
    assert event.payload == {
        "location_id": shop.direct.id,
        "sku_id": shop.sku.id,
        "quantity": 12,
        "on_hand": 15,
        "reference": "DN-2024-001",
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"quantity": 0}, "quantity"),
        ({"quantity": -4}, "quantity"),
        ({"quantity": 1_000_000_001}, "quantity"),
        ({"quantity": "many"}, "quantity"),
    ],
)
def test_a_receipt_of_a_bad_quantity_is_refused(
    client: TestClient, session: Session, shop: Shop, body: dict[str, Any], field: str
) -> None:
    before = row_counts(session)
    response = client.post(
        _receipts(shop.direct.id),
        json={"sku_id": shop.sku.id, **body},
        headers=shop.world.headers("brand_admin"),
    )
    problem = assert_problem(response, 422, "validation_error")
    assert problem["field"] == field
    assert row_counts(session) == before


def test_a_receipt_of_an_unknown_sku_is_not_found(
    client: TestClient, session: Session, shop: Shop
) -> None:
    other_brand = build_world(session)
    foreign = make_sku(session, other_brand.brand.id)
    session.commit()
    before = row_counts(session)
    for sku_id in (999_999, foreign.id):
        response = client.post(
            _receipts(shop.direct.id),
            json={"sku_id": sku_id, "quantity": 1},
            headers=shop.world.headers("brand_admin"),
        )
        problem = assert_problem(response, 404, "sku_not_found")
        assert problem["field"] == "sku_id"
    assert row_counts(session) == before


def test_receiving_past_the_largest_count_is_refused(
    client: TestClient, session: Session, shop: Shop
) -> None:
    stock(session, shop.world.system, shop.direct.id, shop.sku, 1_000_000_000)
    session.commit()
    before = row_counts(session)
    response = client.post(
        _receipts(shop.direct.id),
        json={"sku_id": shop.sku.id, "quantity": 1},
        headers=shop.world.headers("brand_admin"),
    )
    assert_problem(response, 422, "invalid_quantity")
    assert row_counts(session) == before
    assert _level(session, shop.direct.id, shop.sku.id) == (1_000_000_000, 0, 0)


# ---------------------------------------------------------------- adjustments


def test_an_adjustment_sets_or_moves_on_hand_with_its_reason(
    client: TestClient, session: Session, shop: Shop
) -> None:
    headers = shop.world.headers("store_manager")
    # when a count sets 8 units (no level yet), then 2 are found damaged
    counted = client.post(
        _adjustments(shop.direct.id),
        json={"sku_id": shop.sku.id, "on_hand": 8, "reason": "stocktake"},
        headers=headers,
    )
    damaged = client.post(
        _adjustments(shop.direct.id),
        json={"sku_id": shop.sku.id, "delta": -2, "reason": "damaged"},
        headers=headers,
    )
    # then
    assert counted.status_code == 200, counted.text
    assert counted.json()["on_hand"] == 8
    assert damaged.json()["on_hand"] == 6
    assert damaged.json()["available"] == 6
    assert _level(session, shop.direct.id, shop.sku.id) == (6, 0, 0)
    movements = session.execute(
        select(StockMovement.kind, StockMovement.on_hand_delta, StockMovement.reference).order_by(
            StockMovement.id
        )
    ).all()
    assert [tuple(m) for m in movements] == [
        ("adjustment", 8, "stocktake"),
        ("adjustment", -2, "damaged"),
    ]
    events = session.scalars(
        select(OutboxEvent.payload)
        .where(OutboxEvent.event_type == "StockAdjusted")
        .order_by(OutboxEvent.id)
    ).all()
    assert [(e["on_hand_before"], e["on_hand"], e["reason"]) for e in events] == [
        (0, 8, "stocktake"),
        (6 + 2, 6, "damaged"),
    ]
    audits = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "stock_level.adjust").order_by(AuditEntry.id)
    ).all()
    assert [(a.before, a.after) for a in audits] == [
        ({"on_hand": 0}, {"on_hand": 8, "reason": "stocktake"}),
        ({"on_hand": 8}, {"on_hand": 6, "reason": "damaged"}),
    ]


def test_an_adjustment_that_changes_nothing_writes_nothing(
    client: TestClient, session: Session, shop: Shop
) -> None:
    stock(session, shop.world.system, shop.direct.id, shop.sku, 5)
    session.commit()
    before = row_counts(session)
    response = client.post(
        _adjustments(shop.direct.id),
        json={"sku_id": shop.sku.id, "on_hand": 5, "reason": "recount"},
        headers=shop.world.headers("brand_admin"),
    )
    assert response.status_code == 200
    assert response.json()["on_hand"] == 5
    assert row_counts(session) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"on_hand": 4, "reason": "stocktake"}, "on_hand"),
        ({"delta": -7, "reason": "lost"}, "delta"),
        ({"delta": -11, "reason": "lost"}, "delta"),
    ],
)
def test_an_adjustment_below_what_is_promised_is_refused(
    client: TestClient, session: Session, shop: Shop, body: dict[str, Any], field: str
) -> None:
    # given 10 on hand, 5 of them held by a cart
    stock(session, shop.world.system, shop.direct.id, shop.sku, 10)
    reserve_stock(
        session,
        shop.world.brand.id,
        [HoldRequest(shop.direct.id, shop.sku.id, 5)],
        holder_kind="cart",
        holder_id=1,
        expires_at=None,
        actor_label="test",
    )
    session.commit()
    before = row_counts(session)
    # when
    response = client.post(
        _adjustments(shop.direct.id),
        json={"sku_id": shop.sku.id, **body},
        headers=shop.world.headers("brand_admin"),
    )
    # then
    problem = assert_problem(response, 409, "stock_below_promised")
    assert problem["field"] == field
    assert row_counts(session) == before
    assert _level(session, shop.direct.id, shop.sku.id) == (10, 5, 0)


def test_a_negative_adjustment_of_a_sku_without_stock_is_refused_and_writes_nothing(
    client: TestClient, session: Session, shop: Shop
) -> None:
    before = row_counts(session)
    response = client.post(
        _adjustments(shop.direct.id),
        json={"sku_id": shop.sku.id, "delta": -1, "reason": "lost"},
        headers=shop.world.headers("brand_admin"),
    )
    problem = assert_problem(response, 409, "stock_below_promised")
    assert problem["detail"] == "On hand cannot be negative (it would be -1)."
    assert row_counts(session) == before


@pytest.mark.parametrize(
    "body",
    [
        {"on_hand": 3, "delta": 1, "reason": "both"},
        {"reason": "neither"},
        {"delta": 0, "reason": "nothing"},
        {"on_hand": 3},
        {"on_hand": 3, "reason": "  "},
        {"on_hand": -3, "reason": "negative"},
    ],
)
def test_a_malformed_adjustment_is_refused(
    client: TestClient, session: Session, shop: Shop, body: dict[str, Any]
) -> None:
    before = row_counts(session)
    response = client.post(
        _adjustments(shop.direct.id),
        json={"sku_id": shop.sku.id, **body},
        headers=shop.world.headers("brand_admin"),
    )
    assert_problem(response, 422, "validation_error")
    assert row_counts(session) == before


# ---------------------------------------------------------------- reading


def test_levels_are_listed_by_sku_code_a_page_at_a_time(
    client: TestClient, session: Session, shop: Shop
) -> None:
    # given three SKUs with stock at the store and one at the warehouse
    other = make_sku(session, shop.world.brand.id, "CAP-L")
    third = make_sku(session, shop.world.brand.id, "SOCK-S")
    stock(session, shop.world.system, shop.direct.id, shop.sku, 4)
    stock(session, shop.world.system, shop.direct.id, other, 2)
    stock(session, shop.world.system, shop.direct.id, third, 9)
    stock(session, shop.world.system, shop.world.warehouse.id, other, 50)
    reserve_stock(
        session,
        shop.world.brand.id,
        [HoldRequest(shop.direct.id, third.id, 3)],
        holder_kind="cart",
        holder_id=1,
        expires_at=None,
        actor_label="test",
    )
    session.commit()
    url = f"/api/stock-locations/{shop.direct.id}/stock"
    # when
    first = client.get(url + "?limit=2", headers=shop.world.headers("guide")).json()
    second = client.get(url + "?limit=2&offset=2", headers=shop.world.headers("guide")).json()
    one = client.get(url + f"?sku_id={third.id}", headers=shop.world.headers("guide")).json()
    # then
    assert [(i["sku_code"], i["on_hand"], i["available"]) for i in first["items"]] == [
        ("CAP-L", 2, 2),
        ("SOCK-S", 9, 6),
    ]
    assert (first["total"], first["limit"], first["offset"]) == (3, 2, 0)
    assert [i["sku_code"] for i in second["items"]] == ["TEE-M"]
    assert [(i["reserved"], i["allocated"]) for i in one["items"]] == [(3, 0)]
    # and a SKU's levels across the locations in scope
    region_manager = shop.world.staff["region_manager"]
    levels = list_sku_levels(session, actor_for_staff(region_manager), other.id)
    assert [(v.location_id, v.on_hand) for v in levels] == [(shop.direct.id, 2)]
    admin_levels = list_sku_levels(session, shop.world.system, other.id)
    assert [(v.location_id, v.on_hand) for v in admin_levels] == [
        (shop.direct.id, 2),
        (shop.world.warehouse.id, 50),
    ]


def test_the_ledger_lists_every_change_newest_first(
    client: TestClient, session: Session, shop: Shop
) -> None:
    stock(session, shop.world.system, shop.direct.id, shop.sku, 4)
    reserve_stock(
        session,
        shop.world.brand.id,
        [HoldRequest(shop.direct.id, shop.sku.id, 1, holder_line_id=77)],
        holder_kind="order",
        holder_id=5,
        expires_at=None,
        actor_label="checkout",
    )
    session.commit()
    response = client.get(
        f"/api/stock-locations/{shop.direct.id}/stock/movements",
        headers=shop.world.headers("store_manager"),
    )
    assert response.status_code == 200
    items = response.json()["items"]
    assert [
        (i["kind"], i["on_hand_delta"], i["reserved_delta"], i["reference"], i["actor_label"])
        for i in items
    ] == [
        ("reservation", 0, 1, "order:5", "checkout"),
        ("receipt", 4, 0, "factory", "test"),
    ]
    assert items[0]["hold_id"] is not None
    assert response.json()["total"] == 2


# ---------------------------------------------------------------- who may


@pytest.mark.parametrize("who", WRITERS)
def test_every_stock_writer_receives_at_a_location_in_scope(
    client: TestClient, session: Session, shop: Shop, who: str
) -> None:
    target = {
        "franchisee_owner": location_of(session, shop.world.franchise_store),
    }.get(who, shop.direct)
    response = client.post(
        _receipts(target.id),
        json={"sku_id": shop.sku.id, "quantity": 2},
        headers=shop.world.headers(who),
    )
    assert response.status_code == 201, response.text
    assert _level(session, target.id, shop.sku.id) == (2, 0, 0)


@pytest.mark.parametrize("who", ["guide", "integration"])
@pytest.mark.parametrize("path", ["receipts", "adjustments"])
def test_roles_without_stock_write_are_refused(
    client: TestClient, session: Session, shop: Shop, who: str, path: str
) -> None:
    before = row_counts(session)
    response = client.post(
        f"/api/stock-locations/{shop.direct.id}/stock/{path}",
        json={"sku_id": shop.sku.id, "quantity": 1, "delta": 1, "reason": "x"},
        headers=shop.world.headers(who),
    )
    problem = assert_problem(response, 403, "permission_denied")
    assert problem["permission"] == "stock:write"
    assert row_counts(session) == before


@pytest.mark.parametrize(
    ("who", "outside"),
    [
        ("store_manager", "warehouse"),
        ("store_manager", "other_store"),
        ("region_manager", "other_store"),
        ("franchisee_owner", "direct_store"),
        ("guide", "other_store"),
    ],
)
def test_a_location_outside_scope_is_not_found(
    client: TestClient, session: Session, shop: Shop, who: str, outside: str
) -> None:
    world = shop.world
    location = (
        world.warehouse if outside == "warehouse" else location_of(session, getattr(world, outside))
    )
    session.commit()
    before = row_counts(session)
    headers = world.headers(who)
    base = f"/api/stock-locations/{location.id}/stock"
    responses = [
        client.get(base, headers=headers),
        client.get(base + "/movements", headers=headers),
    ]
    if who != "guide":
        responses += [
            client.post(
                base + "/receipts", json={"sku_id": shop.sku.id, "quantity": 1}, headers=headers
            ),
            client.post(
                base + "/adjustments",
                json={"sku_id": shop.sku.id, "on_hand": 1, "reason": "x"},
                headers=headers,
            ),
        ]
    for response in responses:
        assert_problem(response, 404, "stock_location_not_found")
    assert row_counts(session) == before


def test_reading_stock_needs_a_token(client: TestClient, shop: Shop) -> None:
    response = client.get(f"/api/stock-locations/{shop.direct.id}/stock")
    assert_problem(response, 401, "not_authenticated")
