"""Tiers and points for staff and consumers: the tier ladder, the points policy, a member's
ledger, manual adjustments, and the loyalty summary of the member 360.

Staff functions take the acting ``Actor``; none commits. Members are visible by the members'
scope (siyu.members.service.member_scope: brand roles see every member, region / franchisee /
store roles the members whose home store they see, a guide the members they acquired);
anything else is not found. Changes are audited and
published in the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from siyu.access.rules import Actor, Permission
from siyu.audit.service import record_change, record_creation, record_update
from siyu.core.clock import utc_now
from siyu.core.context import current_request_id
from siyu.core.snapshot import row_snapshot
from siyu.loyalty import events, ledger, rules
from siyu.loyalty.errors import AdjustmentKeyReused, PointsInsufficient
from siyu.loyalty.locks import lock_adjustment_key, lock_loyalty_settings
from siyu.loyalty.models import LoyaltyTier, PointsAdjustment, PointsEntry, PointsLot, PointsPolicy
from siyu.loyalty.schemas import (
    MemberLoyalty,
    PointsAdjustmentIn,
    PointsEntryOut,
    PointsPolicyIn,
    PointsPolicyOut,
    StorefrontPoints,
    TierSetIn,
)
from siyu.members.errors import MemberNotFound
from siyu.members.identity import survivor_of
from siyu.members.models import Member
from siyu.members.service import member_in_scope
from siyu.outbox.service import record_event

RECENT_ENTRIES = 20


# ---------------------------------------------------------------- members in scope


def visible_member(session: Session, actor: Actor, member_id: int) -> Member:
    """The member (or the survivor of a merge) if the actor may see it. Raises
    MemberNotFound."""
    try:
        survivor = survivor_of(session, actor.brand_id, member_id)
    except LookupError:
        raise MemberNotFound(f"Member {member_id} was not found.") from None
    try:
        return member_in_scope(session, actor, survivor.id)
    except MemberNotFound:
        raise MemberNotFound(f"Member {member_id} was not found.") from None


# ---------------------------------------------------------------- tiers


def list_tiers(session: Session, actor: Actor) -> list[LoyaltyTier]:
    """The brand's ladder, lowest first. Needs ``member:read``."""
    actor.require(Permission.MEMBER_READ)
    return _tier_rows(session, actor.brand_id)


def _tier_rows(session: Session, brand_id: int) -> list[LoyaltyTier]:
    return list(
        session.scalars(
            select(LoyaltyTier).where(LoyaltyTier.brand_id == brand_id).order_by(LoyaltyTier.sort)
        )
    )


def _tier_json(tier: rules.Tier | LoyaltyTier) -> dict[str, Any]:
    return {
        "code": tier.code,
        "name": tier.name,
        "min_growth_value": tier.min_growth_value,
        "points_multiplier_permille": tier.points_multiplier_permille,
        "sort": tier.sort,
    }


@dataclass(frozen=True)
class TiersReplaced:
    tiers: list[LoyaltyTier]
    members_retiered: int


def replace_tiers(session: Session, actor: Actor, data: TierSetIn) -> TiersReplaced:
    """Replace the brand's ladder and move every member to the tier their growth value now
    reaches. Needs ``loyalty:write``. Takes the loyalty settings lock, then every active member
    row of the brand (in id order). Raises TiersInvalid (nothing written). Side effects: audit
    ``loyalty_tiers.replace``, LoyaltyTiersReplaced, MemberTierChanged per member moved."""
    actor.require(Permission.LOYALTY_WRITE)
    ladder = rules.check_tiers(
        [
            rules.Tier(t.code, t.name, t.min_growth_value, t.points_multiplier_permille, t.sort)
            for t in data.tiers
        ]
    )
    lock_loyalty_settings(session, actor.brand_id)
    before = [_tier_json(row) for row in _tier_rows(session, actor.brand_id)]
    session.execute(delete(LoyaltyTier).where(LoyaltyTier.brand_id == actor.brand_id))
    session.add_all(LoyaltyTier(brand_id=actor.brand_id, **_tier_json(tier)) for tier in ladder)
    session.flush()
    retiered = retier_members(session, actor.brand_id)
    after = [_tier_json(tier) for tier in ladder]
    if before != after:
        record_change(
            session,
            actor,
            action="loyalty_tiers.replace",
            object_type="loyalty_tiers",
            object_id=actor.brand_id,
            before={"tiers": before},
            after={"tiers": after},
        )
        record_event(
            session,
            actor.brand_id,
            events.LoyaltyTiersReplaced(
                brand_id=actor.brand_id,
                codes=[tier.code for tier in ladder],
                members_retiered=retiered,
            ),
        )
    return TiersReplaced(_tier_rows(session, actor.brand_id), retiered)


