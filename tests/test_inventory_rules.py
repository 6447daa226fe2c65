"""Pure stock rules: where to take stock from, lock order, adjustments, reconciliation."""

from __future__ import annotations

import pytest

from siyu.inventory.rules import (
    HoldRequest,
    LevelCounters,
    Repair,
    adjusted_on_hand,
    available,
    choose_location,
    group_by_level,
    on_hand_problem,
    repair_for,
)

STORE = 10
WAREHOUSE_A = 20
WAREHOUSE_B = 30
SKU = 7


@pytest.mark.parametrize(
    ("case", "quantity", "source", "store", "stock", "expected"),
    [
        ("store has enough", 2, "store", STORE, {STORE: 2}, STORE),
        ("store short, store only", 3, "store", STORE, {STORE: 2, WAREHOUSE_A: 9}, None),
        (
            "store first when it can",
            2,
            "store_then_warehouse",
            STORE,
            {STORE: 5, WAREHOUSE_A: 9},
            STORE,
        ),
        (
            "endless aisle: store short",
            6,
            "store_then_warehouse",
            STORE,
            {STORE: 5, WAREHOUSE_A: 9},
            WAREHOUSE_A,
        ),
        (
            "endless aisle: most available",
            1,
            "store_then_warehouse",
            STORE,
            {WAREHOUSE_A: 3, WAREHOUSE_B: 8},
            WAREHOUSE_B,
        ),
        (
            "warehouse source skips the store",
            1,
            "warehouse",
            STORE,
            {STORE: 50, WAREHOUSE_A: 1},
            WAREHOUSE_A,
        ),
        ("tie: first listed", 1, "warehouse", STORE, {WAREHOUSE_A: 4, WAREHOUSE_B: 4}, WAREHOUSE_A),
        (
            "nowhere has enough",
            10,
            "store_then_warehouse",
            STORE,
            {STORE: 9, WAREHOUSE_A: 9, WAREHOUSE_B: 9},
            None,
        ),
        ("no level anywhere", 1, "store_then_warehouse", STORE, {}, None),
        (
            "mall order without a store",
            1,
            "store_then_warehouse",
            None,
            {WAREHOUSE_B: 1},
            WAREHOUSE_B,
        ),
        ("negative available never chosen", 1, "warehouse", STORE, {WAREHOUSE_A: -2}, None),
    ],
)
def test_choose_location(
    case: str,
    quantity: int,
    source: str,
    store: int | None,
    stock: dict[int, int],
    expected: int | None,
) -> None:
    # given the units available per location of one SKU (and another SKU that must not count)
    availability = {(location, SKU): units for location, units in stock.items()}
    availability[(WAREHOUSE_B, SKU + 1)] = 1000
    # when
    chosen = choose_location(
        quantity=quantity,
        stock_source=source,
        store_location_id=store,
        warehouse_location_ids=[WAREHOUSE_A, WAREHOUSE_B],
        available=availability,
        sku_id=SKU,
    )
    # then
    assert chosen == expected, case


def test_choose_location_refuses_an_unknown_source() -> None:
    with pytest.raises(ValueError, match="unknown stock source"):
        choose_location(
            quantity=1,
            stock_source="moon",
            store_location_id=STORE,
            warehouse_location_ids=[],
            available={},
            sku_id=SKU,
        )


def test_requests_group_per_level_in_lock_order_keeping_their_positions() -> None:
    # given requests in no particular order, two on the same level
    requests = [
        HoldRequest(location_id=2, sku_id=1, quantity=1, holder_line_id=100),
        HoldRequest(location_id=1, sku_id=9, quantity=2, holder_line_id=101),
        HoldRequest(location_id=2, sku_id=1, quantity=3, holder_line_id=102),
        HoldRequest(location_id=1, sku_id=3, quantity=4, holder_line_id=103),
    ]
    # when
    groups = group_by_level(requests)
    # then levels come in (location_id, sku_id) order with their totals
    assert [(g.location_id, g.sku_id, g.total, g.positions) for g in groups] == [
        (1, 3, 4, (3,)),
        (1, 9, 2, (1,)),
        (2, 1, 4, (0, 2)),
    ]
    assert groups[2].requests == (requests[0], requests[2])


@pytest.mark.parametrize(
    ("on_hand", "set_to", "delta", "expected"),
    [(10, 4, None, 4), (10, None, -3, 7), (10, None, 5, 15), (0, 0, None, 0)],
)
def test_adjusted_on_hand(
    on_hand: int, set_to: int | None, delta: int | None, expected: int
) -> None:
    assert adjusted_on_hand(on_hand, set_to=set_to, delta=delta) == expected


def test_an_adjustment_needs_exactly_one_of_set_and_delta() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        adjusted_on_hand(1, set_to=2, delta=1)
    with pytest.raises(ValueError, match="exactly one"):
        adjusted_on_hand(1, set_to=None, delta=None)


@pytest.mark.parametrize(
    ("new_on_hand", "reserved", "allocated", "problem"),
    [
        (5, 2, 3, None),
        (6, 2, 3, None),
        (
            4,
            2,
            3,
            "5 units are promised to carts and orders (2 reserved, 3 allocated); on hand "
            "cannot go below that (it would be 4)",
        ),
        (-1, 0, 0, "on hand cannot be negative (it would be -1)"),
        (1_000_000_001, 0, 0, "on hand cannot exceed 1,000,000,000"),
    ],
)
def test_on_hand_problem(
    new_on_hand: int, reserved: int, allocated: int, problem: str | None
) -> None:
    assert on_hand_problem(new_on_hand, reserved, allocated) == problem


def test_available_is_on_hand_minus_everything_promised() -> None:
    assert available(10, 3, 4) == 3


@pytest.mark.parametrize(
    ("level", "held", "expected"),
    [
        (LevelCounters(10, 2, 3), (2, 3), None),
        (LevelCounters(10, 5, 3), (2, 3), Repair(-3, 0, True)),
        (LevelCounters(10, 0, 0), (4, 6), Repair(4, 6, True)),
        (LevelCounters(5, 0, 0), (4, 2), Repair(4, 2, False)),
    ],
)
def test_repair_for(level: LevelCounters, held: tuple[int, int], expected: Repair | None) -> None:
    assert repair_for(level, *held) == expected
