"""Pure rules of franchise settlement: commission rounding, statement figures, periods.

No I/O. Every amount is integer fen and every computation stays in integers, so a statement
reconciles to its ledger entries exactly.

Rounding rule (documented contract): the commission is ``net_sales_fen × commission_bps /
10000`` computed exactly in integers, then rounded to the fen **half up** in the commercial
sense of ``decimal.ROUND_HALF_UP``: a remainder of half a fen or more rounds away from zero.
It is symmetric, so negative net sales (more refunded than sold in a period) give back exactly
the commission that the same positive amount would have cost.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from siyu.core.clock import SHANGHAI

BPS_DENOMINATOR = 10_000
MAX_COMMISSION_BPS = 10_000

SALE = "sale"
REFUND = "refund"
FULFILMENT = "fulfilment"


def commission_fen(net_sales_fen: int, commission_bps: int) -> int:
    """The commission on ``net_sales_fen`` at ``commission_bps``, rounded half up (away from
    zero) to the fen. Raises ValueError for a rate outside 0..10000 bps."""
    if not 0 <= commission_bps <= MAX_COMMISSION_BPS:
        raise ValueError(f"commission_bps must be within 0..{MAX_COMMISSION_BPS}")
    quotient, remainder = divmod(abs(net_sales_fen) * commission_bps, BPS_DENOMINATOR)
    if 2 * remainder >= BPS_DENOMINATOR:
        quotient += 1
    return quotient if net_sales_fen >= 0 else -quotient


@dataclass(frozen=True)
class StatementFigures:
    """What a franchisee's statement says; ``net_payable_fen`` is what the brand owes the
    franchisee (negative when the franchisee owes the brand)."""

    sales_fen: int
    refunds_fen: int
    net_sales_fen: int
    commission_fen: int
    fees_fen: int
    net_payable_fen: int


def statement_figures(
    *, sales_fen: int, refunds_fen: int, commission_bps: int, fixed_fee_fen: int
) -> StatementFigures:
    """Figures from the period's ledger sums. ``refunds_fen`` is a positive amount (the
    ledger holds refunds as negative entries; the caller passes their absolute sum)."""
    if sales_fen < 0 or refunds_fen < 0 or fixed_fee_fen < 0:
        raise ValueError("sales, refunds and fees are non-negative amounts")
    net_sales = sales_fen - refunds_fen
    commission = commission_fen(net_sales, commission_bps)
    return StatementFigures(
        sales_fen=sales_fen,
        refunds_fen=refunds_fen,
        net_sales_fen=net_sales,
        commission_fen=commission,
        fees_fen=fixed_fee_fen,
        net_payable_fen=net_sales - commission - fixed_fee_fen,
    )


# ---------------------------------------------------------------- ledger postings


def source_key(event_type: str, order_id: int, refund_id: int | None = None) -> str:
    """The idempotency key of one posting: one entry per order event (per refund)."""
    return f"{event_type}:{order_id}:{refund_id if refund_id is not None else ''}"


def booking_moment(moment: datetime, settled: Iterable[tuple[datetime, datetime]]) -> datetime:
    """When a posting is booked: its own moment, unless that falls inside a period already
    settled (half-open ``[start, end)``); then the end of that period (repeatedly, across
    adjoining settled periods), so a late posting lands in the first open period and is
    settled exactly once instead of being lost."""
    periods = sorted(settled)
    booked = moment
    moved = True
    while moved:
        moved = False
        for start, end in periods:
            if start <= booked < end:
                booked = end
                moved = True
    return booked


# ---------------------------------------------------------------- periods


def shanghai_midnight(day: date) -> datetime:
    """The UTC moment at which ``day`` begins in Asia/Shanghai."""
    return datetime.combine(day, time(0), tzinfo=SHANGHAI).astimezone(UTC)


def shanghai_date(moment: datetime) -> date:
    return moment.astimezone(SHANGHAI).date()


@dataclass(frozen=True)
class Period:
    """A settlement period ``[start, end)`` entered and shown as Asia/Shanghai dates."""

    start_day: date
    end_day: date

    @property
    def start(self) -> datetime:
        return shanghai_midnight(self.start_day)

    @property
    def end(self) -> datetime:
        return shanghai_midnight(self.end_day)

    @property
    def last_day(self) -> date:
        return self.end_day - timedelta(days=1)


def period_problem(period: Period, now: datetime) -> tuple[str, str] | None:
    """(field, reason) when ``period`` cannot be settled at ``now``, else None."""
    if period.end_day <= period.start_day:
        return "period_end", "The period must end after it starts."
    if period.end > now:
        return (
            "period_end",
            f"The period has not ended yet: it can be settled from {period.end_day.isoformat()} "
            "(Asia/Shanghai).",
        )
    return None


# ---------------------------------------------------------------- display


def format_yuan(fen: int, *, grouping: bool = True) -> str:
    """``fen`` as yuan with two decimals, computed in integers (``-123456`` → ``-1,234.56``)."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    whole_text = f"{whole:,}" if grouping else str(whole)
    return f"{sign}{whole_text}.{cents:02d}"
