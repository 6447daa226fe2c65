"""Stock: levels per SKU and location, staff receipts and adjustments, holds for carts and
orders, and the movement ledger.

Every change of a level writes one ``stock_movement`` row per cause, in the caller's
transaction; none of these functions commits. Staff operations take an ``Actor`` (stock
changes need ``stock:write``, reading needs ``org:read``; locations outside the actor's scope
are not found), write an audit entry and publish an event. The hold functions serve checkout:
they take the brand and the holder (a cart or an order), never oversell under any
concurrency (the database's CHECKs are the last line: ``reserved + allocated <= on_hand``),
and are all-or-nothing. Lock order: see ``siyu.inventory.locks``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from siyu.access.rules import Actor, Permission
from siyu.audit.service import record_change
from siyu.catalog.models import Sku
from siyu.inventory import events
from siyu.inventory.errors import (
    InsufficientStock,
    InvalidQuantity,
    SkuNotFound,
    StockBelowPromised,
)
from siyu.inventory.locks import lock_holder_holds, lock_levels
from siyu.inventory.models import HoldStatus, MovementKind, StockHold, StockLevel, StockMovement
from siyu.inventory.rules import (
    MAX_QUANTITY,
    HoldRequest,
    LevelGroup,
    adjusted_on_hand,
    available,
    group_by_level,
    on_hand_problem,
)
from siyu.inventory.schemas import StockAdjustmentCreate, StockReceiptCreate
from siyu.org.errors import StockLocationNotFound
from siyu.org.models import StockLocation
from siyu.org.service import stock_location_scope
from siyu.outbox.service import record_event

HOLDER_KINDS = ("cart", "order")

# ---------------------------------------------------------------- reading


@dataclass(frozen=True)
class LevelView:
    """A stock level as staff see it."""

    location_id: int
    sku_id: int
    sku_code: str
    on_hand: int
    reserved: int
    allocated: int
    updated_at: datetime

    @property
    def available(self) -> int:
        return available(self.on_hand, self.reserved, self.allocated)


def _location_in_scope(session: Session, actor: Actor, location_id: int) -> StockLocation:
    location = session.scalar(
        select(StockLocation).where(stock_location_scope(actor), StockLocation.id == location_id)
    )
    if location is None:
        raise StockLocationNotFound(f"Stock location {location_id} was not found.")
    return location


def _sku(session: Session, brand_id: int, sku_id: int) -> Sku:
    sku = session.scalar(select(Sku).where(Sku.brand_id == brand_id, Sku.id == sku_id))
    if sku is None:
        raise SkuNotFound(f"SKU {sku_id} was not found.", field="sku_id")
    return sku


def _level_views(
    session: Session, conditions: Sequence[ColumnElement[bool]], *, limit: int, offset: int
) -> tuple[list[LevelView], int]:
    total = session.scalar(select(func.count()).select_from(StockLevel).where(*conditions)) or 0
    rows = session.execute(
        select(StockLevel, Sku.code)
        .join(Sku, (Sku.brand_id == StockLevel.brand_id) & (Sku.id == StockLevel.sku_id))
        .where(*conditions)
        .order_by(Sku.code, StockLevel.location_id)
        .limit(limit)
        .offset(offset)
    ).all()
    return [_view(level, code) for level, code in rows], total


def _view(level: StockLevel, sku_code: str) -> LevelView:
    return LevelView(
        location_id=level.location_id,
        sku_id=level.sku_id,
        sku_code=sku_code,
        on_hand=level.on_hand,
        reserved=level.reserved,
        allocated=level.allocated,
        updated_at=level.updated_at,
    )


def list_stock_levels(
    session: Session,
    actor: Actor,
    location_id: int,
    *,
    sku_id: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[LevelView], int]:
    """A page of the levels of one location in scope, by SKU code, and the total.

    Needs ``org:read``. Raises StockLocationNotFound.
    """
    actor.require(Permission.ORG_READ)
    _location_in_scope(session, actor, location_id)
    conditions = [StockLevel.brand_id == actor.brand_id, StockLevel.location_id == location_id]
    if sku_id is not None:
        conditions.append(StockLevel.sku_id == sku_id)
    return _level_views(session, conditions, limit=limit, offset=offset)


def list_sku_levels(session: Session, actor: Actor, sku_id: int) -> list[LevelView]:
    """The levels of one SKU at every location in scope, by location id. Needs ``org:read``.
    Raises SkuNotFound."""
    actor.require(Permission.ORG_READ)
    _sku(session, actor.brand_id, sku_id)
    visible = select(StockLocation.id).where(stock_location_scope(actor))
    views, _ = _level_views(
        session,
        [
            StockLevel.brand_id == actor.brand_id,
            StockLevel.sku_id == sku_id,
            StockLevel.location_id.in_(visible),
        ],
        limit=10_000,
        offset=0,
    )
    return sorted(views, key=lambda v: v.location_id)


def list_stock_movements(
    session: Session,
    actor: Actor,
    location_id: int,
    *,
    sku_id: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[Sequence[StockMovement], int]:
    """A page of the movement ledger of one location in scope, newest first, and the total.

    Needs ``org:read``. Raises StockLocationNotFound.
    """
    actor.require(Permission.ORG_READ)
    _location_in_scope(session, actor, location_id)
    conditions = [
        StockMovement.brand_id == actor.brand_id,
        StockMovement.location_id == location_id,
    ]
    if sku_id is not None:
        conditions.append(StockMovement.sku_id == sku_id)
    total = session.scalar(select(func.count()).select_from(StockMovement).where(*conditions)) or 0
    rows = session.scalars(
        select(StockMovement)
        .where(*conditions)
        .order_by(StockMovement.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return rows, total


def available_quantities(
    session: Session, brand_id: int, location_ids: Collection[int], sku_ids: Collection[int]
) -> dict[tuple[int, int], int]:
    """Units available for every (location_id, sku_id) asked about; 0 where no level exists.

    One query, no locks: the answer may be stale by the time it is used, which is why
    ``reserve_stock`` checks again atomically.
    """
    result = {(location_id, sku_id): 0 for location_id in location_ids for sku_id in sku_ids}
    if not result:
        return result
    rows = session.execute(
        select(
            StockLevel.location_id,
            StockLevel.sku_id,
            StockLevel.on_hand - StockLevel.reserved - StockLevel.allocated,
        ).where(
            StockLevel.brand_id == brand_id,
            StockLevel.location_id.in_(list(location_ids)),
            StockLevel.sku_id.in_(list(sku_ids)),
        )
    )
    for location_id, sku_id, units in rows:
        result[(location_id, sku_id)] = units
    return result


# ---------------------------------------------------------------- staff changes


def _level_key(location_id: int, sku_id: int) -> str:
    return f"{location_id}:{sku_id}"


def _counters(on_hand: int, reserved: int, allocated: int) -> dict[str, int]:
    return {"on_hand": on_hand, "reserved": reserved, "allocated": allocated}


def new_movement(
    brand_id: int,
    location_id: int,
    sku_id: int,
    kind: MovementKind,
    *,
    on_hand: int = 0,
    reserved: int = 0,
    allocated: int = 0,
    hold_id: int | None = None,
    reference: str | None,
    actor_label: str,
) -> StockMovement:
    return StockMovement(
        brand_id=brand_id,
        location_id=location_id,
        sku_id=sku_id,
        kind=kind.value,
        on_hand_delta=on_hand,
        reserved_delta=reserved,
        allocated_delta=allocated,
        hold_id=hold_id,
        reference=reference,
        actor_label=actor_label[:200],
    )


def _add_on_hand(
    session: Session, brand_id: int, location_id: int, sku_id: int, quantity: int
) -> tuple[int, int, int, datetime]:
    """Add ``quantity`` to on hand, creating the level if needed; (on_hand, reserved,
    allocated, updated_at) after. Raises InvalidQuantity when the count would overflow."""
    statement = (
        insert(StockLevel)
        .values(brand_id=brand_id, location_id=location_id, sku_id=sku_id, on_hand=quantity)
        .on_conflict_do_update(
            index_elements=["brand_id", "location_id", "sku_id"],
            set_={"on_hand": StockLevel.on_hand + quantity, "updated_at": func.now()},
            where=StockLevel.on_hand + quantity <= MAX_QUANTITY,
        )
        .returning(
            StockLevel.on_hand, StockLevel.reserved, StockLevel.allocated, StockLevel.updated_at
        )
    )
    row = session.execute(statement).one_or_none()
    if row is None:
        raise InvalidQuantity(f"On hand cannot exceed {MAX_QUANTITY:,} units.", field="quantity")
    return row[0], row[1], row[2], row[3]


def receive_stock(
    session: Session, actor: Actor, location_id: int, data: StockReceiptCreate
) -> LevelView:
    """Goods arrived: on hand += quantity, with a 'receipt' movement, an audit entry and
    StockReceived. Needs ``stock:write`` on a location in scope.

    Raises StockLocationNotFound, SkuNotFound, InvalidQuantity. Takes the level's row lock
    (an atomic upsert).
    """
    actor.require(Permission.STOCK_WRITE)
    _location_in_scope(session, actor, location_id)
    sku = _sku(session, actor.brand_id, data.sku_id)
    on_hand, reserved, allocated, updated_at = _add_on_hand(
        session, actor.brand_id, location_id, sku.id, data.quantity
    )
    session.add(
        new_movement(
            actor.brand_id,
            location_id,
            sku.id,
            MovementKind.RECEIPT,
            on_hand=data.quantity,
            reference=data.reference,
            actor_label=actor.label,
        )
    )
    record_change(
        session,
        actor,
        action="stock_level.receive",
        object_type="stock_level",
        object_id=_level_key(location_id, sku.id),
        before=_counters(on_hand - data.quantity, reserved, allocated),
        after=_counters(on_hand, reserved, allocated) | {"reference": data.reference},
    )
    record_event(
        session,
        actor.brand_id,
        events.StockReceived(
            location_id=location_id,
            sku_id=sku.id,
            quantity=data.quantity,
            on_hand=on_hand,
            reference=data.reference,
        ),
    )
    session.flush()
    return LevelView(location_id, sku.id, sku.code, on_hand, reserved, allocated, updated_at)


def adjust_stock(
    session: Session, actor: Actor, location_id: int, data: StockAdjustmentCreate
) -> LevelView:
    """Set on hand (a count) or move it by a delta (a correction), with a reason.

    Writes an 'adjustment' movement, an audit entry and StockAdjusted; an adjustment that
    changes nothing writes nothing. Needs ``stock:write`` on a location in scope. Raises
    StockLocationNotFound, SkuNotFound and StockBelowPromised (on hand would fall below what
    carts and orders hold, or below zero). Locks the level.
    """
    actor.require(Permission.STOCK_WRITE)
    _location_in_scope(session, actor, location_id)
    sku = _sku(session, actor.brand_id, data.sku_id)
    key = (location_id, sku.id)
    field = "on_hand" if data.on_hand is not None else "delta"
    level = lock_levels(session, actor.brand_id, [key]).get(key)
    if level is None:
        _check_on_hand(adjusted_on_hand(0, set_to=data.on_hand, delta=data.delta), 0, 0, field)
        level = lock_levels(session, actor.brand_id, [key], create=True)[key]
    before = level.on_hand
    new_on_hand = adjusted_on_hand(before, set_to=data.on_hand, delta=data.delta)
    _check_on_hand(new_on_hand, level.reserved, level.allocated, field)
    if new_on_hand != before:
        level.on_hand = new_on_hand
        session.add(
            new_movement(
                actor.brand_id,
                location_id,
                sku.id,
                MovementKind.ADJUSTMENT,
                on_hand=new_on_hand - before,
                reference=data.reason,
                actor_label=actor.label,
            )
        )
        record_change(
            session,
            actor,
            action="stock_level.adjust",
            object_type="stock_level",
            object_id=_level_key(location_id, sku.id),
            before={"on_hand": before},
            after={"on_hand": new_on_hand, "reason": data.reason},
        )
        record_event(
            session,
            actor.brand_id,
            events.StockAdjusted(
                location_id=location_id,
                sku_id=sku.id,
                on_hand_before=before,
                on_hand=new_on_hand,
                reason=data.reason,
            ),
        )
        session.flush()
        session.refresh(level)
    return _view(level, sku.code)


def _check_on_hand(new_on_hand: int, reserved: int, allocated: int, field: str) -> None:
    problem = on_hand_problem(new_on_hand, reserved, allocated)
    if problem is not None:
        raise StockBelowPromised(
            problem[0].upper() + problem[1:] + ".",
            field=field,
            extra={"on_hand": new_on_hand, "reserved": reserved, "allocated": allocated},
        )


# ---------------------------------------------------------------- holds (checkout)

# One statement per level: it first queues on the level's advisory lock (``queue``, see
# below), then the conditional UPDATE takes the level's row lock and promises the units only
# if they are available; the holds and their movements are inserted from its result, so when
# the level has too few units nothing at all is written. Queueing inside the statement keeps
# the parse and plan out of the queue and saves a round trip while the level is held; the
# UPDATE still re-reads the newest version of the row once its turn comes (READ COMMITTED).
_RESERVE = text(
    """
