"""Reading CSV files for all-or-nothing imports: decoding, header checks, numbered rows.

A file is read whole and checked before anything is written. Every problem becomes a
``RowError(line, column, reason)``; line 1 is the header and the first data row is line 2, as
a spreadsheet numbers them (a quoted value spanning several physical lines is one row).
Importers collect every error of every row and raise ``ImportRejected`` with all of them.

Values are stripped of surrounding whitespace; an entirely empty row (Excel writes ``,,,``
for rows it thinks are used) is skipped, and so are empty columns after the last named one.
Header names are matched case-insensitively. A row with fewer values than the header has
empty values for the columns it lacks.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError

from siyu.core.errors import Conflict, InvalidInput

HEADER_LINE = 1
T = TypeVar("T")

# (phase, done, total): called while validating and writing, for progress bars.
ProgressCallback = Callable[[str, int, int], None]
# What an importer accepts: the raw bytes of a file, its text, or rows already split into
# columns (mappings of header name to value, the first one on line 2).
CsvSource = bytes | str | Sequence[Mapping[str, str | None]]


@dataclass(frozen=True, order=True)
class RowError:
    """One reason a file is rejected. ``column`` is None when the whole row or file is meant."""

    line: int
    column: str | None
    reason: str

    def __str__(self) -> str:
        where = f"line {self.line}, column {self.column}" if self.column else f"line {self.line}"
        return f"{where}: {self.reason}"


class ImportRejected(InvalidInput):
    """The file has at least one bad row; nothing was written. ``errors`` lists them all."""

    code = "import_rejected"

    def __init__(self, errors: Sequence[RowError]) -> None:
        self.errors = sorted(errors, key=lambda e: (e.line, e.column or "", e.reason))
        count = len(self.errors)
        super().__init__(
            f"{count} problem{'s' if count != 1 else ''} found; nothing was imported.",
            extra={
                "errors": [
                    {"line": e.line, "column": e.column, "reason": e.reason} for e in self.errors
                ]
            },
        )


class ImportConflict(Conflict):
    """Someone changed the same rows while the import ran; running it again is safe."""

    code = "import_conflict"


@contextmanager
def import_writes(what: str) -> Iterator[None]:
    """Around an import's writes: a row that someone else created or changed meanwhile (a
    unique or foreign key clash) refuses the whole import with ImportConflict."""
    try:
        yield
    except IntegrityError as error:
        raise ImportConflict(
            f"Some of these {what} were created or changed by someone else during the import; "
            "nothing was imported. Run the import again."
        ) from error


@dataclass(frozen=True)
class CsvRow:
    line: int
    values: dict[str, str]

    def get(self, column: str) -> str:
        """The stripped value, or "" when the column is absent or the cell empty."""
        return self.values.get(column, "")


@dataclass(frozen=True)
class CsvTable:
    columns: tuple[str, ...]
    rows: list[CsvRow]

    def has(self, column: str) -> bool:
        return column in self.columns


@dataclass(frozen=True)
class ImportReport:
    created: int
    updated: int
    unchanged: int

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged


def decode(data: bytes) -> str:
    """UTF-8 text, with or without the BOM Excel writes. Raises ImportRejected otherwise."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ImportRejected(
            [
                RowError(
                    line,
                    None,
                    f"the file is not UTF-8 (byte 0x{data[error.start]:02x} cannot be read); "
                    "save it as 'CSV UTF-8'",
                )
            ]
        ) from error


def read_csv(
    source: CsvSource, *, required: Sequence[str], optional: Sequence[str] = ()
) -> CsvTable:
    """Read and check a CSV file whose columns are ``required`` plus any of ``optional``.

    Raises ImportRejected for an undecodable or empty file, for unknown, duplicated or
    missing columns (each reported once, on line 1) and for malformed rows.
    """
    if isinstance(source, bytes | str):
        text = decode(source) if isinstance(source, bytes) else source.removeprefix("\ufeff")
        if not text.strip():
            raise ImportRejected([RowError(HEADER_LINE, None, "the file is empty")])
        records = _records(text)
    else:
        records = _records_of_mappings(source)
    try:
        header_line, header = next(records)
    except StopIteration:
        raise ImportRejected([RowError(HEADER_LINE, None, "the file is empty")]) from None
    names = [_column_name(name) for name in header]
    while names and not names[-1]:  # spreadsheets add empty columns after the last one
        names.pop()
    columns = tuple(names)
    _check_header(header_line, columns, required, optional)
    rows: list[CsvRow] = []
    errors: list[RowError] = []
    for line, values in records:
        if not any(v.strip() for v in values):
            continue
        while len(values) > len(columns) and not values[-1].strip():
            values.pop()
        if len(values) > len(columns):
            errors.append(
                RowError(
                    line,
                    None,
                    f"the row has {len(values)} values but the header names {len(columns)} columns",
                )
            )
            continue
        cells = {column: value.strip() for column, value in zip(columns, values, strict=False)}
        rows.append(CsvRow(line, cells))
    if errors:
        raise ImportRejected(errors)
    if not rows:
        raise ImportRejected([RowError(HEADER_LINE, None, "the file has no rows below the header")])
    return CsvTable(columns, rows)


