"""Attribution rules (pure): which touchpoints earned an order, and how much of it.

This module is the single definition of every attribution model. The set-based SQL that
re-attributes a whole brand (``siyu.attribution.recompute``) computes exactly the same integers;
a property test compares both on random orders.

The contract of ``attribute``:

- ``touches`` is the ordered list of touches leading to the order: the member's scans and
  visits that named a touchpoint, oldest first (ties by event id), then the order's own
  touchpoint (the scene at transaction time) as the last touch, at the order's time. Touches
  outside the lookback window ``[order_at - lookback, order_at]`` are ignored.
- Every touch gets an integer weight under the model (``touch_weights``). A touchpoint touched
  several times gets the sum of its touches' weights; touchpoints whose total weight is zero
  get no row.
- The order's 1000 permille and its amount in fen are each shared out by the largest-remainder
  method over those weights: everyone gets the floor of their exact share, and the units left
  over go one each to the largest remainders; equal remainders go to the touchpoint touched
  last (most recently) first. So the permilles sum to exactly 1000 and the fen to exactly the
  amount, and the result never depends on dictionary or database order.
- No touch at all: one credit with ``touchpoint_id`` None (unattributed) holding 1000 permille
  and the whole amount, so unattributed GMV is a plain sum in the report.

Weights per model (``n`` touches, positions 1..n):

- first touch: 1 for the first touch, 0 for the others; last touch: the reverse;
- linear: 1 each;
- position-based (U-shaped, default 40/20/40): with ``n >= 3`` the first touch weighs
  ``first% * (n - 2)``, the last ``last% * (n - 2)``, each middle touch ``middle%``, which gives
  first and last their percentages and shares the middle percentage evenly; with ``n == 2`` the
  middle share goes to both ends in proportion (``first%`` and ``last%``; 1 and 1 if both are
  0); a single touch takes everything;
- time decay: ``max(1, floor(1_000_000 * 2 ** (-age / half_life)))`` where ``age`` is the time
  from the touch to the order in seconds (float), so a touch one half-life older weighs half
  as much; the floor makes the weight an integer both here and in SQL, and the floor of 1 keeps
  a touch that happened from vanishing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from siyu.pricing.rules import share_out

PERMILLE = 1000
TIME_DECAY_SCALE = 1_000_000
SECONDS_PER_DAY = 86_400


class AttributionModel(StrEnum):
    FIRST_TOUCH = "first_touch"
    LAST_TOUCH = "last_touch"
    LINEAR = "linear"
    POSITION_BASED = "position_based"
    TIME_DECAY = "time_decay"


MODEL_LABELS: dict[AttributionModel, str] = {
    AttributionModel.FIRST_TOUCH: "First touch 首次触点",
    AttributionModel.LAST_TOUCH: "Last touch 末次触点",
    AttributionModel.LINEAR: "Linear 线性",
    AttributionModel.POSITION_BASED: "Position-based 位置加权",
    AttributionModel.TIME_DECAY: "Time decay 时间衰减",
}


@dataclass(frozen=True)
class ModelSettings:
    """A brand's attribution model and its parameters (the defaults are siyu's defaults)."""

    model: AttributionModel = AttributionModel.LAST_TOUCH
    lookback_days: int = 30
    position_first_percent: int = 40
    position_middle_percent: int = 20
    position_last_percent: int = 40
    half_life_days: int = 7

    @property
    def lookback(self) -> timedelta:
        return timedelta(days=self.lookback_days)


@dataclass(frozen=True)
class Touch:
    touchpoint_id: int
    at: datetime


@dataclass(frozen=True)
class Credit:
    """One touchpoint's share of one order; ``touchpoint_id`` None means unattributed."""

    touchpoint_id: int | None
    credit_permille: int
    credited_fen: int


def in_window(settings: ModelSettings, moment: datetime, touches: Sequence[Touch]) -> list[Touch]:
    """The touches within the lookback window ending at ``moment`` (both ends included), in
    their given order."""
    start = moment - settings.lookback
    return [touch for touch in touches if start <= touch.at <= moment]


