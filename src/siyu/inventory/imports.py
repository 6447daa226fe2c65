"""Importing POS stock snapshots from CSV: all-or-nothing, idempotent.

Columns: ``location`` (stock location code), ``sku`` (SKU code), ``on_hand`` (a whole number
>= 0). Each line sets the level's on-hand count, with a 'pos_snapshot' movement of the
difference; a line that would leave fewer units on hand than carts and orders hold (reserved
+ allocated) is an error for that line. A level the file does not name is left alone, and a
line equal to what is on hand writes nothing, so importing the same file again changes
nothing.

The whole file is checked before anything is written, with a few queries whatever its size:
the levels the file names are locked (in (location, sku) order) while it is checked, so the
check still holds when they are written.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.access.rules import Actor, Permission
from siyu.audit.service import record_change
from siyu.catalog.models import Sku
from siyu.core.csvfile import (
    CodeLookup,
    CsvSource,
    ImportRejected,
    ImportReport,
    ProgressCallback,
    RowError,
    chunked,
    import_writes,
    read_csv,
    report_progress,
)
from siyu.inventory.events import StockSnapshotImported
from siyu.inventory.locks import lock_levels
from siyu.inventory.models import MovementKind, StockLevel, StockMovement
from siyu.inventory.rules import MAX_QUANTITY, on_hand_problem
from siyu.org.models import StockLocation
from siyu.org.service import stock_location_scope
from siyu.outbox.service import record_event

REQUIRED_COLUMNS = ("location", "sku", "on_hand")
BATCH = 500
REFERENCE = "POS stock snapshot"


@dataclass(frozen=True)
class _Line:
    line: int
    location_id: int
    sku_id: int
    on_hand: int


def import_stock(
    session: Session,
    actor: Actor,
    source: CsvSource,
    *,
    progress: ProgressCallback | None = None,
) -> ImportReport:
    """Set on-hand counts from ``source`` (CSV bytes or text, or parsed rows).

    Needs ``import:run`` and ``stock:write``; locations outside the actor's scope are unknown.
    Raises ImportRejected listing every bad line, with nothing written; ImportConflict if a
    level named in the file was created meanwhile. ``created`` counts new levels,
    ``updated`` changed ones. Does not commit.
    """
    actor.require(Permission.IMPORT_RUN)
    actor.require(Permission.STOCK_WRITE)
    table = read_csv(source, required=REQUIRED_COLUMNS)
    visible = select(StockLocation.code, StockLocation.id).where(stock_location_scope(actor))
    locations = CodeLookup("stock location", {code: id_ for code, id_ in session.execute(visible)})
    brand_skus = select(Sku.code, Sku.id).where(Sku.brand_id == actor.brand_id)
    skus = CodeLookup("SKU", {code: id_ for code, id_ in session.execute(brand_skus)})
    errors: list[RowError] = []
    lines: list[_Line] = []
    first_line: dict[tuple[int, int], int] = {}
    total = len(table.rows)
    for done, row in enumerate(table.rows, start=1):
        row_errors: list[RowError] = []
        for column in REQUIRED_COLUMNS:
            if not row.get(column):
                row_errors.append(RowError(row.line, column, "a value is required"))
        location_id = locations.find_in(row, "location", row_errors)
        sku_id = skus.find_in(row, "sku", row_errors)
        on_hand = _whole_number(row.get("on_hand"))
        if row.get("on_hand") and on_hand is None:
            row_errors.append(
                RowError(
                    row.line,
                    "on_hand",
                    f"must be a whole number between 0 and {MAX_QUANTITY:,}",
                )
            )
        if not row_errors and location_id is not None and sku_id is not None:
            key = (location_id, sku_id)
            if key in first_line:
                row_errors.append(
                    RowError(
                        row.line,
                        "sku",
                        f"location '{row.get('location')}' and SKU '{row.get('sku')}' appear "
                        f"twice in the file (also on line {first_line[key]})",
                    )
                )
            else:
                first_line[key] = row.line
                assert on_hand is not None
                lines.append(_Line(row.line, location_id, sku_id, on_hand))
        errors.extend(row_errors)
        report_progress(progress, "checking", done, total)
    if errors:
        raise ImportRejected(errors)
    return _write(session, actor, lines, progress)


def _whole_number(value: str) -> int | None:
    if not value.isdigit():
        return None
    number = int(value)
    return number if number <= MAX_QUANTITY else None


def _write(
    session: Session, actor: Actor, lines: list[_Line], progress: ProgressCallback | None
) -> ImportReport:
    existing: dict[tuple[int, int], StockLevel] = {}
    for chunk in chunked(sorted(lines, key=lambda x: (x.location_id, x.sku_id)), BATCH):
        existing.update(
            lock_levels(session, actor.brand_id, [(x.location_id, x.sku_id) for x in chunk])
        )
    errors: list[RowError] = []
    created: list[_Line] = []
    changed: list[tuple[_Line, StockLevel]] = []
    for line in lines:
        level = existing.get((line.location_id, line.sku_id))
        if level is None:
            if line.on_hand:
                created.append(line)
            continue
        problem = on_hand_problem(line.on_hand, level.reserved, level.allocated)
        if problem is not None:
            errors.append(RowError(line.line, "on_hand", problem))
        elif line.on_hand != level.on_hand:
            changed.append((line, level))
    if errors:
        raise ImportRejected(errors)
    movements: list[StockMovement] = []
    total = len(created) + len(changed)
    with import_writes("stock levels"):
        for done, line in enumerate(created, start=1):
            session.add(
                StockLevel(
                    brand_id=actor.brand_id,
                    location_id=line.location_id,
                    sku_id=line.sku_id,
                    on_hand=line.on_hand,
                )
            )
            movements.append(_movement(actor, line, 0))
            _audit(actor, session, line, 0)
            report_progress(progress, "writing", done, total)
        for done, (line, level) in enumerate(changed, start=len(created) + 1):
            movements.append(_movement(actor, line, level.on_hand))
            _audit(actor, session, line, level.on_hand)
            level.on_hand = line.on_hand
            report_progress(progress, "writing", done, total)
        session.add_all(movements)
        session.flush()
    if total:
        record_event(
            session,
            actor.brand_id,
            StockSnapshotImported(
                brand_id=actor.brand_id,
                levels_changed=total,
                location_ids=sorted({m.location_id for m in movements}),
            ),
        )
    return ImportReport(created=len(created), updated=len(changed), unchanged=len(lines) - total)


def _movement(actor: Actor, line: _Line, before: int) -> StockMovement:
    return StockMovement(
        brand_id=actor.brand_id,
        location_id=line.location_id,
        sku_id=line.sku_id,
        kind=MovementKind.POS_SNAPSHOT.value,
        on_hand_delta=line.on_hand - before,
        reference=REFERENCE,
        actor_label=actor.label[:200],
    )


def _audit(actor: Actor, session: Session, line: _Line, before: int) -> None:
    record_change(
        session,
        actor,
        action="stock_level.snapshot",
        object_type="stock_level",
        object_id=f"{line.location_id}:{line.sku_id}",
        before={"on_hand": before},
        after={"on_hand": line.on_hand},
    )
