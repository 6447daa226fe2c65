"""Fulfilment of paid orders: store pickup with write-off (核销), shipping and delivery.

Pickup: store staff enter or scan the consumer's pickup code at the counter; only an order of
*that* store with that code, only once, only when paid and not refunded or cancelled. Delivery
(express, local delivery): staff mark the order shipped (the stock leaves), then delivered
(staff, or the consumer confirming receipt). Both end with the order fulfilled and completed
and an ``OrderFulfilled`` event.

Locks: the order row (siyu.orders.locks.lock_order), then stock through siyu.inventory, as
everywhere in orders. Refusals and the ``OrderShipped`` event live here, next to the only code
that raises or records them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.access.rules import Actor, Permission
from siyu.audit.service import record_change
from siyu.consumers.models import Consumer
from siyu.core.clock import utc_now
from siyu.core.errors import Conflict, InvalidInput
from siyu.core.masking import mask_phone
from siyu.inventory.service import fulfil_holds
from siyu.orders import events
from siyu.orders.checkout import Shopper
from siyu.orders.errors import OrderNotFound, PickupCodeInvalid
from siyu.orders.locks import lock_order
from siyu.orders.models import Order, OrderEvent, OrderLine
from siyu.orders.service import add_order_event, consumer_order, order_lines, staff_order
from siyu.org.errors import StoreNotFound
from siyu.org.models import Store
from siyu.org.service import store_scope
from siyu.outbox.events import DomainEvent
from siyu.outbox.service import record_event

# ---------------------------------------------------------------- refusals and events


class AlreadyPickedUp(Conflict):
    code = "already_picked_up"


class OrderNotReadyForPickup(Conflict):
    """Unpaid, refunded, cancelled, or an after-sale request is open."""

    code = "order_not_ready_for_pickup"


class OrderNotShippable(Conflict):
    code = "order_not_shippable"


class AlreadyShipped(Conflict):
    code = "already_shipped"


class OrderNotShipped(Conflict):
    code = "order_not_shipped"


class AlreadyFulfilled(Conflict):
    code = "already_fulfilled"


class ShipmentDetailsRequired(InvalidInput):
    code = "shipment_details_required"


class OrderShipped(DomainEvent):
    aggregate_type = "order"
    order_id: int
    selling_store_id: int
    fulfilment_method: str
    carrier: str | None
    tracking_number: str | None


PAID_STATUSES = ("paid", "partially_refunded")
OPEN_AFTER_SALE = ("requested", "in_progress")
DELIVERED_METHODS = ("express", "local_delivery")


def _status_snapshot(order: Order) -> dict[str, Any]:
    return {
        "lifecycle_status": order.lifecycle_status,
        "payment_status": order.payment_status,
        "fulfilment_status": order.fulfilment_status,
        "fulfilled_at": order.fulfilled_at.isoformat() if order.fulfilled_at else None,
    }


def _check_goods_may_leave(order: Order, refusal: type[Conflict]) -> None:
    if order.lifecycle_status == "cancelled":
        raise refusal(f"Order {order.number} was cancelled.")
    if order.payment_status not in PAID_STATUSES:
        raise refusal(f"Order {order.number} is not paid ({order.payment_status}).")
    if order.after_sale_status in OPEN_AFTER_SALE:
        raise refusal(f"Order {order.number} has an open after-sale request; settle it first.")


def _complete(session: Session, order: Order, now: datetime) -> None:
    order.fulfilment_status = "fulfilled"
    order.fulfilled_at = now
    order.lifecycle_status = "completed"
    record_event(
        session,
        order.brand_id,
        events.OrderFulfilled(
            order_id=order.id,
            selling_store_id=order.selling_store_id,
            fulfilment_method=order.fulfilment_method,
            total_fen=order.total_fen,
        ),
    )


# ---------------------------------------------------------------- pickup and write-off


@dataclass(frozen=True)
class PickupView:
    """What the counter sees before handing over the goods: the consumer's phone masked."""

    order: Order
    lines: list[OrderLine]
    consumer_nickname: str | None
    consumer_phone_masked: str | None


def _visible_store(session: Session, actor: Actor, store_id: int) -> Store:
    store = session.scalar(select(Store).where(store_scope(actor), Store.id == store_id))
    if store is None:
        raise StoreNotFound(f"Store {store_id} was not found.", field="store_id")
    return store


