"""Stock maintenance: expiring cart reservations and reconciling levels with their holds.

Run by the jobs in ``siyu.inventory.jobs`` and by ``siyu stock reconcile``; in the caller's
transaction, never committing. Lock order: see ``siyu.inventory.locks``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session

from siyu.core.clock import utc_now
from siyu.inventory import events
from siyu.inventory.locks import lock_expired_holds, lock_levels
from siyu.inventory.models import HoldStatus, MovementKind, StockHold, StockLevel
from siyu.inventory.rules import LevelCounters, repair_for
from siyu.inventory.service import new_movement, release_locked_holds
from siyu.outbox.service import record_event


def expire_reservations(
    session: Session,
    *,
    now: datetime | None = None,
    limit: int = 500,
    actor_label: str = "reservation expiry",
) -> int:
    """Release up to ``limit`` cart holds whose ``expires_at`` passed (of every brand); holds
    being paid or released right now are skipped and seen next time. Orders time out through
    their own job. Returns how many holds were released."""
    now = now or utc_now()
    locked = lock_expired_holds(session, holder_kind="cart", now=now, limit=limit)
    by_brand: dict[int, list[StockHold]] = defaultdict(list)
    for hold in locked:
        by_brand[hold.brand_id].append(hold)
    for brand_id, holds in sorted(by_brand.items()):
        release_locked_holds(session, brand_id, holds, reason="expired", actor_label=actor_label)
    return len(locked)


@dataclass(frozen=True)
class LevelRepair:
    location_id: int
    sku_id: int
    on_hand: int
    reserved_before: int
    reserved_after: int
    allocated_before: int
    allocated_after: int
    repaired: bool


@dataclass(frozen=True)
class ReconciliationReport:
    """What the reconciler found: every level whose counters disagreed with its holds.

    ``repaired`` levels now agree (a 'reconciliation' movement each); ``unrepairable`` ones
    have holds promising more than is on hand and need a stock count.
    """

    brand_id: int
    levels_checked: int
    repaired: list[LevelRepair]
    unrepairable: list[LevelRepair]

    def summary(self) -> str:
        return (
            f"{self.levels_checked} levels checked, {len(self.repaired)} repaired, "
            f"{len(self.unrepairable)} need a stock count"
        )


def _held_totals(
    session: Session, brand_id: int, keys: Collection[tuple[int, int]] | None = None
) -> dict[tuple[int, int], tuple[int, int]]:
    """(reserved, allocated) per level according to the live holds."""
    reserved = func.coalesce(
        func.sum(StockHold.quantity).filter(StockHold.status == HoldStatus.RESERVED.value), 0
    )
    allocated = func.coalesce(
        func.sum(StockHold.quantity).filter(StockHold.status == HoldStatus.ALLOCATED.value), 0
    )
    statement = (
        select(StockHold.location_id, StockHold.sku_id, reserved, allocated)
        .where(
            StockHold.brand_id == brand_id,
            StockHold.status.in_([HoldStatus.RESERVED.value, HoldStatus.ALLOCATED.value]),
        )
        .group_by(StockHold.location_id, StockHold.sku_id)
    )
    if keys is not None:
        statement = statement.where(
            tuple_(StockHold.location_id, StockHold.sku_id).in_(sorted(keys))
        )
    return {(row[0], row[1]): (int(row[2]), int(row[3])) for row in session.execute(statement)}


def reconcile_stock(
    session: Session, brand_id: int, *, actor_label: str = "stock reconciler"
) -> ReconciliationReport:
    """Recompute every level's reserved and allocated from its holds and repair drift.

    A level that disagrees is locked (levels in order), checked again under the lock, and set
    to what its holds say with a 'reconciliation' movement; a level whose holds promise more
    than is on hand is reported, not changed. Publishes StockReconciled; returns the report.
    """
    levels = session.execute(
        select(
            StockLevel.location_id,
            StockLevel.sku_id,
            StockLevel.on_hand,
            StockLevel.reserved,
            StockLevel.allocated,
        ).where(StockLevel.brand_id == brand_id)
    ).all()
    held = _held_totals(session, brand_id)
    suspects = [
        (row[0], row[1])
        for row in levels
        if repair_for(LevelCounters(row[2], row[3], row[4]), *held.get((row[0], row[1]), (0, 0)))
    ]
    repaired: list[LevelRepair] = []
    unrepairable: list[LevelRepair] = []
    if suspects:
        locked = lock_levels(session, brand_id, suspects)
        held = _held_totals(session, brand_id, suspects)
        for key in sorted(locked):
            level = locked[key]
            held_reserved, held_allocated = held.get(key, (0, 0))
            repair = repair_for(
                LevelCounters(level.on_hand, level.reserved, level.allocated),
                held_reserved,
                held_allocated,
            )
            if repair is None:
                continue
            found = LevelRepair(
                key[0],
                key[1],
                level.on_hand,
                level.reserved,
                held_reserved,
                level.allocated,
                held_allocated,
                repair.repairable,
            )
            if not repair.repairable:
                unrepairable.append(found)
                continue
            level.reserved = held_reserved
            level.allocated = held_allocated
            session.add(
                new_movement(
                    brand_id,
                    key[0],
                    key[1],
                    MovementKind.RECONCILIATION,
                    reserved=repair.reserved_delta,
                    allocated=repair.allocated_delta,
                    reference="reconciler",
                    actor_label=actor_label,
                )
            )
            repaired.append(found)
    report = ReconciliationReport(brand_id, len(levels), repaired, unrepairable)
    record_event(
        session,
        brand_id,
        events.StockReconciled(
            brand_id=brand_id,
            levels_checked=report.levels_checked,
            levels_repaired=len(repaired),
            levels_unrepairable=len(unrepairable),
        ),
    )
    session.flush()
    return report
