"""Pure stock rules: what is available, where to take stock from, how holds group into locks,
what an adjustment or a snapshot may do and what the reconciler must repair. No I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

# The stock sources a storefront may use (cloud_store.models.StockSource values).
SOURCE_STORE = "store"
SOURCE_WAREHOUSE = "warehouse"
SOURCE_STORE_THEN_WAREHOUSE = "store_then_warehouse"
STOCK_SOURCES = (SOURCE_STORE, SOURCE_WAREHOUSE, SOURCE_STORE_THEN_WAREHOUSE)

# Largest quantity one receipt, adjustment, hold or snapshot line may carry (an int4 column).
MAX_QUANTITY = 1_000_000_000


@dataclass(frozen=True)
class HoldRequest:
    """Hold ``quantity`` units of ``sku_id`` at ``location_id`` for one line of a cart/order."""

    location_id: int
    sku_id: int
    quantity: int
    holder_line_id: int | None = None


def available(on_hand: int, reserved: int, allocated: int) -> int:
    """Units that may still be promised: on hand minus everything already promised."""
    return on_hand - reserved - allocated


@dataclass(frozen=True)
class LevelGroup:
    """The requests of one call that fall on one stock level, their positions in the call,
    and their total."""

    location_id: int
    sku_id: int
    total: int
    requests: tuple[HoldRequest, ...]
    positions: tuple[int, ...]


def group_by_level(requests: Iterable[HoldRequest]) -> list[LevelGroup]:
    """Requests grouped per (location_id, sku_id), in that order: the lock order of levels.

    Requests of one group keep their given order; ``positions`` index the given sequence.
    """
    grouped: dict[tuple[int, int], list[tuple[int, HoldRequest]]] = {}
    for position, request in enumerate(requests):
        grouped.setdefault((request.location_id, request.sku_id), []).append((position, request))
    return [
        LevelGroup(
            key[0],
            key[1],
            sum(r.quantity for _, r in rows),
            tuple(r for _, r in rows),
            tuple(p for p, _ in rows),
        )
        for key, rows in sorted(grouped.items())
    ]


def choose_location(
    *,
    quantity: int,
    stock_source: str,
    store_location_id: int | None,
    warehouse_location_ids: Sequence[int],
    available: Mapping[tuple[int, int], int],
    sku_id: int,
) -> int | None:
    """Where ``quantity`` units of ``sku_id`` should come from, or None when nowhere can.

    ``store``: only the store's own location. ``warehouse``: the warehouse with the most
    available (the first listed on a tie). ``store_then_warehouse``: the store when it has
    enough, otherwise a warehouse (endless aisle, 无货成交: the sale still belongs to the
    store). A location missing from ``available`` has nothing.
    """
    if stock_source not in STOCK_SOURCES:
        raise ValueError(f"unknown stock source {stock_source!r}")

    def has_enough(location_id: int) -> bool:
        return available.get((location_id, sku_id), 0) >= quantity

    if stock_source in (SOURCE_STORE, SOURCE_STORE_THEN_WAREHOUSE):
        if store_location_id is not None and has_enough(store_location_id):
            return store_location_id
        if stock_source == SOURCE_STORE:
            return None
    best: int | None = None
    best_available = -1
    for location_id in warehouse_location_ids:
        here = available.get((location_id, sku_id), 0)
        if here >= quantity and here > best_available:
            best, best_available = location_id, here
    return best


def adjusted_on_hand(on_hand: int, *, set_to: int | None, delta: int | None) -> int:
    """The on-hand count after an adjustment that either sets it or moves it by ``delta``."""
    if (set_to is None) == (delta is None):
        raise ValueError("give exactly one of set_to and delta")
    return set_to if set_to is not None else on_hand + (delta or 0)


def promised(reserved: int, allocated: int) -> int:
    """Units promised to carts and orders: on hand may never drop below this."""
    return reserved + allocated


def on_hand_problem(new_on_hand: int, reserved: int, allocated: int) -> str | None:
    """Why a level cannot have ``new_on_hand`` units, or None when it can."""
    if new_on_hand < 0:
        return f"on hand cannot be negative (it would be {new_on_hand})"
    if new_on_hand > MAX_QUANTITY:
        return f"on hand cannot exceed {MAX_QUANTITY:,}"
    owed = promised(reserved, allocated)
    if new_on_hand < owed:
        return (
            f"{owed} units are promised to carts and orders ({reserved} reserved, "
            f"{allocated} allocated); on hand cannot go below that (it would be {new_on_hand})"
        )
    return None


@dataclass(frozen=True)
class LevelCounters:
    on_hand: int
    reserved: int
    allocated: int


@dataclass(frozen=True)
class Repair:
    """What the reconciler does to one level: set reserved/allocated to what the holds say."""

    reserved_delta: int
    allocated_delta: int
    repairable: bool


def repair_for(level: LevelCounters, held_reserved: int, held_allocated: int) -> Repair | None:
    """None when the level agrees with its holds; otherwise the deltas that make it agree.

    Not repairable when the holds promise more than is on hand (the table forbids it): a
    person must count the shelf.
    """
    reserved_delta = held_reserved - level.reserved
    allocated_delta = held_allocated - level.allocated
    if reserved_delta == 0 and allocated_delta == 0:
        return None
    repairable = held_reserved + held_allocated <= level.on_hand
    return Repair(reserved_delta, allocated_delta, repairable)
