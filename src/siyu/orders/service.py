"""Orders after checkout: reading them, cancelling unpaid ones, and recording payment.

Consumers see only their own orders; staff see the orders of the stores in their scope.
Locks: the order row (siyu.orders.locks.lock_order), then stock through siyu.inventory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from siyu.access.rules import Actor, Permission
from siyu.core.clock import utc_now
from siyu.inventory.service import allocate_holds, release_holds
from siyu.loyalty.redeeming import return_points_of_cancelled_order
from siyu.orders import events
from siyu.orders.checkout import Shopper
from siyu.orders.errors import OrderNotCancellable, OrderNotFound
from siyu.orders.locks import lock_order
from siyu.orders.models import Order, OrderEvent, OrderLine
from siyu.org.models import Store
from siyu.org.service import store_scope
from siyu.outbox.service import record_event

SYSTEM_LABEL = "system"


def consumer_order(session: Session, shopper: Shopper, order_id: int) -> Order:
    order = session.scalar(
        select(Order).where(
            Order.brand_id == shopper.brand_id,
            Order.consumer_id == shopper.consumer_id,
            Order.id == order_id,
        )
    )
    if order is None:
        raise OrderNotFound(f"Order {order_id} was not found.")
    return order


def consumer_orders(
    session: Session, shopper: Shopper, *, limit: int = 20, offset: int = 0
) -> tuple[Sequence[Order], int]:
    condition = (Order.brand_id == shopper.brand_id) & (Order.consumer_id == shopper.consumer_id)
    total = session.scalar(select(func.count()).select_from(Order).where(condition)) or 0
    rows = session.scalars(
        select(Order).where(condition).order_by(Order.id.desc()).limit(limit).offset(offset)
    ).all()
    return rows, total


def order_lines(session: Session, order: Order) -> Sequence[OrderLine]:
    return session.scalars(
        select(OrderLine)
        .where(OrderLine.brand_id == order.brand_id, OrderLine.order_id == order.id)
        .order_by(OrderLine.id)
    ).all()


def lines_by_order(session: Session, orders: Sequence[Order]) -> dict[int, list[OrderLine]]:
    """The lines of many orders in one query."""
    if not orders:
        return {}
    brand_id = orders[0].brand_id
    grouped: dict[int, list[OrderLine]] = {order.id: [] for order in orders}
    for line in session.scalars(
        select(OrderLine)
        .where(OrderLine.brand_id == brand_id, OrderLine.order_id.in_(grouped))
        .order_by(OrderLine.id)
    ):
        grouped[line.order_id].append(line)
    return grouped


def order_scope(actor: Actor) -> ColumnElement[bool]:
    """Orders of the stores the actor may see (brand condition included)."""
    return (Order.brand_id == actor.brand_id) & Order.selling_store_id.in_(
        select(Store.id).where(store_scope(actor))
    )


def staff_orders(
    session: Session,
    actor: Actor,
    *,
    store_id: int | None = None,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[Sequence[Order], int]:
    """Orders in the actor's scope, newest first. Needs ``order:read``."""
    actor.require(Permission.ORDER_READ)
    conditions: list[ColumnElement[bool]] = [order_scope(actor)]
    if store_id is not None:
        conditions.append(Order.selling_store_id == store_id)
    if status is not None:
        conditions.append(Order.payment_status == status)
    total = session.scalar(select(func.count()).select_from(Order).where(*conditions)) or 0
    rows = session.scalars(
        select(Order).where(*conditions).order_by(Order.id.desc()).limit(limit).offset(offset)
    ).all()
    return rows, total


def staff_order(session: Session, actor: Actor, order_id: int) -> Order:
    actor.require(Permission.ORDER_READ)
    order = session.scalar(select(Order).where(order_scope(actor), Order.id == order_id))
    if order is None:
        raise OrderNotFound(f"Order {order_id} was not found.")
    return order


def order_events(session: Session, order: Order) -> Sequence[OrderEvent]:
    """The order's event log, oldest first. The caller has read the order through
    ``staff_order`` or ``consumer_order`` (which check who may see it)."""
    return session.scalars(
        select(OrderEvent)
        .where(OrderEvent.brand_id == order.brand_id, OrderEvent.order_id == order.id)
        .order_by(OrderEvent.id)
    ).all()


