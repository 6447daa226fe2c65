"""Posting orders to the per-store ledger: sales, refunds and fulfilment markers.

Every paid, refunded or fulfilled order posts one ``LedgerEntry`` per fact, keyed by
``source_key`` (``"<event type>:<order id>:<refund id or empty>"``), so posting the same fact
again (an event delivered twice, a backfill run over orders already posted) adds nothing.

- a sale is ``+paid_fen`` at the moment the order was paid;
- a refund is ``-amount_fen`` at the moment the refund succeeded;
- a fulfilment is a 0-fen marker at the moment the order was fulfilled (it counts, it does not
  move money).

The entry copies the store's ``franchisee_id`` at posting time (NULL for direct stores, which
post too, so HQ sees every store's ledger). Amounts and moments are read from the order and
refund rows, never trusted from an event payload. Money that never became a sale is not
posted: a payment that arrived for a cancelled order, or a second payment of a paid order,
and the automatic refunds that give it back.

These functions are system work (called by the outbox subscriber and the backfill command):
they take no ``Actor`` and write no audit entry. Lock: the brand's ledger lock, shared
(``siyu.settlement.locks``). They never commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from siyu.core.clock import utc_now
from siyu.core.logging import get_logger
from siyu.orders.events import OrderFulfilled, OrderPaid, OrderRefunded
from siyu.orders.models import Order
from siyu.orders.payment import is_automatic_refund
from siyu.org.models import Store
from siyu.payments.models import Refund
from siyu.settlement.locks import lock_ledger_for_posting
from siyu.settlement.models import LedgerEntry, SettlementRun
from siyu.settlement.rules import FULFILMENT, REFUND, SALE, booking_moment, source_key

log = get_logger("siyu.settlement")

SALE_EVENT = OrderPaid.event_type()
REFUND_EVENT = OrderRefunded.event_type()
FULFILMENT_EVENT = OrderFulfilled.event_type()
POSTED_EVENTS = frozenset({SALE_EVENT, REFUND_EVENT, FULFILMENT_EVENT})


@dataclass(frozen=True)
class Posting:
    """What one order fact posts (before booking into an open period)."""

    kind: str
    amount_fen: int
    moment: datetime
    source_key: str


def _sale(order: Order) -> Posting | None:
    if order.paid_at is None or order.paid_fen <= 0:
        return None
    return Posting(SALE, order.paid_fen, order.paid_at, source_key(SALE_EVENT, order.id))


def _refund(order: Order, refund: Refund | None) -> Posting | None:
    if refund is None or refund.order_id != order.id or refund.status != "succeeded":
        return None
    if order.paid_at is None:
        return None  # the order was never paid: this gave back a payment after cancellation
    if is_automatic_refund(refund):
        return None  # a duplicate payment returned: it was never the order's sale
    return Posting(
        REFUND,
        -refund.amount_fen,
        refund.succeeded_at or utc_now(),
        source_key(REFUND_EVENT, order.id, refund.id),
    )


def _fulfilment(order: Order, moment: datetime | None) -> Posting | None:
    when = order.fulfilled_at or moment
    if when is None:
        return None
    return Posting(FULFILMENT, 0, when, source_key(FULFILMENT_EVENT, order.id))


def _settled_periods(
    session: Session, brand_id: int, moment: datetime
) -> list[tuple[datetime, datetime]]:
    rows = session.execute(
        select(SettlementRun.period_start, SettlementRun.period_end).where(
            SettlementRun.brand_id == brand_id, SettlementRun.period_end > moment
        )
    ).all()
    return [(row.period_start, row.period_end) for row in rows]


def _write(session: Session, order: Order, posting: Posting) -> bool:
    """Insert the entry unless its source key was posted; True when a row was added."""
    franchisee_id = session.scalar(
        select(Store.franchisee_id).where(
            Store.brand_id == order.brand_id, Store.id == order.selling_store_id
        )
    )
    booked = booking_moment(
        posting.moment, _settled_periods(session, order.brand_id, posting.moment)
    )
    inserted = session.scalar(
        insert(LedgerEntry)
        .values(
            brand_id=order.brand_id,
            store_id=order.selling_store_id,
            franchisee_id=franchisee_id,
            order_id=order.id,
            kind=posting.kind,
            amount_fen=posting.amount_fen,
            source_key=posting.source_key,
            occurred_at=booked,
        )
        .on_conflict_do_nothing(index_elements=["brand_id", "source_key"])
        .returning(LedgerEntry.id)
    )
    return inserted is not None


def post_order_event(
    session: Session,
    brand_id: int,
    event_type: str,
    order_id: int,
    *,
    refund_id: int | None = None,
    moment: datetime | None = None,
) -> bool:
    """Post one order fact (``OrderPaid``, ``OrderRefunded`` with its ``refund_id``,
    ``OrderFulfilled``); True when an entry was added, False when it was posted before or
    there is nothing to post. ``moment`` is when the fact happened, for a fulfilment whose
    order does not record it. Takes the ledger lock shared."""
    if event_type not in POSTED_EVENTS:
        raise ValueError(f"{event_type} does not post to the settlement ledger")
    order = session.scalar(select(Order).where(Order.brand_id == brand_id, Order.id == order_id))
    if order is None:
        log.warning("settlement_posting_unknown_order", brand_id=brand_id, order_id=order_id)
        return False
    posting: Posting | None
    if event_type == SALE_EVENT:
        posting = _sale(order)
    elif event_type == REFUND_EVENT:
        refund = (
            session.scalar(
                select(Refund).where(Refund.brand_id == brand_id, Refund.id == refund_id)
            )
            if refund_id is not None
            else None
        )
        posting = _refund(order, refund)
    else:
        posting = _fulfilment(order, moment)
    if posting is None:
        return False
    lock_ledger_for_posting(session, brand_id)
    return _write(session, order, posting)


def post_order_to_ledger(session: Session, brand_id: int, order_id: int) -> int:
    """Post everything an order should have posted so far (its sale, every succeeded refund,
    its fulfilment) and return how many entries were added; entries already posted are left
    alone. For orders paid before the ledger subscriber existed. Takes the ledger lock
    shared."""
    order = session.scalar(select(Order).where(Order.brand_id == brand_id, Order.id == order_id))
    if order is None:
        return 0
    refunds: Sequence[Refund] = session.scalars(
        select(Refund)
        .where(
            Refund.brand_id == brand_id,
            Refund.order_id == order_id,
            Refund.status == "succeeded",
        )
        .order_by(Refund.id)
    ).all()
    postings = [
        _sale(order),
        *(_refund(order, refund) for refund in refunds),
        _fulfilment(order, None),
    ]
    due = [p for p in postings if p is not None]
    if not due:
        return 0
    lock_ledger_for_posting(session, brand_id)
    return sum(_write(session, order, posting) for posting in due)


@dataclass(frozen=True)
class BackfillReport:
    orders: int
    posted: int


def backfill_ledger(session: Session, brand_id: int, *, batch_size: int = 500) -> BackfillReport:
    """``post_order_to_ledger`` for every paid order of the brand, in id order."""
    orders = posted = 0
    last_id = 0
    while True:
        ids = session.scalars(
            select(Order.id)
            .where(Order.brand_id == brand_id, Order.paid_at.is_not(None), Order.id > last_id)
            .order_by(Order.id)
            .limit(batch_size)
        ).all()
        if not ids:
            return BackfillReport(orders, posted)
        for order_id in ids:
            posted += post_order_to_ledger(session, brand_id, order_id)
        orders += len(ids)
        last_id = ids[-1]