WITH queue AS MATERIALIZED (
    SELECT pg_advisory_xact_lock(CAST(:location_key AS integer), CAST(:sku_key AS integer))
), level AS (
    UPDATE stock_level
       SET reserved = reserved + :total, updated_at = now()
     WHERE EXISTS (SELECT FROM queue)
       AND brand_id = :brand_id AND location_id = :location_id AND sku_id = :sku_id
       AND on_hand - reserved - allocated >= :total
 RETURNING brand_id, location_id, sku_id
), hold AS (
    INSERT INTO stock_hold (brand_id, location_id, sku_id, quantity, holder_kind, holder_id,
                            holder_line_id, status, expires_at)
    SELECT level.brand_id, level.location_id, level.sku_id, line.quantity, :holder_kind,
           :holder_id, line.holder_line_id, 'reserved', CAST(:expires_at AS timestamptz)
      FROM level,
           unnest(CAST(:quantities AS integer[]), CAST(:line_ids AS bigint[]))
           WITH ORDINALITY AS line (quantity, holder_line_id, position)
     ORDER BY line.position
 RETURNING *
), movement AS (
    INSERT INTO stock_movement (brand_id, location_id, sku_id, kind, reserved_delta, hold_id,
                                reference, actor_label)
    SELECT brand_id, location_id, sku_id, 'reservation', quantity, id, :reference, :actor_label
      FROM hold
)
SELECT * FROM hold
"""
)

_RESERVE_HOLDS = select(StockHold).from_statement(_RESERVE)
# A hot level queues its reservers on a transaction-scoped advisory lock before the UPDATE
# (the ``queue`` of ``_RESERVE``): PostgreSQL wakes only the next waiter of an advisory lock
# when it is released, whereas every transaction waiting on an updated row wakes at its commit
# (64 buyers of one SKU otherwise spend their time waking up). The conditional UPDATE alone
# keeps the count right; the queue only makes waiting cheap. Keys are (location_id, sku_id)
# folded into int4: a collision only makes two levels share a queue.


def _int4(value: int) -> int:
    return (value + 2**31) % 2**32 - 2**31


# One statement per level: change its counters and write one movement per hold.
_MOVE = text(
    """
