"""Importing stores from CSV: all-or-nothing, idempotent upserts by code within the brand.

Columns: ``code, name, region`` (required) and ``ownership, franchisee, address, latitude,
longitude, opening_hours, status, phone``. Regions and franchisees are referenced by code and
must already exist: the import never creates them.

For each column present in the file, the file is the truth: an empty cell clears an optional
value (address, coordinates, opening hours, phone, franchisee). Two exceptions keep a stray
blank from reopening or re-owning a store: an empty ``ownership`` or ``status`` keeps an
existing store's value (new stores get ``direct`` and ``open``). A column absent from the file
leaves that value of existing stores alone.

The whole file is checked before anything is written, with a handful of queries whatever its
size; then new stores (with their stock locations) and changed stores are written in batches,
each audited and published exactly as ``org.service.create_store`` / ``update_store`` do.
Unchanged rows write nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.access.rules import Actor, Permission
from siyu.core.csvfile import (
    CodeLookup,
    CsvRow,
    CsvSource,
    CsvTable,
    ImportRejected,
    ImportReport,
    ProgressCallback,
    RowError,
    chunked,
    import_writes,
    read_csv,
    report_progress,
    validation_errors,
)
from siyu.core.snapshot import row_snapshot
from siyu.org.models import (
    Franchisee,
    LocationKind,
    Ownership,
    Region,
    StockLocation,
    Store,
    StoreStatus,
)
from siyu.org.rules import OpeningHoursError, ownership_problem, parse_opening_hours
from siyu.org.schemas import StoreCreate
from siyu.org.service import (
    copy_store_to_location,
    publish_store_changed,
    publish_store_created,
)

REQUIRED_COLUMNS = ("code", "name", "region")
OPTIONAL_COLUMNS = (
    "ownership",
    "franchisee",
    "address",
    "latitude",
    "longitude",
    "opening_hours",
    "status",
    "phone",
)
# Schema field -> CSV column, where they differ.
COLUMN_OF_FIELD = {"region_id": "region", "franchisee_id": "franchisee"}
REASONS = {
    ("code", "string_pattern_mismatch"): "is not a valid code: 1-32 letters, digits, '_', '.' "
    "or '-', starting with a letter or digit",
    ("code", "string_too_long"): "is not a valid code: at most 32 characters",
    ("ownership", "enum"): "must be 'direct' or 'franchise'",
    ("status", "enum"): "must be one of planned, open, suspended, closed",
    ("latitude", "*"): "must be a number between -90 and 90 with at most 6 decimals",
    ("longitude", "*"): "must be a number between -180 and 180 with at most 6 decimals",
    ("phone", "string_pattern_mismatch"): "is not a phone number (digits, spaces and '-', "
    "optionally starting with '+')",
}
HOURS_HINT = "write e.g. '10:00-22:00' or 'mon-fri 10:00-22:00; sat,sun 09:00-23:00'"
COORDINATE_STEP = Decimal("0.000001")
# Columns copied from the validated row when present in the file (schema field == column).
PLAIN_COLUMNS = ("address", "latitude", "longitude", "opening_hours", "phone")
LOCATION_FIELDS = frozenset({"name", "region_id", "franchisee_id", "address"})
BATCH = 500


@dataclass
class _Planned:
    line: int
    code: str
    values: dict[str, Any]
    existing: Store | None = None
    changes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Lookups:
    regions: CodeLookup
    franchisees: CodeLookup
    existing: dict[str, Store]
    # stock location code -> store id (None for warehouses)
    location_codes: dict[str, int | None]


def import_stores(
    session: Session,
    actor: Actor,
    source: CsvSource,
    *,
    progress: ProgressCallback | None = None,
) -> ImportReport:
    """Create or update the stores of ``source`` (CSV bytes or text, or parsed rows).

    Needs ``import:run`` and ``org:write``. Raises ImportRejected listing every bad row, with
    nothing written; ImportConflict if the same stores changed meanwhile. Does not commit.
    """
    actor.require(Permission.IMPORT_RUN)
    actor.require(Permission.ORG_WRITE)
    table = read_csv(source, required=REQUIRED_COLUMNS, optional=OPTIONAL_COLUMNS)
    lookups = _prefetch(session, actor.brand_id, table)
    planned = _validate(table, lookups, progress)
    created = [p for p in planned if p.existing is None]
    changed = [p for p in planned if p.existing is not None and p.changes]
    with import_writes("stores"):
        _create(session, actor, created, progress)
        _update(session, actor, changed, progress)
        session.flush()
    return ImportReport(
        created=len(created),
        updated=len(changed),
        unchanged=len(planned) - len(created) - len(changed),
    )


# ---------------------------------------------------------------- checking


def _prefetch(session: Session, brand_id: int, table: CsvTable) -> _Lookups:
    """Everything the row checks need, in four queries. Existing stores named in the file are
    locked so nobody changes them between the check and the write."""
    regions = session.execute(select(Region.code, Region.id).where(Region.brand_id == brand_id))
    franchisees = session.execute(
        select(Franchisee.code, Franchisee.id).where(Franchisee.brand_id == brand_id)
    )
    codes = {row.get("code") for row in table.rows}
    existing = session.scalars(
        select(Store)
        .where(Store.brand_id == brand_id, Store.code.in_(codes))
        .order_by(Store.id)
        .with_for_update()
    )
    locations = session.execute(
        select(StockLocation.code, StockLocation.store_id).where(StockLocation.brand_id == brand_id)
    )
    return _Lookups(
        regions=CodeLookup("region", {code: id_ for code, id_ in regions}),
        franchisees=CodeLookup("franchisee", {code: id_ for code, id_ in franchisees}),
        existing={store.code: store for store in existing},
        location_codes={code: store_id for code, store_id in locations},
    )


def _validate(
    table: CsvTable, lookups: _Lookups, progress: ProgressCallback | None
) -> list[_Planned]:
    planned: list[_Planned] = []
    errors: list[RowError] = []
    first_line: dict[str, int] = {}
    total = len(table.rows)
    for done, row in enumerate(table.rows, start=1):
        row_errors: list[RowError] = []
        result = _check_row(table, row, lookups, row_errors)
        code = row.get("code")
        if code and code in first_line:
            row_errors.append(
                RowError(
                    row.line,
                    "code",
                    f"the code '{code}' appears twice in the file (also on line "
                    f"{first_line[code]})",
                )
            )
        elif code:
            first_line[code] = row.line
        if row_errors:
            errors.extend(row_errors)
        elif result is not None:
            planned.append(result)
        report_progress(progress, "checking", done, total)
    if errors:
        raise ImportRejected(errors)
    return planned


def _check_row(
    table: CsvTable, row: CsvRow, lookups: _Lookups, errors: list[RowError]
) -> _Planned | None:
    line = row.line
    region_id = lookups.regions.find_in(
        row, "region", errors, "; create the region first (imports do not create regions)"
    )
    if not row.get("region"):
        errors.append(RowError(line, "region", "a value is required"))
    franchisee_id = lookups.franchisees.find_in(
        row,
        "franchisee",
        errors,
        "; create the franchisee first (imports do not create franchisees)",
    )
    data: dict[str, Any] = {
        "code": row.get("code"),
        "name": row.get("name"),
        "region_id": region_id if region_id is not None else 0,
        "address": row.get("address"),
    }
    for column in ("ownership", "status"):
        if row.get(column):
            data[column] = row.get(column).lower()
    for column in ("latitude", "longitude", "phone"):
        if row.get(column):
            data[column] = row.get(column)
    try:
        store = StoreCreate.model_validate(data)
    except ValidationError as error:
        errors.extend(validation_errors(error, line, columns=COLUMN_OF_FIELD, reasons=REASONS))
        store = None
    opening_hours: dict[str, list[list[str]]] = {}
    try:
        opening_hours = parse_opening_hours(row.get("opening_hours"))
    except OpeningHoursError as error:
        errors.append(RowError(line, "opening_hours", f"{error}; {HOURS_HINT}"))
    existing = lookups.existing.get(row.get("code"))
    if existing is None and row.get("code") in lookups.location_codes:
        errors.append(
            RowError(
                line,
                "code",
                f"the code '{row.get('code')}' is already used by a warehouse of this brand",
            )
        )
    if store is None or errors:
        return None
    values = _target_values(table, row, store, existing, franchisee_id, opening_hours)
    ownership_error = ownership_problem(values["ownership"], values["franchisee_id"] is not None)
    if ownership_error:
        errors.append(RowError(line, "franchisee", ownership_error))
        return None
    planned = _Planned(line, store.code, values, existing)
    if existing is not None:
        planned.changes = {k: v for k, v in values.items() if getattr(existing, k) != v}
    return planned


def _target_values(
    table: CsvTable,
    row: CsvRow,
    store: StoreCreate,
    existing: Store | None,
    franchisee_id: int | None,
    opening_hours: dict[str, list[list[str]]],
) -> dict[str, Any]:
    """The values the store must end up with: what the file says, and for what it does not
    say, the existing store's value (or the default for a new store)."""
    values: dict[str, Any] = {"code": store.code, "name": store.name, "region_id": store.region_id}
    if existing is None:
        values.update(
            ownership=Ownership.DIRECT.value,
            franchisee_id=None,
            address="",
            latitude=None,
            longitude=None,
            opening_hours={},
            status=StoreStatus.OPEN.value,
            phone=None,
        )
    else:
        values.update(ownership=existing.ownership, franchisee_id=existing.franchisee_id)
    parsed = {
        "address": store.address,
        "latitude": _coordinate(store.latitude),
        "longitude": _coordinate(store.longitude),
        "opening_hours": opening_hours,
        "phone": store.phone,
    }
    for column in PLAIN_COLUMNS:
        if table.has(column):
            values[column] = parsed[column]
    if row.get("ownership"):
        values["ownership"] = store.ownership.value
    if row.get("status"):
        values["status"] = store.status.value
    if table.has("franchisee"):
        values["franchisee_id"] = franchisee_id
    elif values["ownership"] == Ownership.DIRECT.value:
        # as update_store: turning a store direct without naming a franchisee drops it
        values["franchisee_id"] = None
    return values


