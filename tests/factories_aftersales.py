"""Factories of fulfilment and after-sales: paid orders through the storefront API and the
sandbox WeChat Pay, refunds delivered, after-sales events dispatched."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.access.rules import Role
from siyu.aftersales import subscribers
from siyu.aftersales.complaints import file_complaint
from siyu.aftersales.models import AfterSale, Complaint
from siyu.aftersales.rules import AfterSaleKind
from siyu.aftersales.schemas import AfterSaleCreate, AfterSaleLineIn, ComplaintCreate
from siyu.aftersales.service import request_after_sale
from siyu.db.session import Database
from siyu.inventory.models import StockLevel
from siyu.orders.checkout import Shopper as CheckoutShopper
from siyu.orders.checkout import place_order
from siyu.orders.models import FulfilmentMethod
from siyu.orders.schemas import OrderLineIn, PlaceOrder
from siyu.orders.service import order_lines, record_order_payment
from siyu.outbox.dispatcher import SubscriberRegistry, dispatch_pending
from siyu.wechat.sandbox_pay import sandbox_pay
from tests.factories import World, make_staff, token_for
from tests.factories_catalog import make_category, make_product, set_stock, store_location
from tests.factories_consumers import make_consumer
from tests.factories_mall import Mall, run_payment_notifications


def shopper_headers(mall: Mall, key: str | None = None) -> dict[str, str]:
    result = dict(mall.shopper.headers)
    if key:
        result["Idempotency-Key"] = key
    return result


def place(
    client: TestClient,
    mall: Mall,
    lines: list[tuple[int, int]],
    method: str = "pickup",
    key: str = "order-key-1",
) -> dict[str, Any]:
    """Place an order of (sku_id, quantity) lines through the storefront; returns its JSON."""
    body: dict[str, Any] = {
        "lines": [{"sku_id": sku_id, "quantity": quantity} for sku_id, quantity in lines],
        "fulfilment_method": method,
    }
    if method != "pickup":
        body["address_id"] = mall.address.id
    response = client.post(
        f"/api/storefront/stores/{mall.store_id}/orders",
        json=body,
        headers=shopper_headers(mall, key),
    )
    assert response.status_code == 201, response.text
    order: dict[str, Any] = response.json()
    return order


def pay(session: Session, db: Database, client: TestClient, mall: Mall, order_id: int) -> None:
    """Pay an order in the sandbox and deliver the notification."""
    started = client.post(
        f"/api/storefront/orders/{order_id}/payments", headers=mall.shopper.headers
    )
    assert started.status_code == 200, started.text
    sandbox_pay(session, started.json()["pay_params"]["package"].removeprefix("prepay_id="))
    session.commit()
    run_payment_notifications(db)


def paid_order(
    session: Session,
    db: Database,
    client: TestClient,
    mall: Mall,
    lines: list[tuple[int, int]],
    method: str = "pickup",
    key: str = "order-key-1",
) -> dict[str, Any]:
    """A placed and paid order, as the consumer sees it now."""
    order = place(client, mall, lines, method, key)
    pay(session, db, client, mall, order["id"])
    paid: dict[str, Any] = client.get(
        f"/api/storefront/orders/{order['id']}", headers=mall.shopper.headers
    ).json()
    assert paid["payment_status"] == "paid", paid
    return paid


def deliver_refunds(db: Database) -> None:
    """Deliver due refund notifications, then the outbox events after-sales listens to."""
    run_payment_notifications(db)
    dispatch_after_sales(db)


def dispatch_after_sales(db: Database) -> None:
    registry = SubscriberRegistry()
    subscribers.register(registry)
    while dispatch_pending(db, registry).claimed:
        pass


def level(session: Session, location_id: int, sku_id: int) -> tuple[int, int, int]:
    """(on_hand, reserved, allocated) of a SKU at a location."""
    session.expire_all()
    row = session.scalar(
        select(StockLevel).where(StockLevel.location_id == location_id, StockLevel.sku_id == sku_id)
    )
    assert row is not None
    return row.on_hand, row.reserved, row.allocated


def seed_after_sales(session: Session, world: World) -> dict[str, int]:
    """In ``world``'s brand, through the services: a paid pickup order, an after-sale request
    for it and a complaint. Returns the path parameters that name them."""
    category = make_category(session, world.system)
    _, skus = make_product(session, world.system, category, price_fen=5000)
    set_stock(session, store_location(session, world.direct_store), skus[0], 3)
    consumer = make_consumer(session, world.brand, f"seed-{world.brand.id}")
    shopper = CheckoutShopper(world.brand.id, consumer.consumer.id, "seed")
    order = place_order(
        session,
        shopper,
        world.direct_store.id,
        PlaceOrder(
            lines=[OrderLineIn(sku_id=skus[0].id, quantity=1)],
            fulfilment_method=FulfilmentMethod.PICKUP,
        ),
        idempotency_key="seed-after-sales",
    ).order
    record_order_payment(
        session,
        order.id,
        world.brand.id,
        amount_fen=order.total_fen,
        payment_id=0,
        paid_at=order.placed_at,
        actor_label="seed",
    )
    line = order_lines(session, order)[0]
    after_sale: AfterSale = request_after_sale(
        session,
        shopper,
        order.id,
        AfterSaleCreate(
            kind=AfterSaleKind.REFUND_ONLY,
            reason="Changed my mind",
            lines=[AfterSaleLineIn(order_line_id=line.id, quantity=1)],
            requested_refund_fen=order.total_fen,
        ),
    )
    complaint: Complaint = file_complaint(
        session,
        shopper,
        ComplaintCreate(
            store_id=world.direct_store.id, order_id=order.id, subject="Late", body="Slow"
        ),
    )
    session.flush()
    return {"order_id": order.id, "after_sale_id": after_sale.id, "complaint_id": complaint.id}


def other_store_manager_headers(session: Session, world: World) -> dict[str, str]:
    """The Bearer header of a (new) manager of ``world.other_store``: another store's."""
    manager = make_staff(session, world.system, Role.STORE_MANAGER, store=world.other_store)
    token = token_for(session, manager)
    session.commit()
    return {"Authorization": f"Bearer {token}"}
