"""Points and growth value following the money: earned when an order is paid, taken back in
proportion when it is refunded, spent points given back with the refund.

Called by the outbox subscribers (siyu.loyalty.subscribers) for ``OrderPaid`` and
``OrderRefunded``; delivery is at least once, so both are idempotent: the growth ledger row of
the order (or the refund) is the marker, written first, and nothing else happens when it
exists. Locks: the member row (siyu.members.locks.lock_member), nothing else.

Known limit: a refund handled before its order's payment (only if the payment's delivery failed
and is being retried) takes nothing back, and the payment then earns in full.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.core.clock import utc_now
from siyu.loyalty import ledger, rules
from siyu.loyalty.models import GrowthEntry, PointsEntry, PointsLot
from siyu.orders.models import Order
from siyu.orders.payment import is_automatic_refund
from siyu.payments.models import Refund


def earn_for_paid_order(
    session: Session, brand_id: int, order_id: int, paid_fen: int, *, now: datetime | None = None
) -> bool:
    """Growth value (+1 per whole yuan) and points (policy × the member's tier multiplier,
    before this order's growth moves them) for a paid order of a member. False when the
    consumer is no member or the order was already counted. Side effects: growth and points
    ledger rows, a lot, MemberPointsChanged, MemberTierChanged when the tier moves."""
    now = now or utc_now()
    order = session.scalar(select(Order).where(Order.brand_id == brand_id, Order.id == order_id))
    if order is None:
        return False
    member_id = ledger.member_of_consumer(session, brand_id, order.consumer_id)
    if member_id is None:
        return False
    member = ledger.locked_member(session, brand_id, member_id)
    tiers = ledger.brand_tiers(session, brand_id)
    multiplier = ledger.multiplier_of(tiers, member.tier_code)
    counted = ledger.change_growth(
        session,
        member,
        kind="purchase",
        wanted=rules.growth_for(paid_fen),
        cause_type="order",
        cause_id=order_id,
        order_id=order_id,
        tiers=tiers,
        now=now,
    )
    if not counted:
        return False
    policy = ledger.points_rules(session, brand_id)
    points = rules.earned_points(paid_fen, policy, multiplier)
    if points > 0:
        ledger.add_points(
            session,
            member,
            kind="earn",
            points=points,
            cause=ledger.Cause("order", order_id, order_id),
            expires_at=rules.lot_expiry(now, policy),
            now=now,
        )
    return True


def _order_entries(session: Session, brand_id: int, order_id: int, kind: str) -> list[PointsEntry]:
    return list(
        session.scalars(
            select(PointsEntry)
            .where(
                PointsEntry.brand_id == brand_id,
                PointsEntry.order_id == order_id,
                PointsEntry.kind == kind,
            )
            .order_by(PointsEntry.id)
        )
    )


def reverse_for_refund(
    session: Session, brand_id: int, refund_id: int, *, now: datetime | None = None
) -> bool:
    """Take back growth and earned points in proportion to a refund, and give back spent
    points in the same proportion (cumulative over the order's refunds, so a full refund in
    parts takes back exactly what was given). Points already spent are taken from what is
    left; the rest is recorded as the row's shortfall. Refunds of money that never paid for
    the order (a payment after cancelling, a double payment) change nothing. False when there
    is nothing to do or the refund was already handled."""
    now = now or utc_now()
    refund = session.scalar(
        select(Refund).where(Refund.brand_id == brand_id, Refund.id == refund_id)
    )
    if refund is None or is_automatic_refund(refund):
        return False
    purchase = session.scalar(
        select(GrowthEntry).where(
            GrowthEntry.brand_id == brand_id,
            GrowthEntry.order_id == refund.order_id,
            GrowthEntry.kind == "purchase",
        )
    )
    if purchase is None:
        return False
    order = session.scalar(
        select(Order).where(Order.brand_id == brand_id, Order.id == refund.order_id)
    )
    assert order is not None
    member = ledger.locked_member(session, brand_id, purchase.member_id)
    earlier_refunds = session.scalars(
        select(GrowthEntry).where(
            GrowthEntry.brand_id == brand_id,
            GrowthEntry.order_id == order.id,
            GrowthEntry.kind == "refund",
        )
    ).all()
    refunded_before = int(
        session.scalar(
            select(func.coalesce(func.sum(Refund.amount_fen), 0)).where(
                Refund.brand_id == brand_id,
                Refund.id.in_([row.cause_id for row in earlier_refunds]),
            )
        )
        or 0
    )
    growth_taken_before = sum(row.shortfall - row.delta for row in earlier_refunds)

    def share(given: int, taken_before: int) -> int:
        return rules.proportional_reversal(
            given, order.paid_fen, refunded_before, refund.amount_fen, taken_before
        )

    handled = ledger.change_growth(
        session,
        member,
        kind="refund",
        wanted=share(purchase.delta, growth_taken_before),
        cause_type="refund",
        cause_id=refund.id,
        order_id=order.id,
        tiers=ledger.brand_tiers(session, brand_id),
        now=now,
    )
    if not handled:
        return False
    cause = ledger.Cause("refund", refund.id, order.id)
    # Every row below has this refund as its cause, so one row per kind at most is written:
    # what earlier refunds took back is read once.
    reversed_before = sum(
        row.shortfall - row.delta
        for row in _order_entries(session, brand_id, order.id, "reverse_earn")
    )
    returned_before = sum(
        row.delta for row in _order_entries(session, brand_id, order.id, "return_spend")
    )
    for earn in _order_entries(session, brand_id, order.id, "earn"):
        points = share(earn.delta, reversed_before)
        if points > 0:
            earn_lots = _lots_of_entry(session, brand_id, earn.id)
            ledger.take_points(
                session,
                member,
                kind="reverse_earn",
                points=points,
                cause=cause,
                now=now,
                first_lots=earn_lots,
                allow_shortfall=True,
            )
    for spend in _order_entries(session, brand_id, order.id, "spend"):
        points = share(-spend.delta, returned_before)
        if points > 0:
            ledger.give_back(
                session, member, spend_entry_id=spend.id, points=points, cause=cause, now=now
            )
    return True


def _lots_of_entry(session: Session, brand_id: int, entry_id: int) -> tuple[int, ...]:
    return tuple(
        session.scalars(
            select(PointsLot.id).where(
                PointsLot.brand_id == brand_id, PointsLot.entry_id == entry_id
            )
        )
    )
