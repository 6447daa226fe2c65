"""Pure rules of tiers and points: which tier, how many points, which lots. No I/O.

- A member's tier is the highest rung whose threshold their growth value reaches.
- Growth value: +1 per whole yuan paid. Points earned: floor(paid yuan × points per yuan ×
  the tier's multiplier), in integer arithmetic on fen and permille.
- Refunds take back growth and points in proportion to the money refunded, cumulatively, so
  that refunding everything (in any number of parts) takes back exactly what was given.
- Points leave in lots, earliest expiry first (then oldest lot); a lot of points given back
  keeps the expiry of the lot they were spent from.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise

from siyu.core.clock import SHANGHAI
from siyu.loyalty.errors import TiersInvalid

FEN_PER_YUAN = 100
PERMILLE = 1000
EXPIRING_SOON_DAYS = 30
MAX_TIERS = 20


@dataclass(frozen=True)
class Tier:
    code: str
    name: str
    min_growth_value: int
    points_multiplier_permille: int = PERMILLE
    sort: int = 0


@dataclass(frozen=True)
class PointsRules:
    """A brand's points policy; the defaults apply to a brand that never set one."""

    points_per_yuan: int = 1
    expiry_months: int = 12
    redeem_points_per_yuan: int = 100
    max_redeem_permille: int = 500
    enabled: bool = True


# ---------------------------------------------------------------- tiers


def check_tiers(tiers: Sequence[Tier]) -> list[Tier]:
    """The ladder ordered by ``sort``, or TiersInvalid naming the first broken rule: at least
    one tier and a base tier at 0, unique codes and sort keys, thresholds strictly ascending
    with ``sort``."""
    if not tiers:
        raise TiersInvalid(
            "Give at least one tier, starting with a base tier at growth value 0.",
            field="tiers",
            code="base_tier_required",
        )
    if len(tiers) > MAX_TIERS:
        raise TiersInvalid(f"At most {MAX_TIERS} tiers.", field="tiers")
    seen: set[str] = set()
    for index, tier in enumerate(tiers):
        if tier.code in seen:
            raise TiersInvalid(
                f"Tier code '{tier.code}' is given twice.",
                field=f"tiers[{index}].code",
                code="duplicate_tier_code",
            )
        seen.add(tier.code)
    if len({tier.sort for tier in tiers}) != len(tiers):
        raise TiersInvalid(
            "Every tier needs its own sort position.",
            field="tiers",
            code="duplicate_tier_sort",
        )
    ladder = sorted(tiers, key=lambda tier: tier.sort)
    if ladder[0].min_growth_value != 0:
        raise TiersInvalid(
            f"The first tier ('{ladder[0].code}') must start at growth value 0.",
            field=f"tiers[{list(tiers).index(ladder[0])}].min_growth_value",
            code="base_tier_required",
        )
    for lower, higher in pairwise(ladder):
        if higher.min_growth_value <= lower.min_growth_value:
            raise TiersInvalid(
                f"Tier '{higher.code}' must need more growth value than '{lower.code}'"
                f" ({lower.min_growth_value}).",
                field=f"tiers[{list(tiers).index(higher)}].min_growth_value",
                code="tier_thresholds_not_ascending",
            )
    return ladder


def tier_for(tiers: Sequence[Tier], growth_value: int) -> Tier | None:
    """The highest tier whose threshold ``growth_value`` reaches (None: the brand has none)."""
    reached = [tier for tier in tiers if tier.min_growth_value <= growth_value]
    return max(reached, key=lambda tier: tier.min_growth_value) if reached else None


# ---------------------------------------------------------------- earning


def growth_for(paid_fen: int) -> int:
    """+1 per whole yuan paid."""
    return max(paid_fen, 0) // FEN_PER_YUAN


def earned_points(paid_fen: int, policy: PointsRules, multiplier_permille: int) -> int:
    """floor(paid yuan × points per yuan × multiplier); 0 when points are switched off."""
    if not policy.enabled or paid_fen <= 0:
        return 0
    return (paid_fen * policy.points_per_yuan * multiplier_permille) // (FEN_PER_YUAN * PERMILLE)


def proportional_reversal(
    given: int, whole_fen: int, refunded_before_fen: int, refund_fen: int, taken_before: int
) -> int:
    """How much of ``given`` (points, growth, spent points) a refund of ``refund_fen`` takes
    back, after earlier refunds of ``refunded_before_fen`` took ``taken_before``: the
    cumulative share floor(given × refunded / whole) less what was taken already, so that the
    parts of a full refund add up to ``given`` exactly. Never negative, never more than is
    left."""
    if given <= 0 or whole_fen <= 0:
        return 0
    refunded = min(refunded_before_fen + refund_fen, whole_fen)
    target = given * refunded // whole_fen
    return max(0, min(target - taken_before, given - taken_before))


# ---------------------------------------------------------------- lots


@dataclass(frozen=True)
class Lot:
    lot_id: int
    remaining: int
    expires_at: datetime


@dataclass(frozen=True)
class Take:
    lot_id: int
    points: int


def consume_lots(
    lots: Sequence[Lot], points: int, *, first: Sequence[int] = ()
) -> tuple[list[Take], int]:
    """Take ``points`` from ``lots``: the lots named in ``first`` before the others, then
    earliest expiry first (oldest lot on a tie). Returns what is taken from each lot and the
    shortfall (points the lots could not cover)."""
    preferred = {lot_id: rank for rank, lot_id in enumerate(first)}
    ordered = sorted(
        (lot for lot in lots if lot.remaining > 0),
        key=lambda lot: (preferred.get(lot.lot_id, len(preferred)), lot.expires_at, lot.lot_id),
    )
    takes: list[Take] = []
    left = max(points, 0)
    for lot in ordered:
        if left == 0:
            break
        taken = min(lot.remaining, left)
        takes.append(Take(lot.lot_id, taken))
        left -= taken
    return takes, left


@dataclass(frozen=True)
class Use:
    """What a spend took from one lot, and how much of it was given back since."""

    use_id: int
    lot_id: int
    points: int
    returned_points: int
    expires_at: datetime


def plan_return(uses: Sequence[Use], points: int) -> list[tuple[Use, int]]:
    """Give back ``points`` of a spend: to the lots taken last first (the reverse of the
    spend), never more per lot than was taken and not yet given back."""
    plan: list[tuple[Use, int]] = []
    left = max(points, 0)
    for use in reversed(uses):
        if left == 0:
            break
        back = min(use.points - use.returned_points, left)
        if back > 0:
            plan.append((use, back))
            left -= back
    return plan


def add_months(moment: datetime, months: int) -> datetime:
    """The same Shanghai wall-clock time ``months`` later (the last day of a shorter month)."""
    local = moment.astimezone(SHANGHAI)
    month_index = local.month - 1 + months
    year, month = local.year + month_index // 12, month_index % 12 + 1
    day = min(local.day, calendar.monthrange(year, month)[1])
    return local.replace(year=year, month=month, day=day).astimezone(moment.tzinfo)


def lot_expiry(earned_at: datetime, policy: PointsRules) -> datetime:
    return add_months(earned_at, policy.expiry_months)


# ---------------------------------------------------------------- redeeming


def is_whole_units(points: int, policy: PointsRules) -> bool:
    """Points are redeemed in whole yuan: a multiple of ``redeem_points_per_yuan``."""
    return points >= 0 and points % policy.redeem_points_per_yuan == 0