def retier_member(session: Session, member: Member) -> None:
    """Move a member (locked by the caller) to the tier their growth value reaches, e.g.
    after a merge added two growth values up. Side effect: MemberTierChanged if it moved."""
    ledger.retier_member(session, member, ledger.brand_tiers(session, member.brand_id))


# Set-based: every active member of the brand is locked in id order (the member lock order),
# its tier recomputed from its current growth value, and one MemberTierChanged written per
# member that moved. The payload keeps the shape of siyu.loyalty.events.MemberTierChanged.
_RETIER_SQL = text(
    """
    WITH locked AS (
        SELECT m.brand_id, m.id, m.tier_code, m.growth_value
        FROM member m
        WHERE m.brand_id = :brand_id AND m.status = 'active'
        ORDER BY m.id
        FOR UPDATE
    ), moved AS (
        SELECT locked.*, (
            SELECT t.code FROM loyalty_tier t
            WHERE t.brand_id = locked.brand_id AND t.min_growth_value <= locked.growth_value
            ORDER BY t.min_growth_value DESC
            LIMIT 1
        ) AS to_tier
        FROM locked
    ), changed AS (
        UPDATE member m SET tier_code = moved.to_tier
        FROM moved
        WHERE m.brand_id = moved.brand_id AND m.id = moved.id
          AND moved.tier_code IS DISTINCT FROM moved.to_tier
        RETURNING m.brand_id, m.id, moved.tier_code AS from_tier, moved.to_tier,
                  moved.growth_value
    ), published AS (
        INSERT INTO outbox_event (brand_id, event_type, aggregate_type, aggregate_id, payload,
                                  request_id)
        SELECT brand_id, 'MemberTierChanged', 'member', id::text,
               jsonb_build_object('member_id', id, 'from_tier', from_tier, 'to_tier', to_tier,
                                  'growth_value', growth_value),
               :request_id
        FROM changed
        RETURNING 1
    )
    SELECT count(*) FROM published
    """
)


def retier_members(session: Session, brand_id: int) -> int:
    """Put every active member of the brand in the tier their growth value reaches (after the
    ladder changed); how many moved. Locks the brand's active member rows."""
    session.flush()
    moved = session.execute(
        _RETIER_SQL, {"brand_id": brand_id, "request_id": current_request_id()}
    ).scalar_one()
    session.expire_all()
    return int(moved)


# ---------------------------------------------------------------- points policy


def _policy_out(policy: rules.PointsRules) -> PointsPolicyOut:
    return PointsPolicyOut(
        points_per_yuan=policy.points_per_yuan,
        expiry_months=policy.expiry_months,
        redeem_points_per_yuan=policy.redeem_points_per_yuan,
        max_redeem_permille=policy.max_redeem_permille,
        enabled=policy.enabled,
    )


def get_points_policy(session: Session, actor: Actor) -> PointsPolicyOut:
    """The brand's points policy (the defaults until it sets one). Needs ``member:read``."""
    actor.require(Permission.MEMBER_READ)
    return _policy_out(ledger.points_rules(session, actor.brand_id))