def _order_by_code(session: Session, store: Store, code: str) -> Order:
    """The store's order with this pickup code: the one still waiting if there is one (codes
    are reused after pickup), else the latest one already picked up. PickupCodeInvalid (404)
    for a code of another store or no order."""
    code = code.strip()
    order = session.scalar(
        select(Order)
        .where(
            Order.brand_id == store.brand_id,
            Order.selling_store_id == store.id,
            Order.pickup_code == code,
            Order.fulfilment_method == "pickup",
        )
        .order_by((Order.fulfilment_status == "fulfilled").asc(), Order.id.desc())
        .limit(1)
    )
    if order is None:
        raise PickupCodeInvalid("No order of this store has that pickup code.", field="pickup_code")
    return order


def find_pickup(session: Session, actor: Actor, store_id: int, code: str) -> PickupView:
    """Look an order up by its pickup code before confirming (order:read, the store in scope).
    Raises PermissionDenied, StoreNotFound, PickupCodeInvalid."""
    actor.require(Permission.ORDER_READ)
    store = _visible_store(session, actor, store_id)
    order = _order_by_code(session, store, code)
    consumer = session.scalar(
        select(Consumer).where(
            Consumer.brand_id == order.brand_id, Consumer.id == order.consumer_id
        )
    )
    return PickupView(
        order,
        list(order_lines(session, order)),
        consumer.nickname if consumer else None,
        mask_phone(consumer.phone) if consumer else None,
    )


def write_off_pickup(
    session: Session, actor: Actor, store_id: int, code: str, *, now: datetime | None = None
) -> Order:
    """The consumer collected their order at the store: write the pickup code off.

    Needs order:write and the store in scope. The order becomes fulfilled and completed, its
    allocated stock leaves on_hand (fulfil_holds), with an order event ``picked_up`` naming
    the staff member, an audit entry and ``OrderFulfilled``. Locks the order, then stock.
    Raises PermissionDenied, StoreNotFound, PickupCodeInvalid (404: unknown code or another
    store's), AlreadyPickedUp (409), OrderNotReadyForPickup (409)."""
    actor.require(Permission.ORDER_WRITE)
    store = _visible_store(session, actor, store_id)
    found = _order_by_code(session, store, code)
    order = lock_order(session, found.brand_id, found.id)
    assert order is not None
    if order.fulfilment_status == "fulfilled":
        picked = order.fulfilled_at.isoformat() if order.fulfilled_at else "before"
        raise AlreadyPickedUp(
            f"Order {order.number} was already picked up ({picked}).",
            field="pickup_code",
            extra={"order_id": order.id},
        )
    if order.pickup_code != code.strip():  # changed (cancelled) while we waited for the lock
        raise PickupCodeInvalid("No order of this store has that pickup code.", field="pickup_code")
    _check_goods_may_leave(order, OrderNotReadyForPickup)
    if order.fulfilment_status != "ready_for_pickup":
        raise OrderNotReadyForPickup(f"Order {order.number} is not ready for pickup.")
    before = _status_snapshot(order)
    now = now or utc_now()
    fulfil_holds(
        session, order.brand_id, holder_kind="order", holder_id=order.id, actor_label=actor.label
    )
    _complete(session, order, now)
    add_order_event(
        session,
        order,
        "picked_up",
        actor.label,
        staff_id=actor.staff_id,
        store_id=store.id,
    )
    record_change(
        session,
        actor,
        action="order.pick_up",
        object_type="order",
        object_id=order.id,
        before=before,
        after=_status_snapshot(order),
    )
    return order


# ---------------------------------------------------------------- shipping and delivery


@dataclass(frozen=True)
class Shipment:
    """How an order left: a carrier and tracking number (express) or a courier (local)."""

    carrier: str | None = None
    tracking_number: str | None = None
    courier_name: str | None = None
    courier_phone: str | None = None


SHIPMENT_KIND = {"express": "An express shipment", "local_delivery": "A local delivery"}


def _check_shipment(order: Order, shipment: Shipment) -> dict[str, str]:
    if order.fulfilment_method == "express":
        needed = {"carrier": shipment.carrier, "tracking_number": shipment.tracking_number}
    else:
        needed = {"courier_name": shipment.courier_name, "courier_phone": shipment.courier_phone}
    for field, value in needed.items():
        if not value or not value.strip():
            raise ShipmentDetailsRequired(
                f"{SHIPMENT_KIND[order.fulfilment_method]} needs the {field.replace('_', ' ')}.",
                field=field,
            )
    return {field: str(value).strip() for field, value in needed.items()}


