"""Fulfilment through the API: pickup write-off (核销) at the store, shipping and delivery, and
every refusal writing nothing."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.audit.models import AuditEntry
from siyu.consumers.models import Consumer
from siyu.db.session import Database
from siyu.orders.models import OrderEvent
from siyu.outbox.models import OutboxEvent
from tests.factories_aftersales import level, other_store_manager_headers, paid_order, place
from tests.factories_mall import Mall, build_mall
from tests.helpers import assert_problem, row_counts


@pytest.fixture
def mall(session: Session) -> Mall:
    return build_mall(session)


def pickups_url(store_id: int) -> str:
    return f"/api/stores/{store_id}/pickups"


def events_of(session: Session, event_type: str) -> list[dict[str, Any]]:
    session.expire_all()
    return [
        e.payload
        for e in session.scalars(
            select(OutboxEvent).where(OutboxEvent.event_type == event_type).order_by(OutboxEvent.id)
        )
    ]


# ---------------------------------------------------------------- pickup


def test_store_staff_look_up_and_write_off_a_pickup_code(
    session: Session, db: Database, client: TestClient, mall: Mall
) -> None:
    # given a paid pickup order of 2 S from the store and 1 M from the warehouse
    consumer = session.get(Consumer, (mall.world.brand.id, mall.shopper.consumer.id))
    assert consumer is not None
    consumer.phone = "13912345678"
    session.commit()
    order = paid_order(
        session, db, client, mall, [(mall.tee_s.id, 2), (mall.tee_m.id, 1)], "pickup"
    )
    code = order["pickup_code"]
    assert level(session, mall.store_location.id, mall.tee_s.id) == (5, 0, 2)
    assert level(session, mall.world.warehouse.id, mall.tee_m.id) == (10, 0, 1)
    manager = mall.world.headers("store_manager")
    # when the store manager scans the code
    found = client.get(pickups_url(mall.store_id), params={"code": code}, headers=manager)
    # then they see the order, the consumer's phone masked
    assert found.status_code == 200, found.text
    view = found.json()
    assert (view["order_id"], view["status"], view["consumer_phone"]) == (
        order["id"],
        "awaiting_pickup",
        "139****5678",
    )
    assert [(line["sku_code"], line["quantity"]) for line in view["lines"]] == [
        ("TEE-S", 2),
        ("TEE-M", 1),
    ]
    # when they write it off
    response = client.post(pickups_url(mall.store_id), json={"pickup_code": code}, headers=manager)
    # then the order is fulfilled and completed, and the goods left on_hand
    assert response.status_code == 200, response.text
    done = response.json()
    assert (done["fulfilment_status"], done["lifecycle_status"], done["status"]) == (
        "fulfilled",
        "completed",
        "completed",
    )
    assert done["fulfilled_at"] is not None
    assert level(session, mall.store_location.id, mall.tee_s.id) == (3, 0, 0)
    assert level(session, mall.world.warehouse.id, mall.tee_m.id) == (9, 0, 0)
    # and the write-off is in the order's log with the staff member, audited and announced
    staff = mall.world.staff["store_manager"]
    picked = session.scalars(select(OrderEvent).where(OrderEvent.kind == "picked_up")).one()
    assert (picked.order_id, picked.actor_label, picked.data["staff_id"]) == (
        order["id"],
        staff.name,
        staff.id,
    )
    audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "order.pick_up")).one()
    assert (audit.object_id, audit.actor_staff_id) == (str(order["id"]), staff.id)
    assert audit.after is not None and audit.after["fulfilment_status"] == "fulfilled"
    assert events_of(session, "OrderFulfilled") == [
        {
            "order_id": order["id"],
            "selling_store_id": mall.store_id,
            "fulfilment_method": "pickup",
            "total_fen": 29700,
        }
    ]


def test_a_pickup_code_is_written_off_only_once(
    session: Session, db: Database, client: TestClient, mall: Mall
) -> None:
    # given an order already picked up
    order = paid_order(session, db, client, mall, [(mall.tee_s.id, 1)])
    manager = mall.world.headers("store_manager")
    body = {"pickup_code": order["pickup_code"]}
    assert client.post(pickups_url(mall.store_id), json=body, headers=manager).status_code == 200
    before = row_counts(session)
    # when the code is entered again
    again = client.post(pickups_url(mall.store_id), json=body, headers=manager)
    # then it is refused and nothing is written
    problem = assert_problem(again, 409, "already_picked_up")
    assert problem["field"] == "pickup_code"
    assert row_counts(session) == before
    assert level(session, mall.store_location.id, mall.tee_s.id) == (4, 0, 0)


def test_a_code_of_another_store_or_an_unknown_code_is_invalid(
    session: Session, db: Database, client: TestClient, mall: Mall
) -> None:
    # given a paid order of the direct store
    order = paid_order(session, db, client, mall, [(mall.tee_s.id, 1)])
    admin = mall.world.headers("brand_admin")
    before = row_counts(session)
    # when HQ enters its code at another store, or an unknown code at the right one
    elsewhere = client.post(
        pickups_url(mall.world.other_store.id),
        json={"pickup_code": order["pickup_code"]},
        headers=admin,
    )
    unknown_code = "00000000" if order["pickup_code"] != "00000000" else "11111111"
    unknown = client.post(
        pickups_url(mall.store_id), json={"pickup_code": unknown_code}, headers=admin
    )
    looked_up = client.get(
        pickups_url(mall.world.other_store.id), params={"code": order["pickup_code"]}, headers=admin
    )
    # then each is refused the same way and nothing changes
    for response in (elsewhere, unknown, looked_up):
        assert assert_problem(response, 404, "pickup_code_invalid")["field"] == "pickup_code"
    assert row_counts(session) == before
    assert level(session, mall.store_location.id, mall.tee_s.id) == (5, 0, 1)


def test_an_unpaid_order_cannot_be_picked_up(
    session: Session, client: TestClient, mall: Mall
) -> None:
    order = place(client, mall, [(mall.tee_s.id, 1)])
    before = row_counts(session)
    response = client.post(
        pickups_url(mall.store_id),
        json={"pickup_code": order["pickup_code"]},
        headers=mall.world.headers("store_manager"),
    )
    assert_problem(response, 409, "order_not_ready_for_pickup")
    assert row_counts(session) == before
    assert level(session, mall.store_location.id, mall.tee_s.id) == (5, 1, 0)


@pytest.mark.parametrize(
    ("who", "status", "code"),
    [
        ("guide", 403, "permission_denied"),
        ("franchisee_owner", 404, "store_not_found"),
        ("other_store_manager", 404, "store_not_found"),
    ],
)
def test_staff_outside_the_store_cannot_write_off(
    session: Session,
    db: Database,
    client: TestClient,
    mall: Mall,
    who: str,
    status: int,
    code: str,
) -> None:
    # given a paid order of the direct store
    order = paid_order(session, db, client, mall, [(mall.tee_s.id, 1)])
    headers = (
        other_store_manager_headers(session, mall.world)
        if who == "other_store_manager"
        else mall.world.headers(who)
    )
    before = row_counts(session)
    # when someone without the store in scope (or without order:write) tries it
    response = client.post(
        pickups_url(mall.store_id), json={"pickup_code": order["pickup_code"]}, headers=headers
    )
    lookup = client.get(
        pickups_url(mall.store_id), params={"code": order["pickup_code"]}, headers=headers
    )
    # then it is refused and nothing is written
    assert_problem(response, status, code)
    assert_problem(lookup, status, code)
    assert row_counts(session) == before


@pytest.mark.parametrize("who", ["region_manager", "hq_operator"])
def test_region_and_hq_staff_may_write_off_too(
    session: Session, db: Database, client: TestClient, mall: Mall, who: str
) -> None:
    order = paid_order(session, db, client, mall, [(mall.tee_s.id, 1)])
    response = client.post(
        pickups_url(mall.store_id),
        json={"pickup_code": order["pickup_code"]},
        headers=mall.world.headers(who),
    )
    assert response.status_code == 200, response.text
    assert response.json()["fulfilment_status"] == "fulfilled"


# ---------------------------------------------------------------- delivery


def test_an_express_order_is_shipped_then_received_by_the_consumer(
    session: Session, db: Database, client: TestClient, mall: Mall
) -> None:
    # given a paid express order
    order = paid_order(session, db, client, mall, [(mall.tee_s.id, 2)], "express")
    manager = mall.world.headers("store_manager")
    # when the store ships it with a tracking number
    shipped = client.post(
        f"/api/orders/{order['id']}/shipments",
        json={"carrier": "SF Express", "tracking_number": "SF1234567890"},
        headers=manager,
    )
    # then it is shipped and the goods left the shelf
    assert shipped.status_code == 200, shipped.text
    assert (shipped.json()["fulfilment_status"], shipped.json()["status"]) == (
        "shipped",
        "shipped",
    )
    assert level(session, mall.store_location.id, mall.tee_s.id) == (3, 0, 0)
    tracking = client.get(
        f"/api/storefront/orders/{order['id']}/shipment", headers=mall.shopper.headers
    ).json()
    assert (tracking["carrier"], tracking["tracking_number"]) == ("SF Express", "SF1234567890")
    assert events_of(session, "OrderShipped")[0]["tracking_number"] == "SF1234567890"
    assert events_of(session, "OrderFulfilled") == []
    # when the consumer confirms receipt
    received = client.post(
        f"/api/storefront/orders/{order['id']}/received", headers=mall.shopper.headers
    )
    # then the order is fulfilled and completed
    assert received.status_code == 200, received.text
    assert (received.json()["fulfilment_status"], received.json()["lifecycle_status"]) == (
        "fulfilled",
        "completed",
    )
    assert [e["order_id"] for e in events_of(session, "OrderFulfilled")] == [order["id"]]
    # and a second confirmation is refused
    before = row_counts(session)
    again = client.post(
        f"/api/storefront/orders/{order['id']}/received", headers=mall.shopper.headers
    )
    assert_problem(again, 409, "already_fulfilled")
    assert row_counts(session) == before


def test_a_local_delivery_is_shipped_with_a_courier_and_marked_delivered_by_staff(
    session: Session, db: Database, client: TestClient, mall: Mall
) -> None:
    order = paid_order(session, db, client, mall, [(mall.tee_s.id, 1)], "local_delivery")
    manager = mall.world.headers("store_manager")
    shipped = client.post(
        f"/api/orders/{order['id']}/shipments",
        json={"courier_name": "Wang Wu", "courier_phone": "13700001234"},
        headers=manager,
    )
    assert shipped.status_code == 200, shipped.text
    staff_view = client.get(f"/api/orders/{order['id']}/shipment", headers=manager).json()
    assert (staff_view["courier_name"], staff_view["courier_phone"]) == ("Wang Wu", "137****1234")
    delivered = client.post(f"/api/orders/{order['id']}/delivered", headers=manager)
    assert delivered.status_code == 200, delivered.text
    assert delivered.json()["status"] == "completed"
    audit_actions = session.scalars(
        select(AuditEntry.action).where(AuditEntry.object_type == "order").order_by(AuditEntry.id)
    ).all()
    assert audit_actions == ["order.ship", "order.deliver"]


@pytest.mark.parametrize(
    ("method", "body", "status", "code", "field"),
    [
        ("express", {"carrier": "SF Express"}, 422, "shipment_details_required", "tracking_number"),
        (
            "local_delivery",
            {"courier_name": "Wang"},
            422,
            "shipment_details_required",
            "courier_phone",
        ),
        ("pickup", {"carrier": "SF", "tracking_number": "1"}, 409, "order_not_shippable", None),
    ],
)
def test_bad_shipments_are_refused_and_write_nothing(
    session: Session,
    db: Database,
    client: TestClient,
    mall: Mall,
    method: str,
    body: dict[str, str],
    status: int,
    code: str,
    field: str | None,
) -> None:
    order = paid_order(session, db, client, mall, [(mall.tee_s.id, 1)], method)
    before = row_counts(session)
    response = client.post(
        f"/api/orders/{order['id']}/shipments",
        json=body,
        headers=mall.world.headers("store_manager"),
    )
    assert assert_problem(response, status, code).get("field") == field
    assert row_counts(session) == before
    assert level(session, mall.store_location.id, mall.tee_s.id) == (5, 0, 1)


def test_unpaid_unshipped_or_twice_shipped_orders_are_refused(
    session: Session, db: Database, client: TestClient, mall: Mall
) -> None:
    manager = mall.world.headers("store_manager")
    tracking = {"carrier": "SF Express", "tracking_number": "SF1"}
    unpaid = place(client, mall, [(mall.tee_s.id, 1)], "express", key="unpaid-order")
    paid = paid_order(
        session, db, client, mall, [(mall.tee_s.id, 1)], "express", key="paid-order-1"
    )
    before = row_counts(session)
    # an unpaid order cannot be shipped; a paid one not shipped cannot be delivered
    assert_problem(
        client.post(f"/api/orders/{unpaid['id']}/shipments", json=tracking, headers=manager),
        409,
        "order_not_shippable",
    )
    assert_problem(
        client.post(f"/api/orders/{paid['id']}/delivered", headers=manager),
        409,
        "order_not_shipped",
    )
    assert_problem(
        client.post(f"/api/storefront/orders/{paid['id']}/received", headers=mall.shopper.headers),
        409,
        "order_not_shipped",
    )
    assert row_counts(session) == before
    # a shipped order cannot be shipped again
    assert (
        client.post(
            f"/api/orders/{paid['id']}/shipments", json=tracking, headers=manager
        ).status_code
        == 200
    )
    before = row_counts(session)
    assert_problem(
        client.post(f"/api/orders/{paid['id']}/shipments", json=tracking, headers=manager),
        409,
        "already_shipped",
    )
    assert row_counts(session) == before


@pytest.mark.parametrize(
    ("who", "status"), [("guide", 403), ("franchisee_owner", 404), ("other_store_manager", 404)]
)
def test_staff_outside_the_store_cannot_ship(
    session: Session, db: Database, client: TestClient, mall: Mall, who: str, status: int
) -> None:
    order = paid_order(session, db, client, mall, [(mall.tee_s.id, 1)], "express")
    headers = (
        other_store_manager_headers(session, mall.world)
        if who == "other_store_manager"
        else mall.world.headers(who)
    )
    before = row_counts(session)
    response = client.post(
        f"/api/orders/{order['id']}/shipments",
        json={"carrier": "SF", "tracking_number": "SF1"},
        headers=headers,
    )
    assert response.status_code == status, response.text
    assert row_counts(session) == before
