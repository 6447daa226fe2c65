"""Pure rules of after-sales: how much may be asked back, which requests are open, deadlines.

No I/O: the service loads the order's lines and earlier requests and asks these functions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

MAX_PHOTOS = 9


class AfterSaleKind(StrEnum):
    REFUND_ONLY = "refund_only"
    RETURN_AND_REFUND = "return_and_refund"


class AfterSaleState(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    RECEIVED = "received"
    REFUNDED = "refunded"
    CANCELLED = "cancelled"


# A request in one of these states still claims its quantities and blocks a new request.
OPEN_STATES = frozenset(
    {AfterSaleState.REQUESTED, AfterSaleState.APPROVED, AfterSaleState.RECEIVED}
)
# Quantities claimed by earlier requests: open ones and those refunded.
CLAIMING_STATES = OPEN_STATES | {AfterSaleState.REFUNDED}
# Goods have left the store once the order is shipped or fulfilled.
DELIVERED_FULFILMENT = frozenset({"shipped", "fulfilled"})


@dataclass(frozen=True)
class PurchasedLine:
    """An order line as after-sales sees it."""

    order_line_id: int
    quantity: int
    total_fen: int
    claimed: int  # units already in earlier open or refunded requests

    @property
    def remaining(self) -> int:
        return self.quantity - self.claimed


def line_refund_cap(line: PurchasedLine, quantity: int) -> int:
    """What ``quantity`` more units of the line may bring back: the line's paid total shared
    out per unit, rounded so that all the units together give back exactly the total (the
    rounding telescopes: earlier requests took floor(total * claimed / quantity))."""
    if quantity <= 0:
        return 0
    after = line.total_fen * (line.claimed + quantity) // line.quantity
    before = line.total_fen * line.claimed // line.quantity
    return after - before


def is_whole_order(lines: Sequence[PurchasedLine], requested: Mapping[int, int]) -> bool:
    """True when the request takes every unit not yet claimed, of every line."""
    return all(requested.get(line.order_line_id, 0) == line.remaining for line in lines) and all(
        line.remaining > 0 or line.order_line_id not in requested for line in lines
    )


def refund_cap(
    lines: Sequence[PurchasedLine], requested: Mapping[int, int], refundable_fen: int
) -> int:
    """The most a request for ``requested`` (order line id → units) may ask: the lines' share
    of what was paid, never above what is still refundable; a request for the whole rest of
    the order may ask everything still refundable (shipping included)."""
    if is_whole_order(lines, requested):
        return max(refundable_fen, 0)
    by_id = {line.order_line_id: line for line in lines}
    share = sum(line_refund_cap(by_id[i], q) for i, q in requested.items() if i in by_id)
    return max(min(share, refundable_fen), 0)


def respond_by(filed_at: datetime, hours: int) -> datetime:
    """A complaint's response deadline."""
    return filed_at + timedelta(hours=hours)


def is_overdue(status: str, deadline: datetime, now: datetime) -> bool:
    """Unanswered past its deadline."""
    return status == "open" and deadline < now
