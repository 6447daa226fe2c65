"""What both POS imports share: reading a file through its column mapping, who may import for
which stores, finding members by identifier in bulk, and the import record.

A POS export has its own column names. The mapping names the file's column of each field
(``{"会员卡号": "pos_member_number", "手机号": "phone"}``); a field the mapping leaves out is
read from a column of its own name if the file has one, and every other column is ignored
(though the file's column names must still be distinct).
The file is then read and checked by ``siyu.core.csvfile`` like every import: UTF-8 (with or
without BOM), line 1 the header, every problem a ``RowError(line, column, reason)`` naming the
file's own column.

Both imports are all-or-nothing (``ImportRejected`` lists every bad row, nothing is written)
and idempotent: a file imported again changes nothing and leaves no import record. We chose
all-or-nothing over accepting the good rows of a 100,000-row file because a partly imported
file leaves the figures silently short; the report lists every bad line at once, and as
re-importing is harmless the corrected file can simply be imported whole.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import ARRAY, BigInteger, ColumnElement, String, literal, select
from sqlalchemy.orm import QueryableAttribute, Session
from sqlalchemy.types import TypeEngine

from siyu.access.rules import Actor, Permission, ScopeKind
from siyu.audit.service import record_change
from siyu.core.csvfile import (
    CodeLookup,
    CsvRow,
    CsvSource,
    CsvTable,
    ImportRejected,
    ImportReport,
    RowError,
    chunked,
    decode,
    read_csv,
)
from siyu.core.errors import InvalidInput
from siyu.members.identity import normalize_phone
from siyu.members.models import Member, MemberIdentity
from siyu.offline import rules
from siyu.offline.errors import InvalidMapping
from siyu.offline.models import OfflineImport
from siyu.offline.rules import ImportKind, MappingProblem, OfflineRuleError
from siyu.org.models import Store
from siyu.org.service import store_scope

HEADER_LINE = 1
LOOKUP_CHUNK = 10_000
MAX_MERGE_HOPS = 32
MAX_FILE_BYTES = 64 * 1024 * 1024
T = TypeVar("T")


class PosFileTooLarge(InvalidInput):
    code = "file_too_large"


def check_file_size(size: int) -> None:
    """Raise PosFileTooLarge when a file of ``size`` bytes is past ``MAX_FILE_BYTES``."""
    if size > MAX_FILE_BYTES:
        raise PosFileTooLarge(
            f"The file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB; split it.",
            field="file",
        )


@dataclass(frozen=True)
class PosImportReport(ImportReport):
    """``ImportReport`` (created / updated / unchanged) with what a POS import adds."""

    kind: str = ""
    import_id: int | None = None
    rows: int = 0
    lines: int = 0
    member_orders: int = 0
    anonymous_orders: int = 0
    unknown_sku_lines: int = 0


# ---------------------------------------------------------------- permission and mapping


def require_pos_import(actor: Actor) -> None:
    """Raise PermissionDenied unless ``actor`` may import POS files (see rules.may_import_pos)."""
    if not rules.may_import_pos(actor):
        actor.require(Permission.IMPORT_RUN)


def parse_mapping(json_text: str | None = None, pairs: Sequence[str] = ()) -> dict[str, str]:
    """The mapping ``{file column: field}`` from JSON text and/or ``COLUMN=FIELD`` pairs (a pair
    overrides the JSON for its column). Raises InvalidMapping when either cannot be read."""
    try:
        mapping = rules.mapping_from_json(json_text or "")
        overrides = rules.mapping_from_pairs(pairs)
    except MappingProblem as problem:
        raise _invalid(problem) from problem
    keys = {rules.column_key(column) for column in overrides}
    kept = {c: f for c, f in mapping.items() if rules.column_key(c) not in keys}
    return kept | overrides


def _invalid(problem: MappingProblem) -> InvalidMapping:
    return InvalidMapping(
        "The column mapping is wrong: " + "; ".join(problem.reasons) + ".",
        field="mapping",
        extra={"reasons": problem.reasons},
    )


# ---------------------------------------------------------------- reading


@dataclass(frozen=True)
class PosFile:
    """A checked POS file: its rows and which column (key) gives each field."""

    kind: ImportKind
    table: CsvTable
    columns: dict[str, str]

    def gives(self, field: str) -> bool:
        return field in self.columns

    def column(self, field: str) -> str:
        """The file's column of ``field`` (for row errors); the field's name if none."""
        return self.columns.get(field, field)


def read_pos_file(kind: ImportKind, source: CsvSource, mapping: Mapping[str, str]) -> PosFile:
    """Check ``mapping`` against the kind of file, then read ``source`` through it.

    Raises InvalidMapping for a mapping that is wrong whatever the file (unknown field, a field
    given twice); ImportRejected on line 1 for a mapped column the file lacks or a required
    field no column gives, and for everything ``read_csv`` refuses.
    """
    if isinstance(source, bytes):
        check_file_size(len(source))
    try:
        columns_of = rules.check_mapping(kind, mapping)
    except MappingProblem as problem:
        raise _invalid(problem) from problem
    if isinstance(source, bytes | str):
        text = decode(source) if isinstance(source, bytes) else source.removeprefix("\ufeff")
        header = _header(text)
        if header is None:  # empty or not CSV: read_csv says why
            read_csv(text, required=())
            raise AssertionError("read_csv accepted a file without a header")  # pragma: no cover
        data: CsvSource = text
    else:
        header = [rules.column_key(name) for name in (source[0].keys() if source else ())]
        data = source
    resolved, problems = rules.resolve_columns(kind, columns_of, header)
    if problems:
        raise ImportRejected([RowError(HEADER_LINE, None, problem) for problem in problems])
    used = set(resolved.values())
    others = list(dict.fromkeys(c for c in header if c and c not in used))
    table = read_csv(data, required=sorted(used), optional=others)
    return PosFile(kind, table, resolved)


def _header(text: str) -> list[str] | None:
    try:
        first = next(csv.reader(io.StringIO(text, newline=""), strict=True))
    except (StopIteration, csv.Error):
        return None
    names = [rules.column_key(name) for name in first]
    while names and not names[-1]:
        names.pop()
    return names or None


# ---------------------------------------------------------------- reading cells


class _Problem(str):
    """A cached reason a text cannot be read."""


class PosField(Generic[T]):
    """One field of every row of a POS file. POS exports repeat the same store codes, times
    and prices on many rows, so each distinct text is read once."""

    def __init__(
        self,
        pos: PosFile,
        field: str,
        parse: Callable[[str], T],
        *,
        required: bool = False,
        missing: str = "a value is required",
    ) -> None:
        self.key = pos.columns.get(field)
        self.column = pos.column(field)
        self.parse = parse
        self.required = required
        self.missing = missing
        self.seen: dict[str, T | _Problem] = {}

    def text(self, row: CsvRow) -> str:
        return row.values.get(self.key, "") if self.key is not None else ""

    def read(self, row: CsvRow, errors: list[RowError]) -> T | None:
        """The row's value (None when empty or unreadable: a RowError says why)."""
        text = self.text(row)
        if not text:
            if self.required:
                errors.append(RowError(row.line, self.column, self.missing))
            return None
        found = self.seen.get(text)
        if found is None:
            try:
                found = self.parse(text)
            except OfflineRuleError as error:
                found = _Problem(error)
            self.seen[text] = found
        if isinstance(found, _Problem):
            errors.append(RowError(row.line, self.column, str(found)))
            return None
        return found


