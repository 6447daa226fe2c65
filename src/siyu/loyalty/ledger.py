"""The points and growth ledgers: appending rows, moving lots, keeping the member row in step.

Every function here takes a member row the caller has locked (siyu.members.locks.lock_member)
and changes, in the caller's transaction: one ledger row, the lots it adds or takes from, the
member's ``points_balance`` / ``growth_value`` / ``tier_code``, and the domain events. Each
ledger row carries a unique key on (kind, cause, member): a second call for the same cause
changes nothing and returns None, which makes the subscribers idempotent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from siyu.consumers.models import Consumer
from siyu.loyalty import events, rules
from siyu.loyalty.errors import PointsInsufficient
from siyu.loyalty.models import (
    GrowthEntry,
    LoyaltyTier,
    PointsEntry,
    PointsLot,
    PointsLotUse,
    PointsPolicy,
)
from siyu.members.identity import survivor_of
from siyu.members.locks import lock_member
from siyu.members.models import Member
from siyu.outbox.service import record_event

ENTRY_KEY = ["brand_id", "kind", "cause_type", "cause_id", "member_id"]


@dataclass(frozen=True)
class Cause:
    """Why a ledger row exists: an order, a refund, a staff adjustment or a lot (expiry)."""

    cause_type: str
    cause_id: int
    order_id: int | None = None
    note: str | None = None


# ---------------------------------------------------------------- members


def member_of_consumer(session: Session, brand_id: int, consumer_id: int) -> int | None:
    """The active member a consumer belongs to (following merges), or None."""
    member_id = session.scalar(
        select(Consumer.member_id).where(Consumer.brand_id == brand_id, Consumer.id == consumer_id)
    )
    if member_id is None:
        return None
    return survivor_of(session, brand_id, member_id).id


def locked_member(session: Session, brand_id: int, member_id: int) -> Member:
    """The member (or the survivor it was merged into), locked FOR UPDATE."""
    member = lock_member(session, brand_id, survivor_of(session, brand_id, member_id).id)
    assert member is not None
    return member


# ---------------------------------------------------------------- brand settings


def brand_tiers(session: Session, brand_id: int) -> list[rules.Tier]:
    """The brand's ladder, lowest first (empty: no tiers)."""
    rows = session.scalars(
        select(LoyaltyTier)
        .where(LoyaltyTier.brand_id == brand_id)
        .order_by(LoyaltyTier.sort, LoyaltyTier.min_growth_value)
    ).all()
    return [
        rules.Tier(
            row.code, row.name, row.min_growth_value, row.points_multiplier_permille, row.sort
        )
        for row in rows
    ]


def points_rules(session: Session, brand_id: int) -> rules.PointsRules:
    """The brand's points policy, or the defaults when it never set one."""
    row = session.scalar(select(PointsPolicy).where(PointsPolicy.brand_id == brand_id))
    if row is None:
        return rules.PointsRules()
    return rules.PointsRules(
        points_per_yuan=row.points_per_yuan,
        expiry_months=row.expiry_months,
        redeem_points_per_yuan=row.redeem_points_per_yuan,
        max_redeem_permille=row.max_redeem_permille,
        enabled=row.enabled,
    )


# ---------------------------------------------------------------- points


def _append(
    session: Session,
    member: Member,
    *,
    kind: str,
    delta: int,
    cause: Cause,
    now: datetime,
    shortfall: int = 0,
    expires_at: datetime | None = None,
) -> int | None:
    """Insert the ledger row (None when this cause already has one) and publish it."""
    balance_after = member.points_balance + delta
    entry_id = session.scalar(
        insert(PointsEntry)
        .values(
            brand_id=member.brand_id,
            member_id=member.id,
            kind=kind,
            delta=delta,
            shortfall=shortfall,
            cause_type=cause.cause_type,
            cause_id=cause.cause_id,
            order_id=cause.order_id,
            balance_after=balance_after,
            occurred_at=now,
            expires_at=expires_at,
            note=cause.note,
        )
        .on_conflict_do_nothing(index_elements=ENTRY_KEY)
        .returning(PointsEntry.id)
    )
    if entry_id is None:
        return None
    member.points_balance = balance_after
    record_event(
        session,
        member.brand_id,
        events.MemberPointsChanged(
            member_id=member.id,
            entry_id=entry_id,
            kind=kind,
            delta=delta,
            shortfall=shortfall,
            balance_after=balance_after,
            cause_type=cause.cause_type,
            cause_id=cause.cause_id,
            order_id=cause.order_id,
        ),
    )
    return int(entry_id)


def add_points(
    session: Session,
    member: Member,
    *,
    kind: str,
    points: int,
    cause: Cause,
    expires_at: datetime,
    now: datetime,
) -> int | None:
    """Add ``points`` (> 0) as one lot expiring at ``expires_at``; the entry id, or None when
    the cause was already recorded."""
    entry_id = _append(
        session, member, kind=kind, delta=points, cause=cause, now=now, expires_at=expires_at
    )
    if entry_id is not None:
        session.add(
            PointsLot(
                brand_id=member.brand_id,
                member_id=member.id,
                entry_id=entry_id,
                points=points,
                remaining=points,
                expires_at=expires_at,
            )
        )
    return entry_id


def open_lots(session: Session, member: Member) -> list[PointsLot]:
    """The member's lots with points left, earliest expiry first."""
    return list(
        session.scalars(
            select(PointsLot)
            .where(
                PointsLot.brand_id == member.brand_id,
                PointsLot.member_id == member.id,
                PointsLot.remaining > 0,
            )
            .order_by(PointsLot.expires_at, PointsLot.id)
        )
    )


