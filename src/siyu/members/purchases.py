"""Keeping members' purchase summaries in step with paid and refunded mall orders.

Order events arrive at least once (``siyu.members.subscribers``), so each order's payment and
each refund is counted through a marker row (``member_purchase_entry``) inserted in the same
statement that decides whether to count: a second delivery finds the marker and changes
nothing. Refunds are taken back from the member the payment was counted for (or the member it
was merged into). None of these functions commits.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from siyu.consumers.models import Consumer
from siyu.members.identity import survivor_of
from siyu.members.lifecycle import evaluate_lifecycle
from siyu.members.locks import lock_member
from siyu.members.membership import membership_of
from siyu.members.models import MemberPurchaseEntry
from siyu.members.stats import record_purchase, record_refund
from siyu.orders.models import Order

PAID = "paid"
REFUNDED = "refunded"


def count_paid_order(
    session: Session, brand_id: int, order_id: int, *, paid_fen: int, at: datetime
) -> bool:
    """Count a paid order in its consumer's member's summary; False when it was counted
    already (or the order is unknown). Locks the member row. Side effects: the member
    registered as a prospect if the consumer had none, MemberLifecycleChanged when buying
    moves the stage."""
    order = session.get(Order, (brand_id, order_id))
    consumer = session.get(Consumer, (brand_id, order.consumer_id)) if order else None
    if order is None or consumer is None:
        return False
    member = membership_of(session, brand_id, consumer)
    moment = order.paid_at or at
    marker = session.execute(
        insert(MemberPurchaseEntry)
        .values(
            brand_id=brand_id,
            member_id=member.id,
            order_id=order_id,
            kind=PAID,
            amount_fen=paid_fen,
            occurred_at=moment,
        )
        .on_conflict_do_nothing(
            # A literal predicate: once psycopg prepares the statement (after a few runs) a bound
            # parameter here no longer proves the partial index applies.
            index_elements=["brand_id", "order_id"],
            index_where=text(f"kind = '{PAID}'"),
        )
        .returning(MemberPurchaseEntry.id)
    ).first()
    if marker is None:
        return False
    record_purchase(session, brand_id, member.id, amount_fen=paid_fen, at=moment)
    locked = lock_member(session, brand_id, member.id)
    assert locked is not None
    evaluate_lifecycle(session, locked)
    return True


def count_refund(
    session: Session,
    brand_id: int,
    order_id: int,
    refund_id: int,
    *,
    amount_fen: int,
    at: datetime,
) -> bool:
    """Take a refund back from the member the order was counted for; the refund that brings
    the order's refunds up to what was paid also uncounts the order. False when the refund
    was taken back already, or the payment was never counted. Locks the member row. Side
    effects: MemberLifecycleChanged when the stage moves (a last order refunded)."""
    paid = session.scalar(
        select(MemberPurchaseEntry).where(
            MemberPurchaseEntry.brand_id == brand_id,
            MemberPurchaseEntry.order_id == order_id,
            MemberPurchaseEntry.kind == PAID,
        )
    )
    if paid is None:
        return False
    member = survivor_of(session, brand_id, paid.member_id)
    locked = lock_member(session, brand_id, member.id)
    assert locked is not None
    earlier = session.scalar(
        select(func.coalesce(func.sum(MemberPurchaseEntry.amount_fen), 0)).where(
            MemberPurchaseEntry.brand_id == brand_id,
            MemberPurchaseEntry.order_id == order_id,
            MemberPurchaseEntry.kind == REFUNDED,
        )
    )
    remaining = max(paid.amount_fen - int(earlier or 0), 0)
    taken = min(amount_fen, remaining)
    whole_order = remaining > 0 and taken >= remaining
    marker = session.execute(
        insert(MemberPurchaseEntry)
        .values(
            brand_id=brand_id,
            member_id=member.id,
            order_id=order_id,
            kind=REFUNDED,
            refund_id=refund_id,
            amount_fen=taken,
            whole_order=whole_order,
            occurred_at=at,
        )
        .on_conflict_do_nothing(
            index_elements=["brand_id", "refund_id"],
            index_where=text(f"kind = '{REFUNDED}'"),
        )
        .returning(MemberPurchaseEntry.id)
    ).first()
    if marker is None:
        return False
    record_refund(session, brand_id, member.id, amount_fen=taken, whole_order=whole_order)
    session.refresh(locked)
    evaluate_lifecycle(session, locked)
    return True
