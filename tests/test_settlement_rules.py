"""The pure rules of franchise settlement: commission rounding, statement figures, periods."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal

import pytest

from siyu.settlement.rules import (
    Period,
    booking_moment,
    commission_fen,
    format_yuan,
    period_problem,
    shanghai_midnight,
    source_key,
    statement_figures,
)


@pytest.mark.parametrize(
    ("net_sales_fen", "bps", "expected"),
    [
        (0, 500, 0),
        (10000, 500, 500),  # 5% of 100.00 = 5.00
        (12345, 500, 617),  # 617.25 -> 617
        (12350, 500, 618),  # 617.50 -> 618 (half up)
        (12349, 500, 617),  # 617.45 -> 617
        (1, 5000, 1),  # 0.5 fen -> 1 (half up)
        (1, 4999, 0),  # 0.4999 fen -> 0
        (3, 3333, 1),  # 0.9999 fen -> 1
        (99999999999, 10000, 99999999999),  # 100% keeps every fen
        (123456789, 0, 0),
        (-12350, 500, -618),  # refunds over sales: half away from zero, symmetric
        (-1, 5000, -1),
        (-12345, 500, -617),
    ],
)
def test_commission_is_rounded_half_up_to_the_fen(
    net_sales_fen: int, bps: int, expected: int
) -> None:
    assert commission_fen(net_sales_fen, bps) == expected
    # and agrees with decimal's ROUND_HALF_UP on the exact product
    exact = Decimal(net_sales_fen) * bps / 10000
    assert expected == int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


@pytest.mark.parametrize("bps", [-1, 10001])
def test_a_rate_outside_0_to_100_percent_is_refused(bps: int) -> None:
    with pytest.raises(ValueError, match="commission_bps"):
        commission_fen(100, bps)


@pytest.mark.parametrize(
    ("sales", "refunds", "bps", "fee", "expected"),
    [
        # sales, refunds, net, commission, fees, net payable
        (100000, 0, 500, 20000, (100000, 0, 100000, 5000, 20000, 75000)),
        (37035, 3333, 550, 0, (37035, 3333, 33702, 1854, 0, 31848)),  # 1853.61 -> 1854
        (0, 0, 500, 20000, (0, 0, 0, 0, 20000, -20000)),  # a quiet month still pays the fee
        (1000, 5000, 1000, 100, (1000, 5000, -4000, -400, 100, -3700)),  # refunds > sales
    ],
)
def test_statement_figures(
    sales: int, refunds: int, bps: int, fee: int, expected: tuple[int, ...]
) -> None:
    figures = statement_figures(
        sales_fen=sales, refunds_fen=refunds, commission_bps=bps, fixed_fee_fen=fee
    )
    assert (
        figures.sales_fen,
        figures.refunds_fen,
        figures.net_sales_fen,
        figures.commission_fen,
        figures.fees_fen,
        figures.net_payable_fen,
    ) == expected


def test_source_keys_name_the_event_the_order_and_the_refund() -> None:
    assert source_key("OrderPaid", 42) == "OrderPaid:42:"
    assert source_key("OrderRefunded", 42, 7) == "OrderRefunded:42:7"


NOV = (datetime(2026, 10, 31, 16, tzinfo=UTC), datetime(2026, 11, 30, 16, tzinfo=UTC))
DEC = (NOV[1], datetime(2026, 12, 31, 16, tzinfo=UTC))


@pytest.mark.parametrize(
    ("moment", "settled", "booked"),
    [
        (datetime(2026, 11, 5, tzinfo=UTC), [], datetime(2026, 11, 5, tzinfo=UTC)),
        (datetime(2026, 11, 5, tzinfo=UTC), [NOV], NOV[1]),  # late: into the next open period
        (datetime(2026, 11, 5, tzinfo=UTC), [DEC, NOV], DEC[1]),  # across adjoining periods
        (NOV[1], [NOV], NOV[1]),  # the end is not in the period
        (datetime(2026, 10, 1, tzinfo=UTC), [NOV], datetime(2026, 10, 1, tzinfo=UTC)),
    ],
)
def test_a_posting_into_a_settled_period_is_booked_in_the_next_open_one(
    moment: datetime, settled: list[tuple[datetime, datetime]], booked: datetime
) -> None:
    assert booking_moment(moment, settled) == booked


def test_periods_are_shanghai_dates() -> None:
    period = Period(date(2026, 11, 1), date(2026, 12, 1))
    assert period.start == datetime(2026, 10, 31, 16, tzinfo=UTC)
    assert period.end == datetime(2026, 11, 30, 16, tzinfo=UTC)
    assert period.last_day == date(2026, 11, 30)
    assert shanghai_midnight(date(2026, 1, 1)) == datetime(2025, 12, 31, 16, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "end", "now", "problem"),
    [
        (date(2026, 11, 1), date(2026, 12, 1), datetime(2026, 11, 30, 16, tzinfo=UTC), None),
        (
            date(2026, 11, 1),
            date(2026, 12, 1),
            datetime(2026, 11, 30, 15, 59, tzinfo=UTC),
            "not ended",
        ),
        (date(2026, 11, 1), date(2026, 11, 1), datetime(2027, 1, 1, tzinfo=UTC), "end after"),
        (date(2026, 12, 1), date(2026, 11, 1), datetime(2027, 1, 1, tzinfo=UTC), "end after"),
    ],
)
def test_a_period_must_end_after_it_starts_and_have_ended(
    start: date, end: date, now: datetime, problem: str | None
) -> None:
    found = period_problem(Period(start, end), now)
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert found[0] == "period_end"
        assert problem in found[1]


@pytest.mark.parametrize(
    ("fen", "grouped", "plain"),
    [
        (0, "0.00", "0.00"),
        (5, "0.05", "0.05"),
        (12345, "123.45", "123.45"),
        (123456789, "1,234,567.89", "1234567.89"),
        (-3700, "-37.00", "-37.00"),
        (-1, "-0.01", "-0.01"),
    ],
)
def test_fen_are_shown_as_yuan_with_two_decimals(fen: int, grouped: str, plain: str) -> None:
    assert format_yuan(fen) == grouped
    assert format_yuan(fen, grouping=False) == plain
