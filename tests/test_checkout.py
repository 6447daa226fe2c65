"""Cart, checkout and payment through the storefront API, end to end, and every refusal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.db.session import Database
from siyu.inventory.models import StockHold, StockLevel
from siyu.orders.checkout import Shopper as CheckoutShopper
from siyu.orders.checkout import place_order
from siyu.orders.models import FulfilmentMethod, Order
from siyu.orders.schemas import OrderLineIn, PlaceOrder
from siyu.orders.service import cancel_overdue_orders
from siyu.payments.models import Payment, PaymentNotification, Refund
from siyu.wechat.sandbox_pay import sandbox_pay
from tests.factories_mall import Mall, build_mall, run_payment_notifications
from tests.helpers import assert_problem, row_counts


@pytest.fixture
def mall(session: Session) -> Mall:
    return build_mall(session)


def headers(mall: Mall, key: str | None = None) -> dict[str, str]:
    result = dict(mall.shopper.headers)
    if key:
        result["Idempotency-Key"] = key
    return result


def level(session: Session, location_id: int, sku_id: int) -> tuple[int, int, int]:
    session.expire_all()
    row = (
        session.get(StockLevel, (location_id, sku_id))
        if False
        else session.scalar(
            select(StockLevel).where(
                StockLevel.location_id == location_id, StockLevel.sku_id == sku_id
            )
        )
    )
    assert row is not None
    return row.on_hand, row.reserved, row.allocated


def place(client: TestClient, mall: Mall, body: dict[str, object], key: str = "order-key-1"):  # type: ignore[no-untyped-def]
    return client.post(
        f"/api/storefront/stores/{mall.store_id}/orders", json=body, headers=headers(mall, key)
    )


def test_a_consumer_fills_a_cart_across_the_store_and_the_warehouse(
    client: TestClient, mall: Mall
) -> None:
    # when two sizes go in the cart: S is in the store, M only in the warehouse
    client.put(
        f"/api/storefront/stores/{mall.store_id}/cart/lines/{mall.tee_s.id}",
        json={"quantity": 2},
        headers=headers(mall),
    )
    response = client.put(
        f"/api/storefront/stores/{mall.store_id}/cart/lines/{mall.tee_m.id}?fulfilment_method=express",
        json={"quantity": 1},
        headers=headers(mall),
    )
    # then the cart is priced for express: 297 yuan of goods, free shipping from 199
    cart = response.json()
    assert response.status_code == 200
    assert [
        (line["sku_code"], line["quantity"], line["total_fen"], line["endless_aisle"])
        for line in cart["lines"]
    ] == [("TEE-S", 2, 19800, False), ("TEE-M", 1, 9900, True)]
    assert (cart["subtotal_fen"], cart["shipping_fen"], cart["total_fen"]) == (29700, 0, 29700)
    assert cart["unavailable_sku_ids"] == []


def test_pickup_order_is_placed_paid_and_ready_for_pickup(
    session: Session, db: Database, client: TestClient, mall: Mall
) -> None:
    # given a pickup order of one S (store) and one M (warehouse: endless aisle)
    body = {
        "lines": [
            {"sku_id": mall.tee_s.id, "quantity": 1},
            {"sku_id": mall.tee_m.id, "quantity": 1},
        ],
        "fulfilment_method": "pickup",
    }
    placed = place(client, mall, body)
    assert placed.status_code == 201, placed.text
    order = placed.json()
    # then it belongs to the store, holds stock where each line is fulfilled from
    assert order["selling_store_id"] == mall.store_id
    assert order["status"] == "awaiting_payment"
    assert (order["subtotal_fen"], order["shipping_fen"], order["total_fen"]) == (19800, 0, 19800)
    assert [line["fulfilling_location_id"] for line in order["lines"]] == [
        mall.store_location.id,
        mall.world.warehouse.id,
    ]
    assert len(order["pickup_code"]) == 8
    assert level(session, mall.store_location.id, mall.tee_s.id) == (5, 1, 0)
    assert level(session, mall.world.warehouse.id, mall.tee_m.id) == (10, 1, 0)
    # and repeating the request returns the same order
    again = place(client, mall, body)
    assert (again.status_code, again.json()["id"]) == (200, order["id"])
    # when the consumer pays in the sandbox and the notification arrives
    started = client.post(f"/api/storefront/orders/{order['id']}/payments", headers=headers(mall))
    assert started.status_code == 200, started.text
    pay_params = started.json()["pay_params"]
    assert pay_params["signType"] == "RSA"
    prepay_id = pay_params["package"].removeprefix("prepay_id=")
    sandbox_pay(session, prepay_id)
    session.commit()
    run_payment_notifications(db)
    # then the order is paid, its stock allocated, and it waits at the store
    paid = client.get(f"/api/storefront/orders/{order['id']}", headers=headers(mall)).json()
    assert (paid["payment_status"], paid["fulfilment_status"], paid["status"]) == (
        "paid",
        "ready_for_pickup",
        "awaiting_pickup",
    )
    assert paid["paid_fen"] == 19800
    assert level(session, mall.store_location.id, mall.tee_s.id) == (5, 0, 1)
    assert level(session, mall.world.warehouse.id, mall.tee_m.id) == (10, 0, 1)


def test_a_duplicate_notification_changes_nothing_more(
    session: Session, db: Database, client: TestClient, mall: Mall
) -> None:
    # given an order paid with a notification delivered twice
    order = place(
        client,
        mall,
        {"lines": [{"sku_id": mall.tee_s.id, "quantity": 1}], "fulfilment_method": "pickup"},
    ).json()
    pay = client.post(f"/api/storefront/orders/{order['id']}/payments", headers=headers(mall))
    sandbox_pay(session, pay.json()["pay_params"]["package"].removeprefix("prepay_id="), copies=2)
    session.commit()
    # when both copies are delivered
    run_payment_notifications(db)
    # then the order was paid once
    session.expire_all()
    outcomes = sorted(session.scalars(select(PaymentNotification.outcome)).all())
    assert outcomes == ["duplicate", "paid"]
    assert level(session, mall.store_location.id, mall.tee_s.id) == (5, 0, 1)


def test_money_for_a_cancelled_order_is_refunded_automatically(
    session: Session, db: Database, client: TestClient, mall: Mall
) -> None:
    # given the consumer started paying, then the order was cancelled before the money came
    order = place(
        client,
        mall,
        {"lines": [{"sku_id": mall.tee_s.id, "quantity": 2}], "fulfilment_method": "pickup"},
    ).json()
    pay = client.post(f"/api/storefront/orders/{order['id']}/payments", headers=headers(mall))
    cancelled = client.post(f"/api/storefront/orders/{order['id']}/cancel", headers=headers(mall))
    assert cancelled.json()["status"] == "cancelled"
    assert level(session, mall.store_location.id, mall.tee_s.id) == (5, 0, 0)
    # when the payment arrives anyway
    sandbox_pay(session, pay.json()["pay_params"]["package"].removeprefix("prepay_id="))
    session.commit()
    run_payment_notifications(db)
    # then it is refunded in full and the order stays cancelled
    session.expire_all()
    refund = session.scalars(select(Refund)).one()
    assert (refund.amount_fen, refund.reason) == (
        19800,
        "Order was cancelled before the payment arrived",
    )
    final = session.get(Order, (mall.world.brand.id, order["id"]))
    assert final is not None
    assert (final.lifecycle_status, final.payment_status) == ("cancelled", "unpaid")


def test_unpaid_orders_are_cancelled_when_payment_is_due_and_their_stock_returns(
    session: Session, client: TestClient, mall: Mall
) -> None:
    # given an unpaid order
    order = place(
        client,
        mall,
        {"lines": [{"sku_id": mall.tee_s.id, "quantity": 3}], "fulfilment_method": "pickup"},
    ).json()
    assert level(session, mall.store_location.id, mall.tee_s.id) == (5, 3, 0)
    due = datetime.fromisoformat(order["payment_due_at"])
    # when the job runs a second after the deadline
    report = cancel_overdue_orders(session, now=due + timedelta(seconds=1))
    session.commit()
    # then
    assert report.cancelled == 1
    assert level(session, mall.store_location.id, mall.tee_s.id) == (5, 0, 0)
    final = client.get(f"/api/storefront/orders/{order['id']}", headers=headers(mall)).json()
    assert (final["status"], final["pickup_code"]) == ("cancelled", None)


def test_an_order_placed_while_the_store_is_closed_still_belongs_to_it(
    session: Session, mall: Mall
) -> None:
    # when an order is placed at 23:30 Beijing time (the store closes at 22:00)
    late = datetime(2026, 11, 22, 15, 30, tzinfo=UTC)
    shopper = CheckoutShopper(mall.world.brand.id, mall.shopper.consumer.id, "test")
    placed = place_order(
        session,
        shopper,
        mall.store_id,
        PlaceOrder(
            lines=[OrderLineIn(sku_id=mall.tee_s.id, quantity=1)],
            fulfilment_method=FulfilmentMethod.PICKUP,
        ),
        idempotency_key="late-night-1",
        now=late,
    )
    # then
    assert placed.created is True
    assert (placed.order.placed_after_hours, placed.order.selling_store_id) == (True, mall.store_id)
    assert placed.order.number.startswith("261122")


def test_express_orders_ship_to_the_address_and_pay_shipping_below_the_threshold(
    client: TestClient, mall: Mall
) -> None:
    response = place(
        client,
        mall,
        {
            "lines": [{"sku_id": mall.tee_s.id, "quantity": 1}],
            "fulfilment_method": "express",
            "address_id": mall.address.id,
        },
    )
    order = response.json()
    assert response.status_code == 201, response.text
    assert (order["subtotal_fen"], order["shipping_fen"], order["total_fen"]) == (9900, 1000, 10900)
    assert order["shipping_address"]["recipient"] == "Li Lei"
    assert order["pickup_code"] is None


@pytest.mark.parametrize(
    ("lines", "method", "status", "code", "field"),
    [
        ([("unknown", 1)], "pickup", 422, "sku_unavailable", "lines[0].sku_id"),
        ([("tee_s", 6)], "pickup", 422, "quantity_over_limit", "lines[0].quantity"),
        ([("tee_s", 0)], "pickup", 422, "validation_error", "lines.0.quantity"),
        ([("jacket", 1)], "pickup", 409, "insufficient_stock", "lines[0].quantity"),
        ([("tee_s", 1)], "express", 422, "address_required", "address_id"),
        ([], "pickup", 422, "empty_order", "lines"),
    ],
)
def test_bad_orders_are_refused_and_write_nothing(
    session: Session,
    client: TestClient,
    mall: Mall,
    lines: list[tuple[str, int]],
    method: str,
    status: int,
    code: str,
    field: str,
) -> None:
    # given
    before = row_counts(session)
    skus = {"tee_s": mall.tee_s.id, "jacket": mall.jacket.id, "unknown": 999_999}
    body = {
        "lines": [{"sku_id": skus[s], "quantity": q} for s, q in lines],
        "fulfilment_method": method,
    }
    # when
    response = place(client, mall, body)
    # then
    problem = assert_problem(response, status, code)
    assert problem["field"] == field
    assert row_counts(session) == before


def test_an_order_needs_an_idempotency_key(
    session: Session, client: TestClient, mall: Mall
) -> None:
    before = row_counts(session)
    response = client.post(
        f"/api/storefront/stores/{mall.store_id}/orders",
        json={"lines": [{"sku_id": mall.tee_s.id, "quantity": 1}], "fulfilment_method": "pickup"},
        headers=headers(mall),
    )
    problem = assert_problem(response, 422, "validation_error")
    assert problem["field"] == "Idempotency-Key"
    assert row_counts(session) == before


def test_staff_tokens_cannot_shop(session: Session, client: TestClient, mall: Mall) -> None:
    response = client.get(
        f"/api/storefront/stores/{mall.store_id}/cart", headers=mall.world.headers("brand_admin")
    )
    assert_problem(response, 401, "invalid_token")


@pytest.mark.parametrize(
    ("who", "status"),
    [("store_manager", 200), ("region_manager", 200), ("franchisee_owner", 404), ("guide", 403)],
)
def test_staff_see_orders_of_their_stores_only(
    client: TestClient, mall: Mall, who: str, status: int
) -> None:
    order = place(
        client,
        mall,
        {
            "lines": [{"sku_id": mall.tee_s.id, "quantity": 1}],
            "fulfilment_method": "express",
            "address_id": mall.address.id,
        },
    ).json()
    response = client.get(f"/api/orders/{order['id']}", headers=mall.world.headers(who))
    assert response.status_code == status, response.text
    if status == 200:
        assert response.json()["shipping_address"]["phone"] == "139****1111"
        assert response.json()["pickup_code"] is None


def test_the_payment_count_is_one_per_attempt(
    session: Session, client: TestClient, mall: Mall
) -> None:
    order = place(
        client,
        mall,
        {"lines": [{"sku_id": mall.tee_s.id, "quantity": 1}], "fulfilment_method": "pickup"},
    ).json()
    first = client.post(f"/api/storefront/orders/{order['id']}/payments", headers=headers(mall))
    second = client.post(f"/api/storefront/orders/{order['id']}/payments", headers=headers(mall))
    assert first.json()["out_trade_no"] == second.json()["out_trade_no"]
    assert session.scalar(select(func.count()).select_from(Payment)) == 1
    assert session.scalar(select(func.count()).select_from(StockHold)) == 1


def test_a_cart_reservation_holds_stock_until_the_order_takes_it_over(
    session: Session, client: TestClient, mall: Mall
) -> None:
    # given a cart of 2 S tees, reserved
    base = f"/api/storefront/stores/{mall.store_id}"
    client.put(f"{base}/cart/lines/{mall.tee_s.id}", json={"quantity": 2}, headers=headers(mall))
    reserved = client.post(f"{base}/cart/reservation", headers=headers(mall))
    assert reserved.status_code == 200, reserved.text
    assert reserved.json()["held"] == [
        {"sku_id": mall.tee_s.id, "location_id": mall.store_location.id, "quantity": 2}
    ]
    assert level(session, mall.store_location.id, mall.tee_s.id) == (5, 2, 0)
    # when reserving again, then the hold is renewed, not doubled
    client.post(f"{base}/cart/reservation", headers=headers(mall))
    assert level(session, mall.store_location.id, mall.tee_s.id) == (5, 2, 0)
    # when the order is placed from the cart
    placed = place(client, mall, {"fulfilment_method": "pickup"})
    # then the order holds the units and the cart holds nothing
    assert placed.status_code == 201, placed.text
    assert level(session, mall.store_location.id, mall.tee_s.id) == (5, 2, 0)
    session.expire_all()
    holders = sorted(
        (h.holder_kind, h.status, h.quantity) for h in session.scalars(select(StockHold))
    )
    assert holders == [("cart", "released", 2), ("cart", "released", 2), ("order", "reserved", 2)]


def test_an_expired_cart_reservation_gives_the_stock_back(
    session: Session, client: TestClient, mall: Mall
) -> None:
    from siyu.inventory.maintenance import expire_reservations

    # given a reserved cart
    base = f"/api/storefront/stores/{mall.store_id}"
    client.put(f"{base}/cart/lines/{mall.tee_s.id}", json={"quantity": 3}, headers=headers(mall))
    expires = client.post(f"{base}/cart/reservation", headers=headers(mall)).json()["expires_at"]
    # when the expiry job runs after the reservation ran out
    released = expire_reservations(
        session, now=datetime.fromisoformat(expires) + timedelta(seconds=1)
    )
    session.commit()
    # then
    assert released == 1
    assert level(session, mall.store_location.id, mall.tee_s.id) == (5, 0, 0)


def test_a_cart_that_cannot_be_held_whole_holds_nothing(
    session: Session, client: TestClient, mall: Mall
) -> None:
    # given a cart with a jacket nobody stocks
    base = f"/api/storefront/stores/{mall.store_id}"
    client.put(f"{base}/cart/lines/{mall.tee_s.id}", json={"quantity": 1}, headers=headers(mall))
    client.put(f"{base}/cart/lines/{mall.jacket.id}", json={"quantity": 1}, headers=headers(mall))
    before = row_counts(session)
    # when
    response = client.post(f"{base}/cart/reservation", headers=headers(mall))
    # then
    assert_problem(response, 409, "insufficient_stock")
    assert row_counts(session) == before