def add_order_event(
    session: Session, order: Order, kind: str, actor_label: str, **data: object
) -> None:
    session.add(
        OrderEvent(
            brand_id=order.brand_id,
            order_id=order.id,
            kind=kind,
            actor_label=actor_label,
            data=data,
        )
    )


def _cancel(session: Session, order: Order, reason: str, actor_label: str, now: datetime) -> None:
    order.lifecycle_status = "cancelled"
    order.cancelled_at = now
    order.cancel_reason = reason
    order.pickup_code = None
    release_holds(
        session,
        order.brand_id,
        holder_kind="order",
        holder_id=order.id,
        actor_label=actor_label,
        reason=reason,
    )
    if order.points_spent:
        return_points_of_cancelled_order(session, order.brand_id, order.id, now=now)
    add_order_event(session, order, "cancelled", actor_label, reason=reason)
    record_event(
        session,
        order.brand_id,
        events.OrderCancelled(
            order_id=order.id, selling_store_id=order.selling_store_id, reason=reason
        ),
    )


def cancel_unpaid_order(session: Session, shopper: Shopper, order_id: int) -> Order:
    """The consumer cancels an order they have not paid. Locks the order (then the member when
    it spent points); gives the stock and the points back. Raises OrderNotFound,
    OrderNotCancellable."""
    consumer_order(session, shopper, order_id)
    order = lock_order(session, shopper.brand_id, order_id)
    assert order is not None
    if order.lifecycle_status != "open" or order.payment_status != "unpaid":
        raise OrderNotCancellable(
            "Only an unpaid open order can be cancelled here; ask for a refund instead."
        )
    _cancel(session, order, "cancelled_by_consumer", shopper.label, utc_now())
    return order


@dataclass(frozen=True)
class ExpiryReport:
    cancelled: int


def cancel_overdue_orders(
    session: Session, *, now: datetime | None = None, batch_size: int = 500
) -> ExpiryReport:
    """Cancel open orders still unpaid after their payment deadline (all brands; a job),
    giving back their stock and the points they spent.

    Claims orders with FOR UPDATE SKIP LOCKED, so a payment being recorded at the same moment
    wins and several workers may run."""
    now = now or utc_now()
    overdue = session.scalars(
        select(Order)
        .where(
            Order.lifecycle_status == "open",
            Order.payment_status == "unpaid",
            Order.payment_due_at <= now,
        )
        .order_by(Order.payment_due_at)
        .limit(batch_size)
        .with_for_update(skip_locked=True)
    ).all()
    for order in overdue:
        _cancel(session, order, "payment_timeout", SYSTEM_LABEL, now)
    return ExpiryReport(len(overdue))


@dataclass(frozen=True)
class PaymentOutcome:
    """What recording a payment did: ``paid``, ``duplicate`` or ``order_cancelled`` (the
    caller refunds the money then)."""

    result: str
    order: Order


def record_order_payment(
    session: Session,
    order_id: int,
    brand_id: int,
    *,
    amount_fen: int,
    payment_id: int,
    paid_at: datetime,
    actor_label: str,
) -> PaymentOutcome:
    """Mark an order paid and turn its stock holds into allocations. Locks the order.
    Idempotent: a second notice for a paid order is a ``duplicate``."""
    order = lock_order(session, brand_id, order_id)
    if order is None:
        raise OrderNotFound(f"Order {order_id} was not found.")
    if order.payment_status != "unpaid":
        return PaymentOutcome("duplicate", order)
    if order.lifecycle_status == "cancelled":
        add_order_event(session, order, "payment_after_cancel", actor_label, amount_fen=amount_fen)
        return PaymentOutcome("order_cancelled", order)
    order.payment_status = "paid"
    order.paid_fen = amount_fen
    order.paid_at = paid_at
    if order.fulfilment_method == "pickup":
        order.fulfilment_status = "ready_for_pickup"
    add_order_event(session, order, "paid", actor_label, amount_fen=amount_fen)
    record_event(
        session,
        brand_id,
        events.OrderPaid(
            order_id=order.id,
            selling_store_id=order.selling_store_id,
            paid_fen=amount_fen,
            payment_id=payment_id,
        ),
    )
    # Stock rows are locked last, so the locks are held only until the commit that follows.
    allocate_holds(
        session, brand_id, holder_kind="order", holder_id=order.id, actor_label=actor_label
    )
    return PaymentOutcome("paid", order)