WITH level AS (
    UPDATE stock_level
       SET on_hand = on_hand + :on_hand, reserved = reserved + :reserved,
           allocated = allocated + :allocated, updated_at = now()
     WHERE brand_id = :brand_id AND location_id = :location_id AND sku_id = :sku_id
 RETURNING brand_id
)
INSERT INTO stock_movement (brand_id, location_id, sku_id, kind, on_hand_delta,
                            reserved_delta, allocated_delta, hold_id, reference, actor_label)
SELECT :brand_id, :location_id, :sku_id, :kind, change.on_hand, change.reserved,
       change.allocated, change.hold_id, :reference, :actor_label
  FROM level,
       unnest(CAST(:on_hand_deltas AS integer[]), CAST(:reserved_deltas AS integer[]),
              CAST(:allocated_deltas AS integer[]), CAST(:hold_ids AS bigint[]))
       AS change (on_hand, reserved, allocated, hold_id)
"""
)


def _check_requests(requests: Sequence[HoldRequest], holder_kind: str) -> None:
    if holder_kind not in HOLDER_KINDS:
        raise ValueError(f"holder_kind must be one of {HOLDER_KINDS}, not {holder_kind!r}")
    for request in requests:
        if not 0 < request.quantity <= MAX_QUANTITY:
            raise InvalidQuantity(
                f"Quantity must be between 1 and {MAX_QUANTITY:,} (got {request.quantity}).",
                field="quantity",
                extra={"sku_id": request.sku_id, "location_id": request.location_id},
            )


def reserve_stock(
    session: Session,
    brand_id: int,
    requests: Sequence[HoldRequest],
    *,
    holder_kind: str,
    holder_id: int,
    expires_at: datetime | None,
    actor_label: str,
) -> list[StockHold]:
    """Hold units for a cart or an order: reserved += quantity per level, one ``reserved``
    hold and one 'reservation' movement per request. Returns the holds in request order.

    All or nothing: raises InsufficientStock (409; ``extra`` names sku_id, location_id and
    the units available) for the first level, in lock order, that has too few units, and
    writes nothing; a missing level has 0 available. Raises InvalidQuantity for a quantity
    <= 0. Never oversells: each level is changed by one conditional UPDATE (``on_hand -
    reserved - allocated >= q``), levels taken in (location_id, sku_id) order; several levels
    are changed inside a savepoint that is rolled back on refusal.
    """
    _check_requests(requests, holder_kind)
    groups = group_by_level(requests)
    if not groups:
        return []
    if len(groups) == 1:
        holds = _reserve_level(
            session, brand_id, groups[0], holder_kind, holder_id, expires_at, actor_label
        )
    else:
        holds = []
        with session.begin_nested():
            for group in groups:
                holds += _reserve_level(
                    session, brand_id, group, holder_kind, holder_id, expires_at, actor_label
                )
    order = [position for group in groups for position in group.positions]
    return [hold for _, hold in sorted(zip(order, holds, strict=True), key=lambda p: p[0])]


def _reserve_level(
    session: Session,
    brand_id: int,
    group: LevelGroup,
    holder_kind: str,
    holder_id: int,
    expires_at: datetime | None,
    actor_label: str,
) -> list[StockHold]:
    params = {
        "brand_id": brand_id,
        "location_id": group.location_id,
        "sku_id": group.sku_id,
        "total": group.total,
        "holder_kind": holder_kind,
        "holder_id": holder_id,
        "expires_at": expires_at,
        "quantities": [r.quantity for r in group.requests],
        "line_ids": [r.holder_line_id for r in group.requests],
        "reference": f"{holder_kind}:{holder_id}",
        "actor_label": actor_label[:200],
        "location_key": _int4(group.location_id),
        "sku_key": _int4(group.sku_id),
    }
    holds = list(session.scalars(_RESERVE_HOLDS, params))
    if not holds:
        units = available_quantities(session, brand_id, [group.location_id], [group.sku_id])
        left = units[(group.location_id, group.sku_id)]
        raise InsufficientStock(
            f"Only {max(left, 0)} units of SKU {group.sku_id} are available at stock location "
            f"{group.location_id}; {group.total} were asked for.",
            extra={"sku_id": group.sku_id, "location_id": group.location_id, "available": left},
        )
    # The statement inserts in request order, so ids ascend with it.
    return sorted(holds, key=lambda hold: hold.id)


def _move_levels(
    session: Session,
    brand_id: int,
    kind: MovementKind,
    changes: Iterable[tuple[StockHold, int, int, int]],
    *,
    reference: str | None,
    actor_label: str,
) -> None:
    """Apply (hold, on_hand delta, reserved delta, allocated delta) to the holds' levels, one
    statement per level in (location_id, sku_id) order, each writing one movement per hold."""
    per_level: dict[tuple[int, int], list[tuple[StockHold, int, int, int]]] = defaultdict(list)
    for change in changes:
        per_level[(change[0].location_id, change[0].sku_id)].append(change)
    for (location_id, sku_id), rows in sorted(per_level.items()):
        session.execute(
            _MOVE,
            {
                "brand_id": brand_id,
                "location_id": location_id,
                "sku_id": sku_id,
                "on_hand": sum(r[1] for r in rows),
                "reserved": sum(r[2] for r in rows),
                "allocated": sum(r[3] for r in rows),
                "kind": kind.value,
                "on_hand_deltas": [r[1] for r in rows],
                "reserved_deltas": [r[2] for r in rows],
                "allocated_deltas": [r[3] for r in rows],
                "hold_ids": [r[0].id for r in rows],
                "reference": reference,
                "actor_label": actor_label[:200],
            },
        )


# Moves the holder's holds from one status to another in one statement: locks them in id
# order (the subquery), changes them and, when they all sit on one level (the usual case),
# also moves that level's counters and writes one movement per hold. Holds spanning several
# levels get their levels moved by ``_move_levels``, one statement per level in lock order.
_TRANSITION = """
WITH hold AS (
    UPDATE stock_hold
       SET status = :target, changed_at = now()
     WHERE brand_id = :brand_id AND status = :source
       AND id IN (SELECT id FROM stock_hold
                   WHERE brand_id = :brand_id AND holder_kind = :holder_kind
                     AND holder_id = :holder_id AND status = :source {lines}
                   ORDER BY id
                     FOR UPDATE)
 RETURNING *
), level_total AS (
    SELECT location_id, sku_id, sum(quantity) AS quantity
      FROM hold
     GROUP BY location_id, sku_id
), level AS (
    UPDATE stock_level
       SET on_hand = stock_level.on_hand + CAST(:on_hand AS integer) * level_total.quantity,
           reserved = stock_level.reserved + CAST(:reserved AS integer) * level_total.quantity,
           allocated = stock_level.allocated
                       + CAST(:allocated AS integer) * level_total.quantity,
           updated_at = now()
      FROM level_total
     WHERE stock_level.brand_id = :brand_id
       AND stock_level.location_id = level_total.location_id
       AND stock_level.sku_id = level_total.sku_id
       AND (SELECT count(*) FROM level_total) = 1
 RETURNING stock_level.location_id
), movement AS (
    INSERT INTO stock_movement (brand_id, location_id, sku_id, kind, on_hand_delta,
                                reserved_delta, allocated_delta, hold_id, reference,
                                actor_label)
    SELECT hold.brand_id, hold.location_id, hold.sku_id, :kind,
           CAST(:on_hand AS integer) * hold.quantity, CAST(:reserved AS integer) * hold.quantity,
           CAST(:allocated AS integer) * hold.quantity, hold.id, :reference, :actor_label
      FROM hold
     WHERE EXISTS (SELECT 1 FROM level)
)
SELECT * FROM hold
"""
_TRANSITION_ALL = select(StockHold).from_statement(text(_TRANSITION.format(lines="")))
_TRANSITION_LINES = select(StockHold).from_statement(
    text(_TRANSITION.format(lines="AND holder_line_id = ANY(CAST(:line_ids AS bigint[]))"))
)


@dataclass(frozen=True)
class _Transition:
    source: HoldStatus
    target: HoldStatus
    kind: MovementKind
    # signs of the per-unit change of on_hand, reserved and allocated
    on_hand: int
    reserved: int
    allocated: int


_ALLOCATE = _Transition(
    HoldStatus.RESERVED, HoldStatus.ALLOCATED, MovementKind.ALLOCATION, 0, -1, 1
)
_FULFIL = _Transition(
    HoldStatus.ALLOCATED, HoldStatus.FULFILLED, MovementKind.FULFILMENT, -1, 0, -1
)


def _transition(
    session: Session,
    brand_id: int,
    holder_kind: str,
    holder_id: int,
    change: _Transition,
    actor_label: str,
    holder_line_ids: Collection[int] | None = None,
) -> list[StockHold]:
    """Move the holder's holds from ``change.source`` to ``change.target`` and their levels'
    counters; returns the holds moved, by id. Locks the holds in id order, then the levels
    in (location_id, sku_id) order."""
    reference = f"{holder_kind}:{holder_id}"
    params: dict[str, Any] = {
        "brand_id": brand_id,
        "holder_kind": holder_kind,
        "holder_id": holder_id,
        "source": change.source.value,
        "target": change.target.value,
        "kind": change.kind.value,
        "on_hand": change.on_hand,
        "reserved": change.reserved,
        "allocated": change.allocated,
        "reference": reference,
        "actor_label": actor_label[:200],
    }
    statement = _TRANSITION_ALL
    if holder_line_ids is not None:
        statement = _TRANSITION_LINES
        params["line_ids"] = list(holder_line_ids)
    holds = sorted(
        session.scalars(statement, params, execution_options={"populate_existing": True}),
        key=lambda hold: hold.id,
    )
    if len({(hold.location_id, hold.sku_id) for hold in holds}) > 1:
        _move_levels(
            session,
            brand_id,
            change.kind,
            (
                (
                    hold,
                    change.on_hand * hold.quantity,
                    change.reserved * hold.quantity,
                    change.allocated * hold.quantity,
                )
                for hold in holds
            ),
            reference=reference,
            actor_label=actor_label,
        )
    return holds


def allocate_holds(
    session: Session, brand_id: int, *, holder_kind: str, holder_id: int, actor_label: str
) -> list[StockHold]:
    """The holder paid: its reserved holds become allocated (reserved -= q, allocated += q),
    with an 'allocation' movement each. Idempotent: holds already allocated (or fulfilled,
    released) are left alone. Returns the holds this call allocated, by id.

    Locks the holder's reserved holds (id order), then their levels.
    """
    return _transition(session, brand_id, holder_kind, holder_id, _ALLOCATE, actor_label)


def release_holds(
    session: Session,
    brand_id: int,
    *,
    holder_kind: str,
    holder_id: int,
    actor_label: str,
    reason: str,
) -> list[StockHold]:
    """Give back the holder's reserved and allocated holds (cancelled, expired, refunded
    before fulfilment): each becomes released and its units return to available, with a
    'release' movement whose reference is ``reason``. Idempotent. Returns the holds this call
    released, by id. Locks the holds (id order), then their levels.
    """
    locked = lock_holder_holds(
        session, brand_id, holder_kind, holder_id, [HoldStatus.RESERVED, HoldStatus.ALLOCATED]
    )
    return release_locked_holds(session, brand_id, locked, reason=reason, actor_label=actor_label)


def release_locked_holds(
    session: Session,
    brand_id: int,
    locked: Sequence[StockHold],
    *,
    reason: str,
    actor_label: str,
) -> list[StockHold]:
    if not locked:
        return []
    changes = [
        (
            hold,
            0,
            -hold.quantity if hold.status == HoldStatus.RESERVED else 0,
            -hold.quantity if hold.status == HoldStatus.ALLOCATED else 0,
        )
        for hold in locked
    ]
    session.execute(
        update(StockHold)
        .where(StockHold.brand_id == brand_id, StockHold.id.in_([h.id for h in locked]))
        .values(status=HoldStatus.RELEASED.value, changed_at=func.now()),
        execution_options={"synchronize_session": False},
    )
    _move_levels(
        session,
        brand_id,
        MovementKind.RELEASE,
        changes,
        reference=reason[:200],
        actor_label=actor_label,
    )
    for hold in locked:
        session.expire(hold)
    return list(locked)


def fulfil_holds(
    session: Session,
    brand_id: int,
    *,
    holder_kind: str,
    holder_id: int,
    actor_label: str,
    holder_line_ids: Collection[int] | None = None,
) -> list[StockHold]:
    """The goods left (shipped or picked up): the holder's allocated holds (only those of
    ``holder_line_ids`` when given) become fulfilled; on_hand -= q and allocated -= q, with a
    'fulfilment' movement each. Idempotent. Returns the holds this call fulfilled, by id.
    Locks the holds (id order), then their levels.
    """
    return _transition(
        session, brand_id, holder_kind, holder_id, _FULFIL, actor_label, holder_line_ids
    )


def restock(
    session: Session,
    brand_id: int,
    *,
    location_id: int,
    sku_id: int,
    quantity: int,
    reference: str,
    actor_label: str,
) -> StockMovement:
    """Returned goods back on the shelf: on_hand += quantity with a 'return' movement, which
    is returned. Raises InvalidQuantity for a quantity <= 0. Takes the level's row lock."""
    if not 0 < quantity <= MAX_QUANTITY:
        raise InvalidQuantity(
            f"Quantity must be between 1 and {MAX_QUANTITY:,} (got {quantity}).",
            field="quantity",
        )
    _add_on_hand(session, brand_id, location_id, sku_id, quantity)
    movement = new_movement(
        brand_id,
        location_id,
        sku_id,
        MovementKind.RETURN,
        on_hand=quantity,
        reference=reference[:200],
        actor_label=actor_label,
    )
    session.add(movement)
    session.flush()
    return movement
