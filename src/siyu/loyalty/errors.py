"""Refusals of tiers and points, each with a stable code."""

from __future__ import annotations

from siyu.core.errors import Conflict, InvalidInput


class TiersInvalid(InvalidInput):
    """A tier set that is not a ladder: the ``code`` says which rule it breaks
    (``duplicate_tier_code``, ``duplicate_tier_sort``, ``tier_thresholds_not_ascending``,
    ``base_tier_required``)."""

    code = "tiers_invalid"


class PointsInsufficient(Conflict):
    """The member's balance does not cover what is asked (it may have changed since it was
    read); nothing was written."""

    code = "points_insufficient"


class PointsNotRedeemable(InvalidInput):
    """Points cannot pay for this order: not a whole number of redemption units, points
    switched off for the brand, or the consumer is not a member."""

    code = "points_not_redeemable"


class AdjustmentKeyReused(Conflict):
    code = "idempotency_key_reused"