def set_points_policy(session: Session, actor: Actor, data: PointsPolicyIn) -> PointsPolicyOut:
    """Set the brand's points policy; applies to points earned and spent from now on (lots
    already earned keep their expiry). Needs ``loyalty:write``. Takes the loyalty settings
    lock. Side effects: audit, PointsPolicyChanged when something changed."""
    actor.require(Permission.LOYALTY_WRITE)
    lock_loyalty_settings(session, actor.brand_id)
    row = session.scalar(select(PointsPolicy).where(PointsPolicy.brand_id == actor.brand_id))
    values = data.model_dump()
    if row is None:
        row = PointsPolicy(brand_id=actor.brand_id, **values)
        session.add(row)
        session.flush()
        record_creation(session, actor, object_type="points_policy", row=row)
        changed = True
    else:
        before = row_snapshot(row)
        for key, value in values.items():
            setattr(row, key, value)
        session.flush()
        changed = bool(
            record_update(session, actor, object_type="points_policy", row=row, before=before)
        )
    if changed:
        record_event(
            session, actor.brand_id, events.PointsPolicyChanged(brand_id=actor.brand_id, **values)
        )
    return _policy_out(ledger.points_rules(session, actor.brand_id))


# ---------------------------------------------------------------- the ledger


@dataclass(frozen=True)
class MemberPoints:
    member: Member
    entries: list[PointsEntry]
    total: int


