"""Points at checkout (积分抵扣): the pricing stage a consumer asks for, spending the points
with the order, and giving them back when an unpaid order is cancelled.

Called by siyu.orders.checkout (cart pricing and placing) and siyu.orders.service (cancelling);
imports nothing of theirs. Locks: the member row, after the order (when the caller holds one).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.core.clock import utc_now
from siyu.loyalty import ledger, rules
from siyu.loyalty.errors import PointsInsufficient, PointsNotRedeemable
from siyu.loyalty.models import PointsEntry
from siyu.members.models import Member
from siyu.pricing.rules import PointsStage, Priced, stage_discount_fen


@dataclass(frozen=True)
class PointsUse:
    """What the points stage did to a priced basket."""

    points: int
    discount_fen: int


def points_stage(
    session: Session, brand_id: int, consumer_id: int, points_to_spend: int, *, placing: bool
) -> PointsStage | None:
    """The points stage for a consumer asking to spend ``points_to_spend`` (None: no stage).

    Reading a cart (``placing`` false) caps the points by the current balance and quietly
    applies none when points cannot be used (no member, switched off); placing an order leaves
    the balance to ``lock_points`` and refuses instead. Raises PointsNotRedeemable (not whole
    redemption units; on placing: no member, points switched off)."""
    if points_to_spend <= 0:
        return None
    policy = ledger.points_rules(session, brand_id)
    if not rules.is_whole_units(points_to_spend, policy):
        raise PointsNotRedeemable(
            f"Points are spent in units of {policy.redeem_points_per_yuan} (¥1).",
            field="points_to_spend",
            extra={"redeem_points_per_yuan": policy.redeem_points_per_yuan},
        )
    member_id = ledger.member_of_consumer(session, brand_id, consumer_id)
    if member_id is None or not policy.enabled:
        if placing:
            reason = "Only members spend points." if member_id is None else "Points are off."
            raise PointsNotRedeemable(reason, field="points_to_spend")
        return None
    balance: int | None = None
    if not placing:
        balance = session.scalar(
            select(Member.points_balance).where(Member.brand_id == brand_id, Member.id == member_id)
        )
    return PointsStage(
        points_requested=points_to_spend,
        redeem_points_per_yuan=policy.redeem_points_per_yuan,
        max_redeem_permille=policy.max_redeem_permille,
        balance=balance,
    )


def points_used(stage: PointsStage | None, priced: Priced) -> PointsUse:
    """The points the stage spent on ``priced`` and the discount they gave."""
    if stage is None:
        return PointsUse(0, 0)
    discount_fen = stage_discount_fen(priced, stage.name)
    return PointsUse(discount_fen // 100 * stage.redeem_points_per_yuan, discount_fen)


def lock_points(session: Session, brand_id: int, consumer_id: int, points: int) -> Member:
    """Lock the consumer's member and check the balance covers ``points``. Raises
    PointsInsufficient (409: the balance changed since the cart was priced), before anything
    is written."""
    member_id = ledger.member_of_consumer(session, brand_id, consumer_id)
    if member_id is None:
        raise PointsNotRedeemable("Only members spend points.", field="points_to_spend")
    member = ledger.locked_member(session, brand_id, member_id)
    if member.points_balance < points:
        raise PointsInsufficient(
            f"You have {member.points_balance} points; this order would spend {points}.",
            field="points_to_spend",
            extra={"points_balance": member.points_balance, "points_needed": points},
        )
    return member


def spend_points(
    session: Session, member: Member, order_id: int, points: int, *, now: datetime | None = None
) -> None:
    """Spend ``points`` for the order (the member locked by ``lock_points``, the order row
    written). Side effects: a ``spend`` ledger row, lots taken earliest expiry first,
    MemberPointsChanged."""
    ledger.take_points(
        session,
        member,
        kind="spend",
        points=points,
        cause=ledger.Cause("order", order_id, order_id),
        now=now or utc_now(),
    )


def return_points_of_cancelled_order(
    session: Session, brand_id: int, order_id: int, *, now: datetime | None = None
) -> None:
    """Give back what an order spent (unpaid and cancelled), into lots keeping their expiry.
    Idempotent; nothing when the order spent no points. Locks the member (after the caller's
    order lock). Side effects: a ``return_spend`` ledger row, lots, MemberPointsChanged."""
    spends = session.scalars(
        select(PointsEntry).where(
            PointsEntry.brand_id == brand_id,
            PointsEntry.order_id == order_id,
            PointsEntry.kind == "spend",
        )
    ).all()
    for spend in spends:
        member = ledger.locked_member(session, brand_id, spend.member_id)
        ledger.give_back(
            session,
            member,
            spend_entry_id=spend.id,
            points=-spend.delta,
            cause=ledger.Cause("order", order_id, order_id),
            now=now or utc_now(),
        )
