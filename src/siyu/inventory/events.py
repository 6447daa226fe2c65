"""Domain events of inventory: staff changes to stock and the reconciler's repairs.

Holds (reserve, allocate, release, fulfil) publish nothing here: they are written in the
movement ledger, and the cart and order events that cause them are the facts others need.
"""

from __future__ import annotations

from siyu.outbox.events import DomainEvent


class _LevelEvent(DomainEvent):
    aggregate_type = "stock_level"
    location_id: int
    sku_id: int

    def aggregate_id(self) -> str:
        return f"{self.location_id}:{self.sku_id}"


class StockReceived(_LevelEvent):
    quantity: int
    on_hand: int
    reference: str | None


class StockAdjusted(_LevelEvent):
    on_hand_before: int
    on_hand: int
    reason: str


class StockSnapshotImported(DomainEvent):
    """A POS stock snapshot set the on-hand count of ``levels_changed`` levels."""

    aggregate_type = "brand"
    brand_id: int
    levels_changed: int
    location_ids: list[int]


class StockReconciled(DomainEvent):
    """The reconciler compared every level of the brand with its holds and repaired drift."""

    aggregate_type = "brand"
    brand_id: int
    levels_checked: int
    levels_repaired: int
    levels_unrepairable: int
