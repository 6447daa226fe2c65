"""Row locks of orders. Order when several are needed: the order, then its payment(s), then
stock (through siyu.inventory), so two transactions on one order never deadlock."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.orders.models import Order


def locked_order(session: Session, brand_id: int, order_id: int) -> Order:
    """The order the caller already locked in this transaction (from the session, no SQL)."""
    order = session.get(Order, (brand_id, order_id))
    if order is None:
        order = lock_order(session, brand_id, order_id)
    assert order is not None
    return order


def lock_order(session: Session, brand_id: int, order_id: int) -> Order | None:
    return session.scalar(
        select(Order).where(Order.brand_id == brand_id, Order.id == order_id).with_for_update()
    )
