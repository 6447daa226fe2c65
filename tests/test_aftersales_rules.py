"""The pure rules of after-sales, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from siyu.aftersales.rules import (
    PurchasedLine,
    is_overdue,
    is_whole_order,
    line_refund_cap,
    refund_cap,
    respond_by,
)


def test_units_refunded_one_by_one_add_up_to_the_line_total_exactly() -> None:
    # a line of 3 units paid 100 fen in all: 33 + 33 + 34, never 99
    caps = [line_refund_cap(PurchasedLine(1, 3, 100, claimed), 1) for claimed in range(3)]
    assert caps == [33, 33, 34]
    assert sum(caps) == 100


@pytest.mark.parametrize(
    ("quantity", "total", "claimed", "wanted", "cap"),
    [
        (2, 19800, 0, 1, 9900),
        (2, 19800, 0, 2, 19800),
        (2, 19800, 1, 1, 9900),
        (3, 1000, 0, 2, 666),
        (3, 1000, 2, 1, 334),
        (1, 0, 0, 1, 0),
        (2, 19800, 0, 0, 0),
    ],
)
def test_line_refund_cap(quantity: int, total: int, claimed: int, wanted: int, cap: int) -> None:
    assert line_refund_cap(PurchasedLine(1, quantity, total, claimed), wanted) == cap


def test_the_whole_rest_of_an_order_may_ask_for_shipping_too() -> None:
    lines = [PurchasedLine(1, 2, 19800, 0), PurchasedLine(2, 1, 9900, 0)]
    # everything: what is still refundable (goods 29700 + shipping 1000)
    assert is_whole_order(lines, {1: 2, 2: 1}) is True
    assert refund_cap(lines, {1: 2, 2: 1}, 30700) == 30700
    # part of it: the lines' share only
    assert is_whole_order(lines, {1: 2}) is False
    assert refund_cap(lines, {1: 2}, 30700) == 19800
    # never above what is still refundable
    assert refund_cap(lines, {1: 2}, 5000) == 5000


def test_lines_already_claimed_do_not_count_towards_the_whole_order() -> None:
    lines = [PurchasedLine(1, 2, 19800, 2), PurchasedLine(2, 1, 9900, 0)]
    assert is_whole_order(lines, {2: 1}) is True


def test_complaint_deadline_and_overdue() -> None:
    filed = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
    deadline = respond_by(filed, 24)
    assert deadline == datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    assert is_overdue("open", deadline, deadline + timedelta(seconds=1)) is True
    assert is_overdue("open", deadline, deadline) is False
    assert is_overdue("answered", deadline, deadline + timedelta(days=1)) is False