def time_decay_weight(age_seconds: float, half_life_days: int) -> int:
    """The integer weight of a touch ``age_seconds`` before the order (see the module doc)."""
    half_life_seconds = float(half_life_days * SECONDS_PER_DAY)
    remaining: float = 2.0 ** (-age_seconds / half_life_seconds)
    return max(1, math.floor(TIME_DECAY_SCALE * remaining))


def position_weights(settings: ModelSettings, count: int) -> list[int]:
    if count == 1:
        return [1]
    first, middle, last = (
        settings.position_first_percent,
        settings.position_middle_percent,
        settings.position_last_percent,
    )
    if count == 2:
        return [first, last] if first + last > 0 else [1, 1]
    return [first * (count - 2), *([middle] * (count - 2)), last * (count - 2)]


def touch_weights(
    settings: ModelSettings, order_at: datetime, touches: Sequence[Touch]
) -> list[int]:
    """One integer weight per touch (in order) under the brand's model."""
    count = len(touches)
    if count == 0:
        return []
    match settings.model:
        case AttributionModel.FIRST_TOUCH:
            return [1] + [0] * (count - 1)
        case AttributionModel.LAST_TOUCH:
            return [0] * (count - 1) + [1]
        case AttributionModel.LINEAR:
            return [1] * count
        case AttributionModel.POSITION_BASED:
            return position_weights(settings, count)
        case AttributionModel.TIME_DECAY:
            return [
                time_decay_weight((order_at - touch.at).total_seconds(), settings.half_life_days)
                for touch in touches
            ]


def attribute(
    settings: ModelSettings, order_at: datetime, amount_fen: int, touches: Sequence[Touch]
) -> list[Credit]:
    """The credits of one order of ``amount_fen`` (>= 0) placed at ``order_at``, ordered by
    each touchpoint's last touch (oldest first). See the module doc for the contract."""
    window = in_window(settings, order_at, touches)
    weights = touch_weights(settings, order_at, window)
    weight_of: dict[int, int] = {}
    last_position: dict[int, int] = {}
    for position, (touch, weight) in enumerate(zip(window, weights, strict=True), start=1):
        weight_of[touch.touchpoint_id] = weight_of.get(touch.touchpoint_id, 0) + weight
        last_position[touch.touchpoint_id] = position
    earning = sorted(
        (touchpoint for touchpoint, weight in weight_of.items() if weight > 0),
        key=last_position.__getitem__,
    )
    if not earning:
        return [Credit(None, PERMILLE, amount_fen)]
    earned = [weight_of[touchpoint] for touchpoint in earning]
    recency = [last_position[touchpoint] for touchpoint in earning]
    permilles = share_out(PERMILLE, earned, recency)
    fens = share_out(amount_fen, earned, recency)
    return [
        Credit(touchpoint, permille, fen)
        for touchpoint, permille, fen in zip(earning, permilles, fens, strict=True)
    ]


def acquisition_touchpoint(
    settings: ModelSettings, joined_at: datetime, touches: Sequence[Touch]
) -> int | None:
    """The touchpoint a member came from: their last touch (in the given order) within the
    lookback window before joining; None when there is none (an unknown source)."""
    window = in_window(settings, joined_at, touches)
    return window[-1].touchpoint_id if window else None


def check_position_percentages(first: int, middle: int, last: int) -> str | None:
    """Why these position-based percentages are unusable, or None when they are fine."""
    if min(first, middle, last) < 0:
        return "Position-based percentages cannot be negative."
    if first + middle + last != 100:
        return (
            f"Position-based percentages must add up to 100 (first {first} + middle {middle}"
            f" + last {last} = {first + middle + last})."
        )
    return None


def affects_credits(before: ModelSettings, after: ModelSettings) -> bool:
    """Whether moving from ``before`` to ``after`` can change any order's credits: the model or
    the window changed, or a parameter of the model in use."""
    if (before.model, before.lookback_days) != (after.model, after.lookback_days):
        return True
    if after.model is AttributionModel.POSITION_BASED:
        return (
            before.position_first_percent,
            before.position_middle_percent,
            before.position_last_percent,
        ) != (
            after.position_first_percent,
            after.position_middle_percent,
            after.position_last_percent,
        )
    if after.model is AttributionModel.TIME_DECAY:
        return before.half_life_days != after.half_life_days
    return False
