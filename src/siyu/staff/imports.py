"""Importing staff from CSV: all-or-nothing, idempotent upserts by employee code.

Columns: ``code, name, role`` (required) and ``region, store, franchisee, phone, email,
login``. There are no passwords: people imported get one later (invitation, or an admin sets
it). Every row gives a person's role and place together, as ``staff.service.change_staff``
requires: the place columns of the row are the person's place, and an absent place column
counts as empty. Each role is attached by exactly the anchor its scope needs
(``access.rules.ROLE_SCOPE``, as ``staff.service.resolve_place`` checks): region managers by
region, store managers and guides by store, franchisee owners by franchisee, HQ roles by none.

``phone``, ``email`` and ``login``: an empty cell clears the value; a column absent from the
file leaves existing people's values alone. Logins are compared in lower case, as stored.

The whole file is checked with a handful of queries before anything is written; new and
changed people are then written in batches, each audited and published as ``hire_staff`` and
``change_staff`` do. The acting staff member (if any) may only manage people their role may
manage (``access.rules.check_can_manage_staff``) and may not move themself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from siyu.access.rules import (
    PLACE_ANCHORS,
    Actor,
    Permission,
    Role,
    StaffPlace,
    StorePlace,
    check_can_manage_staff,
    place_problems,
)
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
from siyu.core.errors import PermissionDenied
from siyu.core.snapshot import row_snapshot
from siyu.org.models import Franchisee, Region, Store
from siyu.staff.models import Staff
from siyu.staff.schemas import StaffCreate
from siyu.staff.service import publish_staff_changed, publish_staff_hired

REQUIRED_COLUMNS = ("code", "name", "role")
OPTIONAL_COLUMNS = ("region", "store", "franchisee", "phone", "email", "login")
PLACE_COLUMNS = PLACE_ANCHORS
FIELD_OF_COLUMN = {"region": "region_id", "store": "store_id", "franchisee": "franchisee_id"}
COLUMN_OF_FIELD = {value: key for key, value in FIELD_OF_COLUMN.items()}
CONTACT_COLUMNS = ("phone", "email", "login")
REASONS = {
    ("code", "string_pattern_mismatch"): "is not a valid employee code: 1-32 letters, digits, "
    "'_', '.' or '-', starting with a letter or digit",
    ("code", "string_too_long"): "is not a valid employee code: at most 32 characters",
    ("role", "enum"): "must be one of " + ", ".join(role.value for role in Role),
    ("phone", "string_pattern_mismatch"): "is not a phone number (digits, spaces and '-', "
    "optionally starting with '+')",
    ("email", "string_pattern_mismatch"): "is not an email address",
    ("login", "string_pattern_mismatch"): "is not a valid login: lower-case letters, digits, "
    "'_', '.', '@' or '-', starting with a letter or digit",
}
BATCH = 1000


@dataclass
class _Planned:
    line: int
    code: str
    values: dict[str, Any]
    existing: Staff | None = None
    changes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Lookups:
    regions: CodeLookup
    franchisees: CodeLookup
    stores: CodeLookup
    store_places: dict[int, StorePlace]
    existing: dict[str, Staff]


def import_staff(
    session: Session,
    actor: Actor,
    source: CsvSource,
    *,
    progress: ProgressCallback | None = None,
) -> ImportReport:
    """Hire or change the people of ``source`` (CSV bytes or text, or parsed rows).

    Needs ``import:run`` and ``staff:write``. Raises ImportRejected listing every bad row, with
    nothing written; ImportConflict if the same people changed meanwhile. Does not commit.
    """
    actor.require(Permission.IMPORT_RUN)
    actor.require(Permission.STAFF_WRITE)
    table = read_csv(source, required=REQUIRED_COLUMNS, optional=OPTIONAL_COLUMNS)
    lookups = _prefetch(session, actor.brand_id, table)
    planned = _validate(session, actor, table, lookups, progress)
    created = [p for p in planned if p.existing is None]
    changed = [p for p in planned if p.existing is not None and p.changes]
    with import_writes("people"):
        _update(session, actor, changed, progress)
        _create(session, actor, created, progress)
        session.flush()
    return ImportReport(
        created=len(created),
        updated=len(changed),
        unchanged=len(planned) - len(created) - len(changed),
    )


# ---------------------------------------------------------------- checking


def _prefetch(session: Session, brand_id: int, table: CsvTable) -> _Lookups:
    """What the row checks need, in four queries; the people named in the file are locked."""
    regions = session.execute(select(Region.code, Region.id).where(Region.brand_id == brand_id))
    franchisees = session.execute(
        select(Franchisee.code, Franchisee.id).where(Franchisee.brand_id == brand_id)
    )
    stores = session.execute(
        select(Store.code, Store.id, Store.region_id, Store.franchisee_id).where(
            Store.brand_id == brand_id
        )
    ).all()
    codes = {row.get("code") for row in table.rows}
    existing = session.scalars(
        select(Staff)
        .where(Staff.brand_id == brand_id, Staff.code.in_(codes))
        .order_by(Staff.id)
        .with_for_update()
    )
    return _Lookups(
        regions=CodeLookup("region", {code: id_ for code, id_ in regions}),
        franchisees=CodeLookup("franchisee", {code: id_ for code, id_ in franchisees}),
        stores=CodeLookup("store", {s.code: s.id for s in stores}),
        store_places={s.id: StorePlace(s.id, s.region_id, s.franchisee_id) for s in stores},
        existing={person.code: person for person in existing},
    )


def _validate(
    session: Session,
    actor: Actor,
    table: CsvTable,
    lookups: _Lookups,
    progress: ProgressCallback | None,
) -> list[_Planned]:
    planned: list[_Planned] = []
    errors: list[RowError] = []
    code_line: dict[str, int] = {}
    login_line: dict[str, int] = {}
    total = len(table.rows)
    for done, row in enumerate(table.rows, start=1):
        row_errors: list[RowError] = []
        result = _check_row(actor, table, row, lookups, row_errors)
        code = row.get("code")
        if code in code_line:
            row_errors.append(
                RowError(
                    row.line,
                    "code",
                    f"the code '{code}' appears twice in the file (also on line {code_line[code]})",
                )
            )
        elif code:
            code_line[code] = row.line
        login = result.values.get("login") if result else None
        if login is not None and login in login_line:
            row_errors.append(
                RowError(
                    row.line,
                    "login",
                    f"the login '{login}' appears twice in the file (also on line "
                    f"{login_line[login]})",
                )
            )
        elif login is not None:
            login_line[login] = row.line
        if row_errors:
            errors.extend(row_errors)
        elif result is not None:
            planned.append(result)
        report_progress(progress, "checking", done, total)
    errors.extend(_logins_taken(session, actor.brand_id, planned, set(code_line)))
    if errors:
        raise ImportRejected(errors)
    return planned


def _logins_taken(
    session: Session, brand_id: int, planned: list[_Planned], codes_in_file: set[str]
) -> list[RowError]:
    """Logins the file gives that someone not in the file holds (one query). A login held by
    someone in the file is free: the file gives that person another login, or the same one
    (then the duplicate was reported already)."""
    wanted = {p.values["login"]: p for p in planned if p.values.get("login")}
    if not wanted:
        return []
    holders = session.execute(
        select(Staff.login, Staff.code).where(
            Staff.brand_id == brand_id, Staff.login.in_(wanted.keys())
        )
    )
    errors: list[RowError] = []
    for login, holder in holders:
        if login is not None and holder not in codes_in_file:
            errors.append(
                RowError(
                    wanted[login].line,
                    "login",
                    f"the login '{login}' is already used by another staff member ({holder})",
                )
            )
    return errors


def _check_row(
    actor: Actor, table: CsvTable, row: CsvRow, lookups: _Lookups, errors: list[RowError]
) -> _Planned | None:
    line = row.line
    anchors = {
        "region": lookups.regions.find_in(row, "region", errors),
        "store": lookups.stores.find_in(row, "store", errors),
        "franchisee": lookups.franchisees.find_in(row, "franchisee", errors),
    }
    data: dict[str, Any] = {
        "code": row.get("code"),
        "name": row.get("name"),
        "role": row.get("role").lower(),
    }
    for column in CONTACT_COLUMNS:
        if row.get(column):
            data[column] = row.get(column)
    if "login" in data:
        data["login"] = data["login"].lower()  # the schema lowers it only after its pattern
    try:
        person = StaffCreate.model_validate(data)
    except ValidationError as error:
        errors.extend(validation_errors(error, line, columns=COLUMN_OF_FIELD, reasons=REASONS))
        person = None
    role = person.role if person else _role_or_none(data["role"])
    if role is not None:
        errors.extend(_anchor_errors(line, role, row))
    if person is None or errors:
        return None
    values: dict[str, Any] = {
        "code": person.code,
        "name": person.name,
        "role": person.role.value,
        **{FIELD_OF_COLUMN[column]: anchors[column] for column in PLACE_COLUMNS},
    }
    existing = lookups.existing.get(person.code)
    for column in CONTACT_COLUMNS:
        if table.has(column) or existing is None:
            values[column] = getattr(person, column)
    place = _place(person.role, values, lookups, existing)
    problem = _management_problem(actor, place, existing, lookups)
    if problem is not None:
        errors.append(RowError(line, "role", problem))
        return None
    planned = _Planned(line, person.code, values, existing)
    if existing is not None:
        planned.changes = {k: v for k, v in values.items() if getattr(existing, k) != v}
        moved = planned.changes.keys() & {"role", "region_id", "store_id", "franchisee_id"}
        if moved and actor.staff_id == existing.id:
            errors.append(RowError(line, "role", "you cannot change your own role or place"))
            return None
    return planned


def _role_or_none(value: str) -> Role | None:
    try:
        return Role(value)
    except ValueError:
        return None


def _anchor_errors(line: int, role: Role, row: CsvRow) -> list[RowError]:
    given = {column for column in PLACE_COLUMNS if row.get(column)}
    return [RowError(line, anchor, reason) for anchor, reason in place_problems(role, given)]


def _place(
    role: Role, values: dict[str, Any], lookups: _Lookups, existing: Staff | None
) -> StaffPlace:
    store_id = values["store_id"]
    return StaffPlace(
        staff_id=existing.id if existing else None,
        role=role,
        region_id=values["region_id"],
        franchisee_id=values["franchisee_id"],
        store=lookups.store_places[store_id] if store_id is not None else None,
    )


def _management_problem(
    actor: Actor, place: StaffPlace, existing: Staff | None, lookups: _Lookups
) -> str | None:
    """Why ``actor`` may not put someone at ``place`` (or manage them where they are now)."""
    try:
        if existing is not None:
            current = StaffPlace(
                staff_id=existing.id,
                role=Role(existing.role),
                region_id=existing.region_id,
                franchisee_id=existing.franchisee_id,
                store=lookups.store_places.get(existing.store_id)
                if existing.store_id is not None
                else None,
            )
            check_can_manage_staff(actor, current)
        check_can_manage_staff(actor, place)
    except PermissionDenied as denied:
        return denied.message
    return None


# ---------------------------------------------------------------- writing


def _create(
    session: Session, actor: Actor, planned: list[_Planned], progress: ProgressCallback | None
) -> None:
    done = 0
    for batch in chunked(planned, BATCH):
        people = [
            Staff(
                brand_id=actor.brand_id,
                status="active",
                password_hash=None,
                last_login_at=None,
                **p.values,
            )
            for p in batch
        ]
        session.add_all(people)
        session.flush()
        for person in people:
            publish_staff_hired(session, actor, person)
        session.flush()
        done += len(batch)
        report_progress(progress, "hiring", done, len(planned))


def _update(
    session: Session, actor: Actor, planned: list[_Planned], progress: ProgressCallback | None
) -> None:
    relogged = [p.existing.id for p in planned if p.existing and "login" in p.changes]
    if relogged:
        # Free the old logins first, so that people may swap logins within one file.
        session.execute(
            update(Staff)
            .where(Staff.brand_id == actor.brand_id, Staff.id.in_(relogged))
            .values(login=None)
            .execution_options(synchronize_session=False)
        )
    for done, p in enumerate(planned, start=1):
        person = p.existing
        assert person is not None
        before = row_snapshot(person)
        for key, value in p.changes.items():
            setattr(person, key, value)
        publish_staff_changed(session, actor, person, before)
        if done % BATCH == 0:
            session.flush()
        report_progress(progress, "updating", done, len(planned))
