"""Pure rules of tiers and points: tier choice, earning, reversals, lots, the points stage."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from siyu.loyalty.errors import TiersInvalid
from siyu.loyalty.rules import (
    Lot,
    PointsRules,
    Take,
    Tier,
    Use,
    add_months,
    check_tiers,
    consume_lots,
    earned_points,
    growth_for,
    is_whole_units,
    plan_return,
    proportional_reversal,
    tier_for,
)
from siyu.pricing.rules import (
    Base,
    LineInput,
    PointsStage,
    PricingContext,
    default_stages,
    run_pipeline,
    share_out,
    stage_discount_fen,
)

SILVER = Tier("silver", "Silver", 0, 1000, 1)
GOLD = Tier("gold", "Gold", 1000, 1500, 2)
DIAMOND = Tier("diamond", "Diamond", 5000, 2000, 3)
LADDER = [SILVER, GOLD, DIAMOND]

JAN = datetime(2026, 1, 31, 4, 0, tzinfo=UTC)
FEB = datetime(2026, 2, 28, 4, 0, tzinfo=UTC)
MAR = datetime(2026, 3, 31, 4, 0, tzinfo=UTC)


# ---------------------------------------------------------------- tiers


@pytest.mark.parametrize(
    ("growth", "expected"),
    [
        (0, "silver"),
        (999, "silver"),
        (1000, "gold"),
        (4999, "gold"),
        (5000, "diamond"),
        (10**9, "diamond"),
    ],
)
def test_the_tier_is_the_highest_whose_threshold_is_reached(growth: int, expected: str) -> None:
    tier = tier_for(LADDER, growth)
    assert tier is not None and tier.code == expected


def test_without_tiers_nobody_has_one() -> None:
    assert tier_for([], 123) is None


def test_a_valid_ladder_comes_back_ordered_by_sort() -> None:
    assert check_tiers([DIAMOND, SILVER, GOLD]) == [SILVER, GOLD, DIAMOND]


@pytest.mark.parametrize(
    ("tiers", "code", "field"),
    [
        ([], "base_tier_required", "tiers"),
        ([GOLD, DIAMOND], "base_tier_required", "tiers[0].min_growth_value"),
        ([SILVER, Tier("silver", "Again", 10, 1000, 2)], "duplicate_tier_code", "tiers[1].code"),
        ([SILVER, Tier("gold", "Gold", 10, 1000, 1)], "duplicate_tier_sort", "tiers"),
        (
            [SILVER, Tier("gold", "Gold", 5000, 1000, 2), Tier("vip", "VIP", 5000, 1000, 3)],
            "tier_thresholds_not_ascending",
            "tiers[2].min_growth_value",
        ),
        (
            [SILVER, Tier("gold", "Gold", 1000, 1000, 3), Tier("vip", "VIP", 5000, 1000, 2)],
            "tier_thresholds_not_ascending",
            "tiers[1].min_growth_value",
        ),
    ],
)
def test_a_ladder_that_is_not_one_is_refused(tiers: list[Tier], code: str, field: str) -> None:
    with pytest.raises(TiersInvalid) as refused:
        check_tiers(tiers)
    assert (refused.value.code, refused.value.field) == (code, field)


# ---------------------------------------------------------------- earning


@pytest.mark.parametrize(
    ("paid_fen", "points_per_yuan", "multiplier", "expected"),
    [
        (12_345, 1, 1000, 123),  # ¥123.45 → 123 points
        (12_345, 1, 1500, 185),  # × 1.5 = 185.175 → 185
        (12_345, 2, 1500, 370),  # 370.35 → 370
        (99, 1, 1000, 0),  # under a yuan
        (10_000, 0, 1000, 0),  # the brand earns nothing per yuan
    ],
)
def test_points_earned_are_floored_from_the_exact_product(
    paid_fen: int, points_per_yuan: int, multiplier: int, expected: int
) -> None:
    policy = PointsRules(points_per_yuan=points_per_yuan)
    assert earned_points(paid_fen, policy, multiplier) == expected


def test_nothing_is_earned_while_points_are_off() -> None:
    assert earned_points(50_000, PointsRules(enabled=False), 1000) == 0


def test_growth_is_one_per_whole_yuan() -> None:
    assert [growth_for(fen) for fen in (0, 99, 100, 12_345)] == [0, 0, 1, 123]


def test_partial_refunds_add_up_to_exactly_what_was_given() -> None:
    # given 185 points for 12,345 fen paid, refunded in three parts
    parts = [1_000, 4_321, 7_024]
    taken = 0
    refunded = 0
    for part in parts:
        taken += proportional_reversal(185, 12_345, refunded, part, taken)
        refunded += part
    # then every point is taken back, no more
    assert taken == 185


def test_a_small_refund_takes_back_its_floor_share() -> None:
    assert proportional_reversal(185, 12_345, 0, 1_000, 0) == 14  # 14.98...


def test_a_reversal_never_takes_more_than_is_left() -> None:
    assert proportional_reversal(100, 10_000, 0, 99_999, 60) == 40


# ---------------------------------------------------------------- lots


def test_lots_are_consumed_earliest_expiry_first() -> None:
    lots = [Lot(3, 50, MAR), Lot(1, 30, FEB), Lot(2, 40, FEB)]
    takes, shortfall = consume_lots(lots, 100)
    assert takes == [Take(1, 30), Take(2, 40), Take(3, 30)]
    assert shortfall == 0


def test_named_lots_are_taken_first_and_a_shortfall_is_reported() -> None:
    lots = [Lot(1, 30, JAN), Lot(2, 40, MAR), Lot(3, 0, JAN)]
    takes, shortfall = consume_lots(lots, 100, first=(2,))
    assert takes == [Take(2, 40), Take(1, 30)]
    assert shortfall == 30


def test_spent_points_are_given_back_to_the_last_lots_first_once() -> None:
    uses = [Use(1, 10, 30, 0, JAN), Use(2, 11, 70, 20, MAR)]
    plan = plan_return(uses, 60)
    assert [(use.lot_id, back) for use, back in plan] == [(11, 50), (10, 10)]
    assert [(use.lot_id, back) for use, back in plan_return(uses, 500)] == [(11, 50), (10, 30)]


def test_expiry_is_months_later_on_the_shanghai_calendar() -> None:
    # 2026-01-31 12:00 in Shanghai + 1 month: February has 28 days
    assert add_months(JAN, 1) == datetime(2026, 2, 28, 4, 0, tzinfo=UTC)
    assert add_months(JAN, 12) == datetime(2027, 1, 31, 4, 0, tzinfo=UTC)
    # 2026-12-31 23:30 in Shanghai is 15:30 UTC: a year later it is still the 31st there
    late = datetime(2026, 12, 31, 15, 30, tzinfo=UTC)
    assert add_months(late, 2) == datetime(2027, 2, 28, 15, 30, tzinfo=UTC)


def test_points_are_redeemed_in_whole_units() -> None:
    policy = PointsRules(redeem_points_per_yuan=100)
    assert [is_whole_units(p, policy) for p in (0, 100, 250, 1200)] == [True, True, False, True]


# ---------------------------------------------------------------- the points stage

SHIRT = LineInput(sku_id=1, quantity=2, unit_price_fen=9_900, list_price_fen=12_900)
SOCKS = LineInput(sku_id=2, quantity=1, unit_price_fen=1_500, list_price_fen=1_500)


def _stage(points: int, balance: int | None = None, permille: int = 500) -> PointsStage:
    return PointsStage(
        points_requested=points,
        redeem_points_per_yuan=100,
        max_redeem_permille=permille,
        balance=balance,
    )


def test_points_pay_part_of_the_goods_shared_over_the_lines() -> None:
    # given ¥213 of goods and 5,000 points asked (¥50)
    priced = run_pipeline([SHIRT, SOCKS], default_stages(_stage(5_000)), PricingContext("pickup"))
    # then ¥50 comes off, shared in proportion to the lines, explained on each
    assert [line.discount_fen for line in priced.lines] == [4_648, 352]
    assert (priced.discount_fen, priced.total_fen) == (5_000, 16_300)
    adjustment = priced.lines[0].adjustments[0]
    assert (adjustment.stage, adjustment.base, adjustment.base_fen) == (
        "points",
        Base.ORDER_TOTAL,
        21_300,
    )
    assert (
        adjustment.explanation == "5000 points for ¥50.00 (100 points = ¥1, at most 50% of ¥213.00)"
    )
    assert stage_discount_fen(priced, "points") == 5_000


@pytest.mark.parametrize(
    ("asked", "balance", "permille", "discount"),
    [
        (50_000, None, 500, 10_600),  # half of ¥213 is ¥106.50: whole yuan, ¥106
        (50_000, 3_050, 500, 3_000),  # the balance, in whole yuan
        (50_000, None, 0, 0),  # points may pay nothing
        (50_000, None, 1000, 21_300),  # the whole goods
    ],
)
def test_the_points_stage_is_capped_by_the_share_and_the_balance(
    asked: int, balance: int | None, permille: int, discount: int
) -> None:
    stage = _stage(asked, balance, permille)
    priced = run_pipeline([SHIRT, SOCKS], default_stages(stage), PricingContext("pickup"))
    assert stage_discount_fen(priced, "points") == discount
    assert all(line.total_fen >= 0 for line in priced.lines)


def test_points_come_before_shipping_and_can_lose_free_shipping() -> None:
    # given ¥213 of goods by express (free from ¥199) and ¥20 paid with points
    priced = run_pipeline([SHIRT, SOCKS], default_stages(_stage(2_000)), PricingContext("express"))
    # then the goods are ¥193, under the threshold: the fee applies to what is left
    assert (priced.goods_total_fen, priced.shipping_fen, priced.total_fen) == (
        19_300,
        1_000,
        20_300,
    )


def test_shares_add_up_and_never_exceed_their_weight() -> None:
    assert share_out(100, [1, 1, 1]) == [34, 33, 33]
    assert share_out(3, [1, 1, 1]) == [1, 1, 1]
    assert share_out(0, [5, 5]) == [0, 0]
    assert sum(share_out(9_999, [19_800, 1_500, 7])) == 9_999
