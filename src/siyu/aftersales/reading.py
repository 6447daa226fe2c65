"""Reading after-sale requests: the consumer's own, and staff's within their scope, with their
lines, order numbers and refunds loaded in a fixed number of queries."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from siyu.access.rules import Actor, Permission
from siyu.aftersales.errors import AfterSaleNotFound
from siyu.aftersales.models import AfterSale, AfterSaleLine
from siyu.orders.checkout import Shopper
from siyu.orders.models import Order, OrderLine
from siyu.org.models import Store
from siyu.org.service import store_scope
from siyu.payments.models import Refund


@dataclass(frozen=True)
class AfterSaleView:
    after_sale: AfterSale
    order_number: str
    lines: list[tuple[AfterSaleLine, OrderLine]]
    refund: Refund | None


def views(session: Session, rows: Sequence[AfterSale]) -> list[AfterSaleView]:
    """The requests with their lines, order numbers and refunds (four queries in all)."""
    if not rows:
        return []
    brand_id = rows[0].brand_id
    ids = [row.id for row in rows]
    numbers: dict[int, str] = {
        order_id: number
        for order_id, number in session.execute(
            select(Order.id, Order.number).where(
                Order.brand_id == brand_id, Order.id.in_({row.order_id for row in rows})
            )
        )
    }
    lines: dict[int, list[tuple[AfterSaleLine, OrderLine]]] = defaultdict(list)
    for request_line, order_line in session.execute(
        select(AfterSaleLine, OrderLine)
        .join(
            OrderLine,
            (OrderLine.brand_id == AfterSaleLine.brand_id)
            & (OrderLine.id == AfterSaleLine.order_line_id),
        )
        .where(AfterSaleLine.brand_id == brand_id, AfterSaleLine.after_sale_id.in_(ids))
        .order_by(AfterSaleLine.id)
    ):
        lines[request_line.after_sale_id].append((request_line, order_line))
    refunds = {
        refund.after_sale_id: refund
        for refund in session.scalars(
            select(Refund)
            .where(Refund.brand_id == brand_id, Refund.after_sale_id.in_(ids))
            .order_by(Refund.id)
        )
    }
    return [
        AfterSaleView(row, numbers.get(row.order_id, ""), lines[row.id], refunds.get(row.id))
        for row in rows
    ]


def view(session: Session, after_sale: AfterSale) -> AfterSaleView:
    return views(session, [after_sale])[0]


def _page(
    session: Session, conditions: Sequence[ColumnElement[bool]], limit: int, offset: int
) -> tuple[Sequence[AfterSale], int]:
    total = session.scalar(select(func.count()).select_from(AfterSale).where(*conditions)) or 0
    rows = session.scalars(
        select(AfterSale)
        .where(*conditions)
        .order_by(AfterSale.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return rows, total


def consumer_after_sales(
    session: Session,
    shopper: Shopper,
    *,
    status: str | None = None,
    limit: int = 20,
    offset: int = 0,
) -> tuple[Sequence[AfterSale], int]:
    """The consumer's own requests, newest first."""
    conditions: list[ColumnElement[bool]] = [
        AfterSale.brand_id == shopper.brand_id,
        AfterSale.consumer_id == shopper.consumer_id,
    ]
    if status is not None:
        conditions.append(AfterSale.status == status)
    return _page(session, conditions, limit, offset)


def consumer_after_sale(session: Session, shopper: Shopper, after_sale_id: int) -> AfterSale:
    row = session.scalar(
        select(AfterSale).where(
            AfterSale.brand_id == shopper.brand_id,
            AfterSale.consumer_id == shopper.consumer_id,
            AfterSale.id == after_sale_id,
        )
    )
    if row is None:
        raise AfterSaleNotFound(f"After-sale request {after_sale_id} was not found.")
    return row


def after_sale_scope(actor: Actor) -> ColumnElement[bool]:
    """Requests of the stores the actor may see (brand condition included)."""
    return (AfterSale.brand_id == actor.brand_id) & AfterSale.store_id.in_(
        select(Store.id).where(store_scope(actor))
    )


def staff_after_sales(
    session: Session,
    actor: Actor,
    *,
    status: str | None = None,
    store_id: int | None = None,
    order_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[Sequence[AfterSale], int]:
    """Requests of the stores in the actor's scope, newest first. Needs order:read."""
    actor.require(Permission.ORDER_READ)
    conditions: list[ColumnElement[bool]] = [after_sale_scope(actor)]
    if status is not None:
        conditions.append(AfterSale.status == status)
    if store_id is not None:
        conditions.append(AfterSale.store_id == store_id)
    if order_id is not None:
        conditions.append(AfterSale.order_id == order_id)
    return _page(session, conditions, limit, offset)


def staff_after_sale(session: Session, actor: Actor, after_sale_id: int) -> AfterSale:
    """One request in the actor's scope (order:read); AfterSaleNotFound otherwise."""
    actor.require(Permission.ORDER_READ)
    row = session.scalar(
        select(AfterSale).where(after_sale_scope(actor), AfterSale.id == after_sale_id)
    )
    if row is None:
        raise AfterSaleNotFound(f"After-sale request {after_sale_id} was not found.")
    return row
