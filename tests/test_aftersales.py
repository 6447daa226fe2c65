"""After-sales through the API: return and refund with restock, refunds before delivery, staff
decisions, and every refusal writing nothing."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.audit.models import AuditEntry
from siyu.db.session import Database
from siyu.inventory.models import StockMovement
from siyu.orders.models import Order, OrderLine
from siyu.outbox.models import OutboxEvent
from siyu.payments.models import Refund
from tests.factories_aftersales import (
    deliver_refunds,
    level,
    other_store_manager_headers,
    paid_order,
    place,
)
from tests.factories_consumers import make_consumer
from tests.factories_mall import Mall, build_mall
from tests.helpers import assert_problem, row_counts

PHOTOS = ["https://img.example.com/a.jpg", "https://img.example.com/b.jpg"]


@pytest.fixture
def mall(session: Session) -> Mall:
    return build_mall(session)


def picked_up(
    session: Session, db: Database, client: TestClient, mall: Mall, lines: list[tuple[int, int]]
) -> dict[str, Any]:
    """A paid pickup order, written off at the store."""
    order = paid_order(session, db, client, mall, lines)
    done = client.post(
        f"/api/stores/{mall.store_id}/pickups",
        json={"pickup_code": order["pickup_code"]},
        headers=mall.world.headers("store_manager"),
    )
    assert done.status_code == 200, done.text
    result: dict[str, Any] = done.json()
    return result


def request(client: TestClient, mall: Mall, order: dict[str, Any], body: dict[str, Any]) -> Any:
    return client.post(
        f"/api/storefront/orders/{order['id']}/after-sales", json=body, headers=mall.shopper.headers
    )


def return_body(order: dict[str, Any], quantity: int, amount: int, **extra: Any) -> dict[str, Any]:
    line = order["lines"][0]
    return {
        "kind": "return_and_refund",
        "reason": "Wrong size",
        "description": "Too small",
        "photos": PHOTOS,
        "lines": [{"order_line_id": line["id"], "quantity": quantity}],
        "requested_refund_fen": amount,
    } | extra


def event_types(session: Session) -> list[str]:
    session.expire_all()
    return list(
        session.scalars(
            select(OutboxEvent.event_type)
            .where(OutboxEvent.aggregate_type == "after_sale")
            .order_by(OutboxEvent.id)
        )
    )


# ---------------------------------------------------------------- the whole flow


def test_return_and_refund_restocks_the_goods_and_refunds_exactly(
    session: Session, db: Database, client: TestClient, mall: Mall
) -> None:
    # given 2 S picked up at the store (the store had 5, now 3)
    order = picked_up(session, db, client, mall, [(mall.tee_s.id, 2)])
    assert level(session, mall.store_location.id, mall.tee_s.id) == (3, 0, 0)
    # when the consumer asks to return one, with photos
    asked = request(client, mall, order, return_body(order, 1, 9900))
    # then the request is open and the order shows it
    assert asked.status_code == 201, asked.text
    after_sale = asked.json()
    assert (after_sale["status"], after_sale["photos"], after_sale["store_id"]) == (
        "requested",
        PHOTOS,
        mall.store_id,
    )
    assert [(line["sku_code"], line["quantity"]) for line in after_sale["lines"]] == [("TEE-S", 1)]
    mine = client.get(f"/api/storefront/orders/{order['id']}", headers=mall.shopper.headers).json()
    assert (mine["after_sale_status"], mine["status"]) == ("requested", "after_sale")
    manager = mall.world.headers("store_manager")
    # when the store manager approves it
    approved = client.post(
        f"/api/after-sales/{after_sale['id']}/approve", json={"note": "OK"}, headers=manager
    )
    # then it waits for the goods: no refund yet
    assert approved.status_code == 200, approved.text
    assert (approved.json()["status"], approved.json()["approved_refund_fen"]) == (
        "approved",
        9900,
    )
    assert approved.json()["refund"] is None
    # when the goods come back and are received for restocking
    received = client.post(f"/api/after-sales/{after_sale['id']}/receive", json={}, headers=manager)
    # then the unit is back on hand at the store and the refund is under way
    assert received.status_code == 200, received.text
    assert received.json()["status"] == "received"
    assert received.json()["lines"][0]["restocked_quantity"] == 1
    assert received.json()["refund"]["status"] == "pending"
    assert level(session, mall.store_location.id, mall.tee_s.id) == (4, 0, 0)
    movement = session.scalars(select(StockMovement).where(StockMovement.kind == "return")).one()
    assert (movement.on_hand_delta, movement.reference) == (1, f"after_sale:{after_sale['id']}")
    # when WeChat Pay's refund notification arrives and the events are dispatched
    deliver_refunds(db)
    # then the money is back, exactly, and the request is closed
    session.expire_all()
    final = session.get(Order, (mall.world.brand.id, order["id"]))
    assert final is not None
    assert (final.paid_fen, final.refunded_fen, final.payment_status) == (
        19800,
        9900,
        "partially_refunded",
    )
    assert (final.after_sale_status, final.lifecycle_status) == ("closed", "completed")
    line = session.get(OrderLine, (mall.world.brand.id, order["lines"][0]["id"]))
    assert line is not None and line.refunded_quantity == 1
    refund = session.scalars(select(Refund)).one()
    assert (refund.amount_fen, refund.status, refund.after_sale_id, refund.idempotency_key) == (
        9900,
        "succeeded",
        after_sale["id"],
        f"after-sale-{after_sale['id']}",
    )
    shown = client.get(
        f"/api/storefront/after-sales/{after_sale['id']}", headers=mall.shopper.headers
    ).json()
    assert (shown["status"], shown["refund"]["status"]) == ("refunded", "succeeded")
    assert event_types(session) == [
        "AfterSaleRequested",
        "AfterSaleApproved",
        "ReturnedGoodsReceived",
        "AfterSaleRefunded",
    ]
    actions = session.scalars(
        select(AuditEntry.action)
        .where(AuditEntry.object_type == "after_sale")
        .order_by(AuditEntry.id)
    ).all()
    assert actions == ["after_sale.approve", "after_sale.receive"]
    # and dispatching again changes nothing (delivery is at least once)
    deliver_refunds(db)
    assert event_types(session).count("AfterSaleRefunded") == 1
    # and the last unit can still be returned, but not more
    before = row_counts(session)
    too_many = request(client, mall, order, return_body(order, 2, 9900))
    assert assert_problem(too_many, 422, "quantity_exceeds_purchased")["field"] == (
        "lines[0].quantity"
    )
    assert row_counts(session) == before
    assert request(client, mall, order, return_body(order, 1, 9900)).status_code == 201


def test_damaged_returns_are_not_restocked(
    session: Session, db: Database, client: TestClient, mall: Mall
) -> None:
    order = picked_up(session, db, client, mall, [(mall.tee_s.id, 2)])
    after_sale = request(client, mall, order, return_body(order, 2, 19800)).json()
    manager = mall.world.headers("store_manager")
    client.post(f"/api/after-sales/{after_sale['id']}/approve", json={}, headers=manager)
    received = client.post(
        f"/api/after-sales/{after_sale['id']}/receive",
        json={"lines": [{"order_line_id": order["lines"][0]["id"], "restock": False}]},
        headers=manager,
    )
    assert received.status_code == 200, received.text
    assert received.json()["lines"][0]["restocked_quantity"] == 0
    assert level(session, mall.store_location.id, mall.tee_s.id) == (3, 0, 0)
    deliver_refunds(db)
    session.expire_all()
    final = session.get(Order, (mall.world.brand.id, order["id"]))
    assert final is not None
    assert (final.refunded_fen, final.payment_status) == (19800, "refunded")


def test_a_refund_before_pickup_refunds_everything_and_puts_the_stock_back(
    session: Session, db: Database, client: TestClient, mall: Mall
) -> None:
    # given a paid pickup order not collected: 1 S from the store, 1 M from the warehouse
    order = paid_order(session, db, client, mall, [(mall.tee_s.id, 1), (mall.tee_m.id, 1)])
    lines = [{"order_line_id": line["id"], "quantity": 1} for line in order["lines"]]
    # when the consumer asks for a refund of the whole order and the store approves
    asked = request(
        client,
        mall,
        order,
        {"kind": "refund_only", "reason": "No time", "lines": lines, "requested_refund_fen": 19800},
    )
    assert asked.status_code == 201, asked.text
    approved = client.post(
        f"/api/after-sales/{asked.json()['id']}/approve",
        json={},
        headers=mall.world.headers("hq_operator"),
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["refund"]["amount_fen"] == 19800
    # and the pickup code cannot be used while the refund is under way
    code = order["pickup_code"]
    blocked = client.post(
        f"/api/stores/{mall.store_id}/pickups",
        json={"pickup_code": code},
        headers=mall.world.headers("store_manager"),
    )
    assert_problem(blocked, 409, "order_not_ready_for_pickup")
    deliver_refunds(db)
    # then the order is refunded and cancelled, and both units are on sale again
    mine = client.get(f"/api/storefront/orders/{order['id']}", headers=mall.shopper.headers).json()
    assert (mine["payment_status"], mine["refunded_fen"], mine["status"]) == (
        "refunded",
        19800,
        "cancelled",
    )
    assert mine["pickup_code"] is None
    assert level(session, mall.store_location.id, mall.tee_s.id) == (5, 0, 0)
    assert level(session, mall.world.warehouse.id, mall.tee_m.id) == (10, 0, 0)
    listed = client.get(
        "/api/storefront/after-sales?status=refunded", headers=mall.shopper.headers
    ).json()
    assert [item["id"] for item in listed["items"]] == [asked.json()["id"]]


def test_a_partial_refund_only_after_pickup_may_be_approved_for_less(
    session: Session, db: Database, client: TestClient, mall: Mall
) -> None:
    order = picked_up(session, db, client, mall, [(mall.tee_s.id, 2)])
    body = return_body(order, 1, 5000, kind="refund_only", reason="Stain")
    after_sale = request(client, mall, order, body).json()
    before = row_counts(session)
    too_much = client.post(
        f"/api/after-sales/{after_sale['id']}/approve",
        json={"approved_refund_fen": 5001},
        headers=mall.world.headers("store_manager"),
    )
    assert assert_problem(too_much, 422, "approved_exceeds_requested")["field"] == (
        "approved_refund_fen"
    )
    assert row_counts(session) == before
    approved = client.post(
        f"/api/after-sales/{after_sale['id']}/approve",
        json={"approved_refund_fen": 3000},
        headers=mall.world.headers("store_manager"),
    )
    assert approved.status_code == 200, approved.text
    deliver_refunds(db)
    session.expire_all()
    final = session.get(Order, (mall.world.brand.id, order["id"]))
    assert final is not None
    assert (final.refunded_fen, final.payment_status, final.after_sale_status) == (
        3000,
        "partially_refunded",
        "closed",
    )
    assert level(session, mall.store_location.id, mall.tee_s.id) == (3, 0, 0)


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("change", "status", "code", "field"),
    [
        ({"requested_refund_fen": 9901}, 422, "refund_exceeds_paid", "requested_refund_fen"),
        ({"quantity": 3}, 422, "quantity_exceeds_purchased", "lines[0].quantity"),
        ({"order_line_id": 999_999}, 422, "unknown_order_line", "lines[0].order_line_id"),
        ({"photos": PHOTOS * 5}, 422, "validation_error", "photos"),
        ({"photos": ["not a url"]}, 422, "validation_error", "photos.0"),
        ({"requested_refund_fen": 0}, 422, "validation_error", "requested_refund_fen"),
    ],
)
def test_bad_requests_are_refused_and_write_nothing(
    session: Session,
    db: Database,
    client: TestClient,
    mall: Mall,
    change: dict[str, Any],
    status: int,
    code: str,
    field: str,
) -> None:
    # given 2 S picked up (99.00 yuan each)
    order = picked_up(session, db, client, mall, [(mall.tee_s.id, 2)])
    body = return_body(order, 1, 9900)
    for key in ("quantity", "order_line_id"):
        if key in change:
            body["lines"][0][key] = change[key]
    body |= {k: v for k, v in change.items() if k not in ("quantity", "order_line_id")}
    before = row_counts(session)
    # when
    response = request(client, mall, order, body)
    # then
    assert assert_problem(response, status, code)["field"] == field
    assert row_counts(session) == before


def test_a_refund_above_what_was_paid_names_what_is_left(
    session: Session, db: Database, client: TestClient, mall: Mall
) -> None:
    order = picked_up(session, db, client, mall, [(mall.tee_s.id, 2)])
    before = row_counts(session)
    response = request(client, mall, order, return_body(order, 2, 19801))
    problem = assert_problem(response, 422, "refund_exceeds_paid")
    assert problem["refundable_fen"] == 19800
    assert row_counts(session) == before


def test_before_pickup_only_a_whole_refund_is_possible(
    session: Session, db: Database, client: TestClient, mall: Mall
) -> None:
    order = paid_order(session, db, client, mall, [(mall.tee_s.id, 2)])
    before = row_counts(session)
    returned = request(client, mall, order, return_body(order, 2, 19800))
    partial = request(client, mall, order, return_body(order, 1, 9900, kind="refund_only"))
    short = request(client, mall, order, return_body(order, 2, 19000, kind="refund_only"))
    assert assert_problem(returned, 422, "return_before_delivery")["field"] == "kind"
    assert assert_problem(partial, 422, "whole_order_refund_before_delivery")["field"] == "lines"
    assert assert_problem(short, 422, "whole_order_refund_before_delivery")["field"] == (
        "requested_refund_fen"
    )
    assert row_counts(session) == before


def test_unpaid_or_foreign_orders_and_a_second_open_request_are_refused(
    session: Session, db: Database, client: TestClient, mall: Mall
) -> None:
    unpaid = place(client, mall, [(mall.tee_s.id, 1)], key="unpaid-order")
    order = picked_up(session, db, client, mall, [(mall.tee_s.id, 2)])
    bob = make_consumer(session, mall.world.brand, "bob")
    session.commit()
    before = row_counts(session)
    assert_problem(
        request(client, mall, unpaid, return_body(unpaid, 1, 9900)), 409, "order_not_refundable"
    )
    foreign = client.post(
        f"/api/storefront/orders/{order['id']}/after-sales",
        json=return_body(order, 1, 9900),
        headers=bob.headers,
    )
    assert_problem(foreign, 404, "order_not_found")
    assert row_counts(session) == before
    # one open request per order
    assert request(client, mall, order, return_body(order, 1, 9900)).status_code == 201
    before = row_counts(session)
    assert_problem(
        request(client, mall, order, return_body(order, 1, 9900)), 409, "after_sale_already_open"
    )
    assert row_counts(session) == before


@pytest.mark.parametrize(
    ("who", "status", "code"),
    [
        ("guide", 403, "permission_denied"),
        ("franchisee_owner", 404, "after_sale_not_found"),
        ("other_store_manager", 404, "after_sale_not_found"),
    ],
)
def test_staff_outside_the_store_cannot_decide(
    session: Session,
    db: Database,
    client: TestClient,
    mall: Mall,
    who: str,
    status: int,
    code: str,
) -> None:
    order = picked_up(session, db, client, mall, [(mall.tee_s.id, 1)])
    after_sale = request(client, mall, order, return_body(order, 1, 9900)).json()
    headers = (
        other_store_manager_headers(session, mall.world)
        if who == "other_store_manager"
        else mall.world.headers(who)
    )
    before = row_counts(session)
    for action, body in (("approve", {}), ("reject", {"note": "No"}), ("receive", {})):
        response = client.post(
            f"/api/after-sales/{after_sale['id']}/{action}", json=body, headers=headers
        )
        assert_problem(response, status, code)
    assert_problem(
        client.get(f"/api/after-sales/{after_sale['id']}", headers=headers), status, code
    )
    assert row_counts(session) == before


def test_a_rejected_request_is_closed_and_cannot_be_approved(
    session: Session, db: Database, client: TestClient, mall: Mall
) -> None:
    order = picked_up(session, db, client, mall, [(mall.tee_s.id, 1)])
    after_sale = request(client, mall, order, return_body(order, 1, 9900)).json()
    manager = mall.world.headers("store_manager")
    assert_problem(
        client.post(f"/api/after-sales/{after_sale['id']}/reject", json={}, headers=manager),
        422,
        "validation_error",
    )
    rejected = client.post(
        f"/api/after-sales/{after_sale['id']}/reject",
        json={"note": "Worn and washed"},
        headers=manager,
    )
    assert rejected.status_code == 200, rejected.text
    assert (rejected.json()["status"], rejected.json()["decision_note"]) == (
        "rejected",
        "Worn and washed",
    )
    assert rejected.json()["decided_by_staff_id"] == mall.world.staff["store_manager"].id
    mine = client.get(f"/api/storefront/orders/{order['id']}", headers=mall.shopper.headers).json()
    assert mine["after_sale_status"] == "closed"
    before = row_counts(session)
    for action in ("approve", "reject"):
        response = client.post(
            f"/api/after-sales/{after_sale['id']}/{action}", json={"note": "x"}, headers=manager
        )
        assert_problem(response, 409, "after_sale_not_pending")
    assert_problem(
        client.post(f"/api/after-sales/{after_sale['id']}/receive", json={}, headers=manager),
        409,
        "return_not_expected",
    )
    assert row_counts(session) == before
    assert event_types(session) == ["AfterSaleRequested", "AfterSaleRejected"]


def test_the_consumer_may_withdraw_an_undecided_request(
    session: Session, db: Database, client: TestClient, mall: Mall
) -> None:
    order = picked_up(session, db, client, mall, [(mall.tee_s.id, 1)])
    after_sale = request(client, mall, order, return_body(order, 1, 9900)).json()
    withdrawn = client.post(
        f"/api/storefront/after-sales/{after_sale['id']}/cancel", headers=mall.shopper.headers
    )
    assert withdrawn.json()["status"] == "cancelled"
    # the units are free to ask for again
    assert request(client, mall, order, return_body(order, 1, 9900)).status_code == 201


def test_staff_lists_are_scoped_and_filtered(
    session: Session, db: Database, client: TestClient, mall: Mall
) -> None:
    order = picked_up(session, db, client, mall, [(mall.tee_s.id, 1)])
    after_sale = request(client, mall, order, return_body(order, 1, 9900)).json()
    mine = client.get("/api/after-sales", headers=mall.world.headers("store_manager")).json()
    requested = client.get(
        "/api/after-sales?status=requested", headers=mall.world.headers("region_manager")
    ).json()
    refunded = client.get(
        "/api/after-sales?status=refunded", headers=mall.world.headers("store_manager")
    ).json()
    others = client.get(
        "/api/after-sales", headers=other_store_manager_headers(session, mall.world)
    )
    assert [item["id"] for item in mine["items"]] == [after_sale["id"]]
    assert [item["id"] for item in requested["items"]] == [after_sale["id"]]
    assert refunded["total"] == 0
    assert others.json()["total"] == 0
    assert_problem(
        client.get("/api/after-sales", headers=mall.world.headers("guide")),
        403,
        "permission_denied",
    )