def take_points(
    session: Session,
    member: Member,
    *,
    kind: str,
    points: int,
    cause: Cause,
    now: datetime,
    first_lots: tuple[int, ...] = (),
    allow_shortfall: bool = False,
) -> int | None:
    """Take ``points`` from the member's lots (``first_lots`` first, then earliest expiry).

    With ``allow_shortfall`` (reversals) it takes what is there and records the rest as the
    row's shortfall; otherwise it raises PointsInsufficient before writing anything. The entry
    id, or None when the cause was already recorded."""
    lots = open_lots(session, member)
    takes, shortfall = rules.consume_lots(
        [rules.Lot(lot.id, lot.remaining, lot.expires_at) for lot in lots],
        points,
        first=first_lots,
    )
    if shortfall and not allow_shortfall:
        raise PointsInsufficient(
            f"The member has {member.points_balance} points; {points} are needed.",
            field="points",
            extra={"points_balance": member.points_balance, "points_needed": points},
        )
    taken = points - shortfall
    entry_id = _append(
        session, member, kind=kind, delta=-taken, cause=cause, now=now, shortfall=shortfall
    )
    if entry_id is None:
        return None
    by_id = {lot.id: lot for lot in lots}
    for take in takes:
        by_id[take.lot_id].remaining -= take.points
        session.add(
            PointsLotUse(
                brand_id=member.brand_id, entry_id=entry_id, lot_id=take.lot_id, points=take.points
            )
        )
    return entry_id


def give_back(
    session: Session,
    member: Member,
    *,
    spend_entry_id: int,
    points: int,
    cause: Cause,
    now: datetime,
) -> int | None:
    """Give back up to ``points`` of a spend (``return_spend``): new lots keeping the expiry of
    the lots the points came from, never more than was spent and not yet given back. The
    entry id, or None when nothing is left to give back or the cause was already recorded."""
    rows = session.execute(
        select(PointsLotUse, PointsLot.expires_at)
        .join(
            PointsLot,
            (PointsLot.brand_id == PointsLotUse.brand_id) & (PointsLot.id == PointsLotUse.lot_id),
        )
        .where(PointsLotUse.brand_id == member.brand_id, PointsLotUse.entry_id == spend_entry_id)
        .order_by(PointsLotUse.id)
    ).all()
    uses = {use.id: use for use, _ in rows}
    plan = rules.plan_return(
        [
            rules.Use(use.id, use.lot_id, use.points, use.returned_points, expires_at)
            for use, expires_at in rows
        ],
        points,
    )
    total = sum(back for _, back in plan)
    if total == 0:
        return None
    entry_id = _append(
        session,
        member,
        kind="return_spend",
        delta=total,
        cause=cause,
        now=now,
        expires_at=min(use.expires_at for use, _ in plan),
    )
    if entry_id is None:
        return None
    for use, back in plan:
        uses[use.use_id].returned_points += back
        session.add(
            PointsLot(
                brand_id=member.brand_id,
                member_id=member.id,
                entry_id=entry_id,
                points=back,
                remaining=back,
                expires_at=use.expires_at,
                origin_lot_id=use.lot_id,
            )
        )
    return entry_id


# ---------------------------------------------------------------- growth and tiers


def change_growth(
    session: Session,
    member: Member,
    *,
    kind: str,
    wanted: int,
    cause_type: str,
    cause_id: int,
    order_id: int,
    tiers: list[rules.Tier],
    now: datetime,
) -> bool:
    """Add (``purchase``) or take back (``refund``, never below 0) growth value, then move the
    member to the tier of ``tiers`` (the brand's ladder) it reaches. False (and nothing
    changed) when the cause was already recorded: the marker that makes order events
    idempotent."""
    delta = wanted if kind == "purchase" else -min(wanted, member.growth_value)
    shortfall = 0 if kind == "purchase" else wanted + delta
    value_after = member.growth_value + delta
    entry_id = session.scalar(
        insert(GrowthEntry)
        .values(
            brand_id=member.brand_id,
            member_id=member.id,
            kind=kind,
            delta=delta,
            shortfall=shortfall,
            cause_type=cause_type,
            cause_id=cause_id,
            order_id=order_id,
            value_after=value_after,
            occurred_at=now,
        )
        .on_conflict_do_nothing(index_elements=ENTRY_KEY)
        .returning(GrowthEntry.id)
    )
    if entry_id is None:
        return False
    member.growth_value = value_after
    retier_member(session, member, tiers)
    return True


def retier_member(session: Session, member: Member, tiers: list[rules.Tier]) -> None:
    """Put the member in the tier their growth value reaches; MemberTierChanged if it moved."""
    tier = rules.tier_for(tiers, member.growth_value)
    code = tier.code if tier is not None else None
    if code == member.tier_code:
        return
    record_event(
        session,
        member.brand_id,
        events.MemberTierChanged(
            member_id=member.id,
            from_tier=member.tier_code,
            to_tier=code,
            growth_value=member.growth_value,
        ),
    )
    member.tier_code = code


def multiplier_of(tiers: list[rules.Tier], tier_code: str | None) -> int:
    """The points multiplier of the member's current tier (×1 without one)."""
    for tier in tiers:
        if tier.code == tier_code:
            return tier.points_multiplier_permille
    return rules.PERMILLE