def _coordinate(value: Decimal | None) -> Decimal | None:
    """As stored (6 decimals), so that an unchanged value compares and audits as unchanged."""
    return None if value is None else value.quantize(COORDINATE_STEP)


# ---------------------------------------------------------------- writing


def _create(
    session: Session, actor: Actor, planned: list[_Planned], progress: ProgressCallback | None
) -> None:
    done = 0
    for batch in chunked(planned, BATCH):
        stores = [Store(brand_id=actor.brand_id, **p.values) for p in batch]
        session.add_all(stores)
        session.flush()
        session.add_all(
            StockLocation(
                brand_id=actor.brand_id,
                code=store.code,
                name=store.name,
                kind=LocationKind.STORE.value,
                store_id=store.id,
                region_id=store.region_id,
                franchisee_id=store.franchisee_id,
                address=store.address,
                is_active=True,
            )
            for store in stores
        )
        for store in stores:
            publish_store_created(session, actor, store)
        session.flush()
        done += len(batch)
        report_progress(progress, "creating", done, len(planned))


def _update(
    session: Session, actor: Actor, planned: list[_Planned], progress: ProgressCallback | None
) -> None:
    moved = [p.existing.id for p in planned if p.existing and LOCATION_FIELDS & p.changes.keys()]
    locations = {
        location.store_id: location
        for location in session.scalars(
            select(StockLocation)
            .where(StockLocation.brand_id == actor.brand_id, StockLocation.store_id.in_(moved))
            .order_by(StockLocation.id)
            .with_for_update()
        )
    }
    for done, p in enumerate(planned, start=1):
        store = p.existing
        assert store is not None
        before = row_snapshot(store)
        for key, value in p.changes.items():
            setattr(store, key, value)
        publish_store_changed(session, actor, store, before)
        location = locations.get(store.id)
        if location is not None:
            copy_store_to_location(store, location)
        if done % BATCH == 0:
            session.flush()
        report_progress(progress, "updating", done, len(planned))
