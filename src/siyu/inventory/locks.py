"""Row locks of inventory, in one place and one order.

Order, when a transaction needs several:

1. stock holds, ascending ``id`` (``lock_holder_holds``, ``lock_expired_holds``);
2. stock levels, ascending ``(location_id, sku_id)``.

Holds come first because releasing, allocating or fulfilling starts from a holder's holds and
then changes the levels they sit on. Levels are always taken in ascending
``(location_id, sku_id)`` order within one call, whether by ``lock_levels`` or by the
conditional ``UPDATE`` of ``reserve_stock`` (one statement per level: ``reserved = reserved
+ q WHERE on_hand - reserved - allocated >= q``; the row lock is the statement's own), so two
calls wanting the same levels queue instead of deadlocking. The organization's locks (store,
stock location) come before any of these.

A transaction that makes several stock calls (release a cart's holds, then reserve for the
order) takes each call's levels in order but not the union in order; PostgreSQL detects the
rare deadlock that can follow and the caller may retry. Every lock is held until the caller's
transaction ends.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from siyu.inventory.models import HoldStatus, StockHold, StockLevel


def lock_levels(
    session: Session, brand_id: int, keys: Collection[tuple[int, int]], *, create: bool = False
) -> dict[tuple[int, int], StockLevel]:
    """Lock the levels ``(location_id, sku_id)`` in order; with ``create``, missing levels are
    first inserted at zero (a concurrent insert of the same level is waited for, not an error).
    Returns the levels found, by key."""
    if not keys:
        return {}
    if create:
        session.execute(
            insert(StockLevel)
            .values(
                [
                    {"brand_id": brand_id, "location_id": location_id, "sku_id": sku_id}
                    for location_id, sku_id in sorted(keys)
                ]
            )
            .on_conflict_do_nothing()
        )
    rows = session.scalars(
        select(StockLevel)
        .where(
            StockLevel.brand_id == brand_id,
            tuple_(StockLevel.location_id, StockLevel.sku_id).in_(sorted(keys)),
        )
        .order_by(StockLevel.location_id, StockLevel.sku_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    return {(row.location_id, row.sku_id): row for row in rows}


def lock_holder_holds(
    session: Session,
    brand_id: int,
    holder_kind: str,
    holder_id: int,
    statuses: Collection[HoldStatus],
) -> Sequence[StockHold]:
    """Lock the holder's holds in the given statuses, in id order."""
    return session.scalars(
        select(StockHold)
        .where(
            StockHold.brand_id == brand_id,
            StockHold.holder_kind == holder_kind,
            StockHold.holder_id == holder_id,
            StockHold.status.in_([s.value for s in statuses]),
        )
        .order_by(StockHold.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()


def lock_expired_holds(
    session: Session, *, holder_kind: str, now: datetime, limit: int
) -> Sequence[StockHold]:
    """Lock up to ``limit`` reserved holds of ``holder_kind`` that expired before ``now``, of
    every brand, in (brand, id) order, skipping holds another transaction is changing (that
    one is paying or releasing them)."""
    return session.scalars(
        select(StockHold)
        .where(
            StockHold.status == HoldStatus.RESERVED.value,
            StockHold.holder_kind == holder_kind,
            StockHold.expires_at < now,
        )
        .order_by(StockHold.brand_id, StockHold.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
