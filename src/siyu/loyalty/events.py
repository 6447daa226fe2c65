"""Domain events of tiers and points: every change of a member's tier or points balance.

``MemberTierChanged`` and ``MemberPointsExpired`` are also written set-based in SQL
(siyu.loyalty.service.retier_members, siyu.loyalty.expiry); their payloads there must keep the
shape of these classes (a test validates them against these models).
"""

from __future__ import annotations

from siyu.outbox.events import DomainEvent


class MemberTierChanged(DomainEvent):
    """The member's growth value (or the brand's tier ladder) moved them to another tier;
    ``None`` means no tier (the brand has none)."""

    aggregate_type = "member"
    member_id: int
    from_tier: str | None
    to_tier: str | None
    growth_value: int


class MemberPointsChanged(DomainEvent):
    """One row was appended to the member's points ledger (earn, reverse_earn, spend,
    return_spend, adjust). ``delta`` may be 0 for a reversal that found nothing left
    (``shortfall`` says how much it could not take back)."""

    aggregate_type = "member"
    member_id: int
    entry_id: int
    kind: str
    delta: int
    shortfall: int
    balance_after: int
    cause_type: str
    cause_id: int
    order_id: int | None


class MemberPointsExpired(DomainEvent):
    """Lots of the member reached their expiry: ``points`` from ``lots`` lots left the
    balance."""

    aggregate_type = "member"
    member_id: int
    points: int
    lots: int
    balance_after: int


class LoyaltyTiersReplaced(DomainEvent):
    """The brand's tier ladder was replaced (codes from the lowest tier up)."""

    aggregate_type = "brand"
    brand_id: int
    codes: list[str]
    members_retiered: int


class PointsPolicyChanged(DomainEvent):
    aggregate_type = "brand"
    brand_id: int
    points_per_yuan: int
    expiry_months: int
    redeem_points_per_yuan: int
    max_redeem_permille: int
    enabled: bool