def text_of(longest: int) -> Callable[[str], str]:
    """A reader of plain text of at most ``longest`` characters."""

    def read(text: str) -> str:
        if len(text) > longest:
            raise OfflineRuleError(f"is too long (at most {longest} characters)")
        return text

    return read


def mobile(text: str) -> str:
    """A phone in the normalized 11-digit mainland form."""
    phone = normalize_phone(text)
    if phone is None:
        raise OfflineRuleError("is not a mainland mobile number (11 digits)")
    return phone


def moment_until(latest: datetime) -> Callable[[str], datetime]:
    """A reader of times no later than ``latest``."""

    def read(text: str) -> datetime:
        moment = rules.parse_moment(text)
        if moment > latest:
            raise OfflineRuleError("is in the future")
        return moment

    return read


# ---------------------------------------------------------------- stores in scope


class StoreCodes:
    """The stores an actor may import for, by code (one query). Outside HQ, a store of the
    brand outside the actor's scope is reported exactly like an unknown one."""

    def __init__(self, session: Session, actor: Actor) -> None:
        rows = session.execute(select(Store.code, Store.id).where(store_scope(actor))).all()
        self.scoped = actor.scope is not ScopeKind.BRAND
        self.lookup = CodeLookup("store", {code: id_ for code, id_ in rows})

    def find(self, code: str) -> tuple[int | None, str]:
        """The id of store ``code``, or None and the reason it cannot be used."""
        found, reason = self.lookup.find(code)
        if found is None and self.scoped:
            reason = f"no store with code '{code}' among the stores you may import for"
        return found, reason

    def id_of(self, code: str) -> int:
        """The id of store ``code``; OfflineRuleError (the reason) when it cannot be used."""
        found, reason = self.find(code)
        if found is None:
            raise OfflineRuleError(reason)
        return found