def _column_name(name: str) -> str:
    return name.strip().lower()


def _records(text: str) -> Iterator[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    line = 0
    while True:
        line += 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise ImportRejected(
                [RowError(line, None, f"the row is not valid CSV: {error}")]
            ) from error
        yield line, values


def _records_of_mappings(
    rows: Sequence[Mapping[str, str | None]],
) -> Iterator[tuple[int, list[str]]]:
    if not rows:
        return
    header = list(rows[0].keys())
    yield HEADER_LINE, header
    for index, row in enumerate(rows):
        line = index + 2
        unknown = [key for key in row if key not in header]
        if unknown:
            raise ImportRejected(
                [RowError(line, None, f"the row has columns the first row lacks: {unknown}")]
            )
        yield line, [row.get(name) or "" for name in header]


def _check_header(
    line: int, columns: tuple[str, ...], required: Sequence[str], optional: Sequence[str]
) -> None:
    known = list(required) + list(optional)
    errors: list[RowError] = []
    seen: set[str] = set()
    for column in columns:
        if not column:
            errors.append(RowError(line, None, "a column has no name in the header"))
        elif column in seen:
            errors.append(RowError(line, column, f"the column '{column}' appears twice"))
        elif column not in known:
            errors.append(
                RowError(
                    line,
                    column,
                    f"unknown column '{column}'; the columns are: {', '.join(known)}",
                )
            )
        seen.add(column)
    for column in required:
        if column not in seen:
            errors.append(RowError(line, column, f"the required column '{column}' is missing"))
    if errors:
        raise ImportRejected(errors)


# ---------------------------------------------------------------- helpers for importers


class CodeLookup:
    """Rows of one kind by code (exact, as codes are case-sensitive), for row checks without a
    query per row. A miss explains itself and suggests a code differing only in case."""

    def __init__(self, what: str, ids: Mapping[str, int]) -> None:
        self.what = what
        self.ids = dict(ids)
        self._folded = {code.casefold(): code for code in ids}

    def find(self, code: str) -> tuple[int | None, str]:
        """The id for ``code``, or None and the reason it was not found."""
        found = self.ids.get(code)
        if found is not None:
            return found, ""
        reason = f"no {self.what} with code '{code}' in this brand"
        near = self._folded.get(code.casefold())
        if near is not None:
            reason += f" (did you mean '{near}'?)"
        return None, reason

    def find_in(
        self, row: CsvRow, column: str, errors: list[RowError], advice: str = ""
    ) -> int | None:
        """The id for the code in ``row[column]`` (None when empty); a miss adds a RowError."""
        code = row.get(column)
        if not code:
            return None
        found, reason = self.find(code)
        if found is None:
            errors.append(RowError(row.line, column, reason + advice))
        return found


def report_progress(progress: ProgressCallback | None, phase: str, done: int, total: int) -> None:
    """Call ``progress`` every 100 rows and at the end, not for every row."""
    if progress is not None and (done % 100 == 0 or done == total):
        progress(phase, done, total)


def chunked(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# ---------------------------------------------------------------- pydantic errors


def validation_errors(
    error: ValidationError,
    line: int,
    *,
    columns: Mapping[str, str] | None = None,
    reasons: Mapping[tuple[str, str], str] | None = None,
) -> list[RowError]:
    """Readable RowErrors from a schema's ValidationError.

    ``columns`` maps schema fields to CSV columns (``region_id`` -> ``region``); ``reasons``
    overrides pydantic's message for a (field, pydantic error type) pair, or for (field, "*").
    """
    columns = columns or {}
    reasons = reasons or {}
    found: list[RowError] = []
    for detail in error.errors(include_url=False):
        location = detail["loc"]
        field = str(location[0]) if location else ""
        kind = detail["type"]
        column = columns.get(field, field) or None
        if detail.get("input") == "":
            reason = "a value is required"
        else:
            reason = reasons.get((field, kind)) or reasons.get((field, "*")) or _readable(detail)
        found.append(RowError(line, column, reason))
    return found


def _readable(detail: Mapping[str, Any]) -> str:
    kind = detail["type"]
    if kind == "missing" or (kind == "string_too_short" and detail["ctx"]["min_length"] == 1):
        return "a value is required"
    if kind == "string_too_short":
        return f"is too short (at least {detail['ctx']['min_length']} characters)"
    if kind == "string_too_long":
        return f"is too long (at most {detail['ctx']['max_length']} characters)"
    message = str(detail["msg"])
    return message[0].lower() + message[1:] if message else kind