def member_points(
    session: Session, actor: Actor, member_id: int, *, limit: int = 50, offset: int = 0
) -> MemberPoints:
    """The member's points ledger, newest first. Needs ``member:read`` and the member in
    scope (MemberNotFound otherwise)."""
    actor.require(Permission.MEMBER_READ)
    member = visible_member(session, actor, member_id)
    condition = (PointsEntry.brand_id == actor.brand_id) & (PointsEntry.member_id == member.id)
    total = session.scalar(select(func.count()).select_from(PointsEntry).where(condition)) or 0
    entries = session.scalars(
        select(PointsEntry)
        .where(condition)
        .order_by(PointsEntry.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return MemberPoints(member, list(entries), total)


@dataclass(frozen=True)
class AdjustmentResult:
    adjustment: PointsAdjustment
    entry: PointsEntry
    member: Member
    created: bool


def adjust_points(
    session: Session,
    actor: Actor,
    member_id: int,
    data: PointsAdjustmentIn,
    *,
    idempotency_key: str,
    now: datetime | None = None,
) -> AdjustmentResult:
    """Add (a lot expiring per the policy) or remove (earliest expiry first) points by hand.

    Idempotent per brand and key: repeating the request returns the first adjustment; the same
    key for another member or amount is refused (AdjustmentKeyReused). Needs ``loyalty:write``
    and the member in scope. Locks: an advisory lock on the key, then the member row. Raises
    MemberNotFound, PointsInsufficient (removing more than the balance; nothing written).
    Side effects: audit ``points_adjustment.create``, the ledger row, MemberPointsChanged."""
    actor.require(Permission.LOYALTY_WRITE)
    now = now or utc_now()
    member = visible_member(session, actor, member_id)
    lock_adjustment_key(session, actor.brand_id, idempotency_key)
    existing = session.scalar(
        select(PointsAdjustment).where(
            PointsAdjustment.brand_id == actor.brand_id,
            PointsAdjustment.idempotency_key == idempotency_key,
        )
    )
    if existing is not None:
        same = (
            survivor_of(session, actor.brand_id, existing.member_id).id == member.id
            and existing.delta == data.delta
            and existing.reason == data.reason
        )
        if not same:
            raise AdjustmentKeyReused(
                "This Idempotency-Key was used for another adjustment.", field="Idempotency-Key"
            )
        return AdjustmentResult(existing, _adjustment_entry(session, existing), member, False)
    locked = ledger.locked_member(session, actor.brand_id, member.id)
    if data.delta < 0 and locked.points_balance < -data.delta:
        raise PointsInsufficient(
            f"The member has {locked.points_balance} points; {-data.delta} cannot be removed.",
            field="delta",
            extra={"points_balance": locked.points_balance},
        )
    adjustment = PointsAdjustment(
        brand_id=actor.brand_id,
        member_id=locked.id,
        delta=data.delta,
        reason=data.reason,
        idempotency_key=idempotency_key,
        staff_id=actor.staff_id,
        actor_label=actor.label,
    )
    session.add(adjustment)
    session.flush()
    cause = ledger.Cause("points_adjustment", adjustment.id, note=data.reason)
    if data.delta > 0:
        policy = ledger.points_rules(session, actor.brand_id)
        ledger.add_points(
            session,
            locked,
            kind="adjust",
            points=data.delta,
            cause=cause,
            expires_at=rules.lot_expiry(now, policy),
            now=now,
        )
    else:
        ledger.take_points(session, locked, kind="adjust", points=-data.delta, cause=cause, now=now)
    record_creation(session, actor, object_type="points_adjustment", row=adjustment)
    session.flush()
    return AdjustmentResult(adjustment, _adjustment_entry(session, adjustment), locked, True)


def _adjustment_entry(session: Session, adjustment: PointsAdjustment) -> PointsEntry:
    entry = session.scalar(
        select(PointsEntry).where(
            PointsEntry.brand_id == adjustment.brand_id,
            PointsEntry.kind == "adjust",
            PointsEntry.cause_type == "points_adjustment",
            PointsEntry.cause_id == adjustment.id,
        )
    )
    assert entry is not None
    return entry


# ---------------------------------------------------------------- summaries


def member_loyalty(
    session: Session, brand_id: int, member_id: int, *, now: datetime | None = None
) -> MemberLoyalty:
    """Tier, growth value, balance, points expiring within 30 days and the last 20 ledger rows
    of a member (or the survivor it was merged into). No permission check: the caller (the
    member 360) has checked the member is visible. Raises MemberNotFound."""
    now = now or utc_now()
    try:
        member = survivor_of(session, brand_id, member_id)
    except LookupError:
        raise MemberNotFound(f"Member {member_id} was not found.") from None
    tiers = ledger.brand_tiers(session, brand_id)
    current = next((tier for tier in tiers if tier.code == member.tier_code), None)
    higher = [tier for tier in tiers if tier.min_growth_value > member.growth_value]
    next_tier = min(higher, key=lambda tier: tier.min_growth_value) if higher else None
    open_lot = (
        (PointsLot.brand_id == brand_id)
        & (PointsLot.member_id == member.id)
        & (PointsLot.remaining > 0)
    )
    soon = now + timedelta(days=rules.EXPIRING_SOON_DAYS)
    expiring, next_expiry = session.execute(
        select(
            func.coalesce(func.sum(PointsLot.remaining).filter(PointsLot.expires_at <= soon), 0),
            func.min(PointsLot.expires_at),
        ).where(open_lot)
    ).one()
    recent = session.scalars(
        select(PointsEntry)
        .where(PointsEntry.brand_id == brand_id, PointsEntry.member_id == member.id)
        .order_by(PointsEntry.id.desc())
        .limit(RECENT_ENTRIES)
    ).all()
    return MemberLoyalty(
        member_id=member.id,
        tier_code=member.tier_code,
        tier_name=current.name if current is not None else None,
        growth_value=member.growth_value,
        next_tier_code=next_tier.code if next_tier is not None else None,
        growth_to_next_tier=next_tier.min_growth_value - member.growth_value
        if next_tier is not None
        else None,
        points_balance=member.points_balance,
        points_expiring_soon=int(expiring),
        next_expiry_at=next_expiry,
        recent_entries=[PointsEntryOut.model_validate(entry) for entry in recent],
    )


def consumer_points(session: Session, brand_id: int, consumer_id: int) -> StorefrontPoints:
    """The consumer's own points for the storefront (zeros for a consumer not yet a member)."""
    policy = ledger.points_rules(session, brand_id)
    member_id = ledger.member_of_consumer(session, brand_id, consumer_id)
    return StorefrontPoints(
        member=member_id is not None,
        loyalty=member_loyalty(session, brand_id, member_id) if member_id is not None else None,
        redeem_points_per_yuan=policy.redeem_points_per_yuan,
        max_redeem_permille=policy.max_redeem_permille,
        enabled=policy.enabled,
    )
