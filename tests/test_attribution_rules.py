"""Attribution rules (pure): weights, largest-remainder rounding, windows, acquisition."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from siyu.attribution.rules import (
    AttributionModel,
    Credit,
    ModelSettings,
    Touch,
    acquisition_touchpoint,
    affects_credits,
    attribute,
    check_position_percentages,
    share_out,
    time_decay_weight,
    touch_weights,
)

ORDER_AT = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)
FIRST = AttributionModel.FIRST_TOUCH
LAST = AttributionModel.LAST_TOUCH
LINEAR = AttributionModel.LINEAR
POSITION = AttributionModel.POSITION_BASED
DECAY = AttributionModel.TIME_DECAY


def days_before(days: float) -> datetime:
    return ORDER_AT - timedelta(days=days)


def touches(*pairs: tuple[int, float]) -> list[Touch]:
    """Touches as (touchpoint id, days before the order), in the given order."""
    return [Touch(touchpoint_id, days_before(days)) for touchpoint_id, days in pairs]


THREE = touches((1, 20), (2, 10), (3, 0))
FOUR = touches((1, 20), (2, 10), (3, 5), (4, 0))


@pytest.mark.parametrize(
    ("model", "given", "amount", "expected"),
    [
        # one touch takes everything under every model
        *[(model, touches((7, 3)), 9_999, [Credit(7, 1000, 9_999)]) for model in AttributionModel],
        (FIRST, THREE, 10_000, [Credit(1, 1000, 10_000)]),
        (LAST, THREE, 10_000, [Credit(3, 1000, 10_000)]),
        # 1000/3 = 333 r 1: the unit left over goes to the touchpoint touched last
        (
            LINEAR,
            THREE,
            10_000,
            [Credit(1, 333, 3_333), Credit(2, 333, 3_333), Credit(3, 334, 3_334)],
        ),
        # 100 fen / 3: two units left over go to the two most recent
        (LINEAR, THREE, 100, [Credit(1, 333, 33), Credit(2, 333, 33), Credit(3, 334, 34)]),
        (
            POSITION,
            THREE,
            10_000,
            [Credit(1, 400, 4_000), Credit(2, 200, 2_000), Credit(3, 400, 4_000)],
        ),
        # four touches: the middle 20% shared by two
        (
            POSITION,
            FOUR,
            10_001,
            [
                Credit(1, 400, 4_000),
                Credit(2, 100, 1_000),
                Credit(3, 100, 1_000),
                Credit(4, 400, 4_001),
            ],
        ),
        # two touches: the middle share goes to both ends in proportion (40:40)
        (POSITION, touches((1, 9), (2, 0)), 101, [Credit(1, 500, 50), Credit(2, 500, 51)]),
        # time decay, half-life 7 days: ages 14, 7, 0 days weigh 1/4, 1/2, 1 -> 1/7, 2/7, 4/7
        (
            DECAY,
            touches((1, 14), (2, 7), (3, 0)),
            7_000,
            [Credit(1, 143, 1_000), Credit(2, 286, 2_000), Credit(3, 571, 4_000)],
        ),
        # no touch at all: unattributed
        (LINEAR, [], 5_000, [Credit(None, 1000, 5_000)]),
        (DECAY, [], 0, [Credit(None, 1000, 0)]),
        # a free (or fully refunded) order keeps its shares but credits no fen
        (LINEAR, touches((1, 2), (2, 1)), 0, [Credit(1, 500, 0), Credit(2, 500, 0)]),
    ],
)
def test_each_model_shares_the_order_exactly(
    model: AttributionModel, given: list[Touch], amount: int, expected: list[Credit]
) -> None:
    # when
    credits = attribute(ModelSettings(model=model), ORDER_AT, amount, given)
    # then
    assert credits == expected
    assert sum(c.credit_permille for c in credits) == 1000
    assert sum(c.credited_fen for c in credits) == amount


def test_a_touchpoint_touched_twice_gets_one_row_with_both_weights() -> None:
    # given A, B, A (linear: A has 2 of 3 weights)
    given = touches((1, 3), (2, 2), (1, 1))
    # when
    credits = attribute(ModelSettings(model=LINEAR), ORDER_AT, 300, given)
    # then rows are ordered by each touchpoint's last touch
    assert credits == [Credit(2, 333, 100), Credit(1, 667, 200)]


def test_first_touch_gives_no_row_to_touchpoints_without_weight() -> None:
    credits = attribute(ModelSettings(model=FIRST), ORDER_AT, 100, touches((5, 3), (6, 1)))
    assert credits == [Credit(5, 1000, 100)]


def test_touches_outside_the_lookback_window_are_ignored() -> None:
    # given a 7-day window; one touch 8 days old, one exactly 7 days old, one after the order
    given = [*touches((1, 8), (2, 7)), Touch(3, ORDER_AT + timedelta(seconds=1))]
    settings = ModelSettings(model=LINEAR, lookback_days=7)
    # when
    credits = attribute(settings, ORDER_AT, 1_000, given)
    # then only the touch exactly at the window's start counts
    assert credits == [Credit(2, 1000, 1_000)]


def test_nothing_in_the_window_is_unattributed() -> None:
    settings = ModelSettings(model=LAST, lookback_days=1)
    assert attribute(settings, ORDER_AT, 800, touches((1, 2))) == [Credit(None, 1000, 800)]


@pytest.mark.parametrize(
    ("first", "middle", "last", "count", "expected"),
    [
        (40, 20, 40, 1, [1]),
        (40, 20, 40, 2, [40, 40]),
        (30, 20, 50, 2, [30, 50]),
        (0, 100, 0, 2, [1, 1]),
        (40, 20, 40, 3, [40, 20, 40]),
        (40, 20, 40, 5, [120, 20, 20, 20, 120]),
        (0, 100, 0, 4, [0, 100, 100, 0]),
    ],
)
def test_position_based_weights(
    first: int, middle: int, last: int, count: int, expected: list[int]
) -> None:
    settings = ModelSettings(
        model=POSITION,
        position_first_percent=first,
        position_middle_percent=middle,
        position_last_percent=last,
    )
    assert touch_weights(settings, ORDER_AT, touches(*[(i, 1) for i in range(count)])) == expected


def test_position_based_with_nothing_at_the_ends_credits_only_the_middle() -> None:
    settings = ModelSettings(
        model=POSITION,
        position_first_percent=0,
        position_middle_percent=100,
        position_last_percent=0,
    )
    credits = attribute(settings, ORDER_AT, 99, FOUR)
    assert credits == [Credit(2, 500, 49), Credit(3, 500, 50)]


@pytest.mark.parametrize(
    ("age_days", "half_life_days", "expected"),
    [
        (0, 7, 1_000_000),
        (7, 7, 500_000),
        (14, 7, 250_000),
        (1, 1, 500_000),
        (3.5, 7, 707_106),  # floor(1e6 / sqrt(2))
        (365, 1, 1),  # never below 1: a touch that happened keeps a trace of weight
    ],
)
def test_time_decay_weight_halves_every_half_life(
    age_days: float, half_life_days: int, expected: int
) -> None:
    assert time_decay_weight(age_days * 86_400, half_life_days) == expected


def test_largest_remainder_breaks_equal_remainders_by_recency() -> None:
    # 10 units over three equal weights: 3 each, one left, to the most recent (recency 9)
    assert share_out(10, [1, 1, 1], [3, 9, 5]) == [3, 4, 3]
    # 2 left over: to recency 9 then 5
    assert share_out(11, [1, 1, 1], [3, 9, 5]) == [3, 4, 4]
    # a larger remainder wins over recency: 7 * 2/3 = 4.67, 7 * 1/3 = 2.33
    assert share_out(7, [2, 1], [1, 2]) == [5, 2]


@pytest.mark.parametrize("seed", range(20))
def test_shares_always_sum_exactly(seed: int) -> None:
    import random

    generator = random.Random(seed)
    count = generator.randint(1, 12)
    weights = [generator.randint(1, 10**6) for _ in range(count)]
    total = generator.randint(0, 10**9)
    shares = share_out(total, weights, list(range(count)))
    assert sum(shares) == total
    weight_sum = sum(weights)
    for share, weight in zip(shares, weights, strict=True):
        assert abs(share - total * weight / weight_sum) < 1


def test_acquisition_is_the_last_touch_before_joining_within_the_window() -> None:
    settings = ModelSettings(lookback_days=30)
    given = touches((1, 40), (2, 20), (3, 2))
    assert acquisition_touchpoint(settings, ORDER_AT, given) == 3
    assert acquisition_touchpoint(settings, ORDER_AT, touches((1, 40))) is None
    assert acquisition_touchpoint(settings, ORDER_AT, []) is None


@pytest.mark.parametrize(
    ("first", "middle", "last", "accepted"),
    [(40, 20, 40, True), (0, 100, 0, True), (50, 20, 40, False), (-10, 70, 40, False)],
)
def test_position_percentages_must_add_up_to_100(
    first: int, middle: int, last: int, accepted: bool
) -> None:
    assert (check_position_percentages(first, middle, last) is None) is accepted


@pytest.mark.parametrize(
    ("before", "after", "affects"),
    [
        (ModelSettings(model=LAST), ModelSettings(model=LINEAR), True),
        (ModelSettings(lookback_days=30), ModelSettings(lookback_days=14), True),
        (ModelSettings(model=LINEAR), ModelSettings(model=LINEAR, half_life_days=3), False),
        (ModelSettings(model=DECAY), ModelSettings(model=DECAY, half_life_days=3), True),
        (
            ModelSettings(model=POSITION),
            ModelSettings(
                model=POSITION,
                position_first_percent=30,
                position_middle_percent=40,
                position_last_percent=30,
            ),
            True,
        ),
        (ModelSettings(), ModelSettings(), False),
    ],
)
def test_only_changes_that_can_move_credits_need_a_recompute(
    before: ModelSettings, after: ModelSettings, affects: bool
) -> None:
    assert affects_credits(before, after) is affects