# ---------------------------------------------------------------- members by identifier


def identity_owners(
    session: Session, brand_id: int, identities: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], int]:
    """The active member (merges followed) each known identifier names; a few queries per
    10,000 identifiers, no locks."""
    wanted: dict[str, set[str]] = {}
    for kind, value in identities:
        wanted.setdefault(kind, set()).add(value)
    owners: dict[tuple[str, str], int] = {}
    for kind, values in wanted.items():
        for chunk in chunked(sorted(values), LOOKUP_CHUNK):
            rows = session.execute(
                select(MemberIdentity.value, MemberIdentity.member_id).where(
                    MemberIdentity.brand_id == brand_id,
                    MemberIdentity.kind == kind,
                    matches_any(MemberIdentity.value, chunk, String()),
                )
            )
            owners.update(((kind, value), member_id) for value, member_id in rows)
    survivors = survivor_ids(session, brand_id, set(owners.values()))
    return {key: survivors[member_id] for key, member_id in owners.items()}


def survivor_ids(session: Session, brand_id: int, member_ids: Iterable[int]) -> dict[int, int]:
    """Each member id -> the active member it resolves to (itself unless merged), in a query
    per hop of the merge chains rather than per member."""
    current = {member_id: member_id for member_id in member_ids}
    for _ in range(MAX_MERGE_HOPS):
        merged: dict[int, int] = {}
        for chunk in chunked(sorted(set(current.values())), LOOKUP_CHUNK):
            rows = session.execute(
                select(Member.id, Member.merged_into_id).where(
                    Member.brand_id == brand_id,
                    matches_any(Member.id, chunk, BigInteger()),
                    Member.merged_into_id.is_not(None),
                )
            )
            merged.update((member_id, into) for member_id, into in rows if into is not None)
        if not merged:
            break
        current = {start: merged.get(now, now) for start, now in current.items()}
    return current


def matches_any(
    column: QueryableAttribute[Any], values: Sequence[Any], item_type: TypeEngine[Any]
) -> ColumnElement[bool]:
    """``column = ANY(:array)``: one bound array instead of one parameter per value."""
    condition: ColumnElement[bool] = column == literal(list(values), ARRAY(item_type)).any_()
    return condition


# ---------------------------------------------------------------- the record


def record_import(
    session: Session,
    actor: Actor,
    pos: PosFile,
    *,
    file_name: str | None,
    created: int,
    updated: int,
    unchanged: int,
) -> OfflineImport:
    """Add the import record (flushed, so it has its id) and its audit entry."""
    record = OfflineImport(
        brand_id=actor.brand_id,
        kind=pos.kind.value,
        file_name=(file_name or None) and file_name[:255],
        mapping=dict(pos.columns),
        row_count=len(pos.table.rows),
        created_count=created,
        updated_count=updated,
        unchanged_count=unchanged,
        actor_label=actor.label[:200],
        staff_id=actor.staff_id,
    )
    session.add(record)
    session.flush()
    record_change(
        session,
        actor,
        action="offline_import.create",
        object_type="offline_import",
        object_id=record.id,
        before=None,
        after={
            "kind": record.kind,
            "file_name": record.file_name,
            "rows": record.row_count,
            "created": created,
            "updated": updated,
            "unchanged": unchanged,
        },
    )
    return record