def ship_order(session: Session, actor: Actor, order_id: int, shipment: Shipment) -> Order:
    """Staff hand an express or local-delivery order to the carrier or courier.

    Needs order:write and the order's store in scope; the order must be paid, not cancelled,
    with no after-sale open. Its allocated stock leaves on_hand (fulfil_holds); the
    fulfilment status becomes ``shipped``; an order event ``shipped`` keeps the details; an
    audit entry and ``OrderShipped`` are recorded. Locks the order, then stock.
    Raises PermissionDenied, OrderNotFound, OrderNotShippable (pickup orders, unpaid, ...),
    AlreadyShipped, ShipmentDetailsRequired."""
    actor.require(Permission.ORDER_WRITE)
    staff_order(session, actor, order_id)
    order = lock_order(session, actor.brand_id, order_id)
    assert order is not None
    if order.fulfilment_method not in DELIVERED_METHODS:
        raise OrderNotShippable(
            f"Order {order.number} is collected at the store; write its pickup code off instead."
        )
    if order.fulfilment_status in {"shipped", "fulfilled"}:
        raise AlreadyShipped(f"Order {order.number} was already shipped.")
    _check_goods_may_leave(order, OrderNotShippable)
    details = _check_shipment(order, shipment)
    before = _status_snapshot(order)
    fulfil_holds(
        session, order.brand_id, holder_kind="order", holder_id=order.id, actor_label=actor.label
    )
    order.fulfilment_status = "shipped"
    add_order_event(session, order, "shipped", actor.label, staff_id=actor.staff_id, **details)
    audited = dict(details)
    if "courier_phone" in audited:
        audited["courier_phone"] = mask_phone(audited["courier_phone"]) or ""
    record_change(
        session,
        actor,
        action="order.ship",
        object_type="order",
        object_id=order.id,
        before=before,
        after=_status_snapshot(order) | audited,
    )
    record_event(
        session,
        order.brand_id,
        OrderShipped(
            order_id=order.id,
            selling_store_id=order.selling_store_id,
            fulfilment_method=order.fulfilment_method,
            carrier=details.get("carrier") or details.get("courier_name"),
            tracking_number=details.get("tracking_number"),
        ),
    )
    return order


def _deliver(session: Session, order: Order, actor_label: str, now: datetime) -> None:
    if order.fulfilment_status == "fulfilled":
        raise AlreadyFulfilled(f"Order {order.number} was already delivered.")
    if order.fulfilment_status != "shipped" or order.lifecycle_status == "cancelled":
        raise OrderNotShipped(f"Order {order.number} has not been shipped.")
    _complete(session, order, now)
    add_order_event(session, order, "delivered", actor_label)


def mark_delivered(
    session: Session, actor: Actor, order_id: int, *, now: datetime | None = None
) -> Order:
    """Staff confirm a shipped order arrived: fulfilled and completed, ``OrderFulfilled``,
    audited. Locks the order. Raises PermissionDenied, OrderNotFound, OrderNotShipped,
    AlreadyFulfilled."""
    actor.require(Permission.ORDER_WRITE)
    staff_order(session, actor, order_id)
    order = lock_order(session, actor.brand_id, order_id)
    assert order is not None
    before = _status_snapshot(order)
    _deliver(session, order, actor.label, now or utc_now())
    record_change(
        session,
        actor,
        action="order.deliver",
        object_type="order",
        object_id=order.id,
        before=before,
        after=_status_snapshot(order),
    )
    return order


def confirm_receipt(
    session: Session, shopper: Shopper, order_id: int, *, now: datetime | None = None
) -> Order:
    """The consumer confirms they received a shipped order (确认收货). Locks the order.
    Raises OrderNotFound, OrderNotShipped, AlreadyFulfilled."""
    consumer_order(session, shopper, order_id)
    order = lock_order(session, shopper.brand_id, order_id)
    assert order is not None
    _deliver(session, order, shopper.label, now or utc_now())
    return order


def latest_shipment(session: Session, order: Order) -> Shipment | None:
    """The details of the order's last ``shipped`` event, if it was shipped."""
    data = session.scalar(
        select(OrderEvent.data)
        .where(
            OrderEvent.brand_id == order.brand_id,
            OrderEvent.order_id == order.id,
            OrderEvent.kind == "shipped",
        )
        .order_by(OrderEvent.id.desc())
        .limit(1)
    )
    if data is None:
        return None
    return Shipment(
        carrier=data.get("carrier"),
        tracking_number=data.get("tracking_number"),
        courier_name=data.get("courier_name"),
        courier_phone=data.get("courier_phone"),
    )


def consumer_shipment(session: Session, shopper: Shopper, order_id: int) -> Shipment:
    """The shipment of one of the consumer's orders. Raises OrderNotFound (also when the
    order has not been shipped)."""
    order = consumer_order(session, shopper, order_id)
    shipment = latest_shipment(session, order)
    if shipment is None:
        raise OrderNotFound(f"Order {order_id} has not been shipped.", code="shipment_not_found")
    return shipment
