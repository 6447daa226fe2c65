"""Pure rules of offline data: column mappings of POS files, reading their cells, what an
imported receipt does to a member's purchase summary, who may import, and the private-domain
share. No I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from siyu.access.rules import Actor, ActorKind, Permission, ScopeKind
from siyu.core.clock import SHANGHAI

MAX_QUANTITY = 100_000
MAX_AMOUNT_FEN = 10**12
MAX_NUMBER_LENGTH = 64
MAX_NAME_LENGTH = 100
# A till's clock may run a little fast; a receipt further in the future is a typo.
FUTURE_TOLERANCE = timedelta(days=1)
SHARE_PLACES = Decimal("0.0001")


class OfflineRuleError(ValueError):
    """A cell that cannot be read; the message is the reason shown for the row."""


class ImportKind(StrEnum):
    POS_MEMBERS = "pos_members"
    POS_ORDERS = "pos_orders"


@dataclass(frozen=True)
class FileShape:
    """The fields a kind of POS file can give, which must be given, and the groups of which
    at least one (``any_of``) or exactly one (``one_of``) must be given."""

    fields: tuple[str, ...]
    required: tuple[str, ...] = ()
    any_of: tuple[tuple[str, ...], ...] = ()
    one_of: tuple[tuple[str, ...], ...] = ()


SHAPES: dict[ImportKind, FileShape] = {
    ImportKind.POS_MEMBERS: FileShape(
        fields=(
            "pos_member_number",
            "phone",
            "name",
            "gender",
            "birthday",
            "store_code",
            "joined_at",
        ),
        any_of=(("pos_member_number", "phone"),),
    ),
    ImportKind.POS_ORDERS: FileShape(
        fields=(
            "order_number",
            "store_code",
            "placed_at",
            "pos_member_number",
            "phone",
            "sku_code",
            "quantity",
            "amount_yuan",
            "amount_fen",
            "order_total",
        ),
        required=("order_number", "store_code", "placed_at", "sku_code", "quantity"),
        one_of=(("amount_yuan", "amount_fen"),),
    ),
}


class MappingProblem(ValueError):
    """The mapping itself is wrong (whatever the file): ``reasons`` lists every problem."""

    def __init__(self, reasons: Sequence[str]) -> None:
        self.reasons = list(reasons)
        super().__init__("; ".join(self.reasons))


def column_key(name: str) -> str:
    """How a column name is compared: stripped and case-folded, as ``core.csvfile`` does."""
    return name.strip().lower()


def check_mapping(kind: ImportKind, mapping: Mapping[str, str]) -> dict[str, str]:
    """The mapping ``{file column: field}`` as ``{field: column key}``.

    Raises MappingProblem naming every unknown field, field given by two columns, empty column
    name, and a pair of fields of which only one may be given (amount_yuan / amount_fen).
    """
    shape = SHAPES[kind]
    reasons: list[str] = []
    columns_of: dict[str, str] = {}
    for column, field in mapping.items():
        key = column_key(column)
        name = field.strip()
        if not key:
            reasons.append(f"a column name is empty (mapped to '{name}')")
        elif name not in shape.fields:
            reasons.append(
                f"unknown field '{name}' (for column '{column}'); the fields are: "
                + ", ".join(shape.fields)
            )
        elif name in columns_of:
            reasons.append(
                f"the field '{name}' is given by two columns ('{columns_of[name]}' and '{key}')"
            )
        else:
            columns_of[name] = key
    for group in shape.one_of:
        given = [f for f in group if f in columns_of]
        if len(given) > 1:
            reasons.append(f"map only one of {' or '.join(group)}, not {' and '.join(given)}")
    if reasons:
        raise MappingProblem(reasons)
    return columns_of


def resolve_columns(
    kind: ImportKind, columns_of: Mapping[str, str], header: Sequence[str]
) -> tuple[dict[str, str], list[str]]:
    """Which column of ``header`` (column keys) gives each field, and the problems.

    A field the mapping leaves out is read from a column of its own name, if the file has one
    that the mapping does not use for another field. Problems: a mapped column missing from
    the file, a required field no column gives, a group no column gives, two columns for a
    ``one_of`` group.
    """
    shape = SHAPES[kind]
    present = set(header)
    problems: list[str] = []
    resolved: dict[str, str] = {}
    for field, column in columns_of.items():
        if column in present:
            resolved[field] = column
        else:
            problems.append(f"the column '{column}' (mapped to {field}) is not in the file")
    used = set(columns_of.values())
    explicit = set(columns_of)
    for field in shape.fields:
        if field not in explicit and field in present and field not in used:
            resolved[field] = field
    for group in shape.one_of:
        given = [f for f in group if f in resolved]
        if len(given) > 1:
            implicit = [f for f in given if f not in explicit]
            if len(implicit) < len(given):
                for field in implicit:
                    del resolved[field]
            else:
                problems.append(f"the file has columns {' and '.join(given)}; map the one to use")
    for field in shape.required:
        if field not in resolved and field not in columns_of:
            problems.append(
                f"no column gives the required field {field}; name it in the mapping "
                f"(file column={field})"
            )
    for group in (*shape.any_of, *shape.one_of):
        if not any(f in resolved or f in columns_of for f in group):
            problems.append(f"no column gives {' or '.join(group)}; map at least one")
    return resolved, problems


# ---------------------------------------------------------------- cells

_MOMENT = re.compile(
    r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})"
    r"(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?$"
)
_COMPACT_DAY = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_YUAN = re.compile(r"^([+-])?(\d{1,10})(?:\.(\d{1,2}))?$")
_WHOLE = re.compile(r"^[+-]?\d{1,13}$")


def parse_moment(text: str) -> datetime:
    """``2026-11-03 14:22:05``, ``2026/11/3 9:05``, ``2026-11-03`` (midnight) or ISO 8601 with
    an offset -> an aware UTC time. Times without an offset are Asia/Shanghai's."""
    value = text.strip()
    match = _MOMENT.match(value)
    if not match:
        raise OfflineRuleError(f"'{value}' is not a time like 2026-11-03 14:22:05")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    try:
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((fraction or "0").ljust(6, "0")),
        )
    except ValueError as error:
        raise OfflineRuleError(f"'{value}' is not a real date and time") from error
    if offset is None:
        return moment.replace(tzinfo=SHANGHAI).astimezone(UTC)
    if offset == "Z":
        return moment.replace(tzinfo=UTC)
    sign = -1 if offset[0] == "-" else 1
    digits = offset[1:].replace(":", "")
    delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return (moment - sign * delta).replace(tzinfo=UTC)


def parse_day(text: str) -> date:
    """``1990-05-17``, ``1990/5/17`` or ``19900517`` -> a date."""
    value = text.strip()
    compact = _COMPACT_DAY.match(value)
    match = compact or _MOMENT.match(value)
    if not match or (not compact and match.group(4) is not None):
        raise OfflineRuleError(f"'{value}' is not a date like 1990-05-17")
    try:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError as error:
        raise OfflineRuleError(f"'{value}' is not a real date") from error


def check_birthday(day: date, today: date) -> None:
    if day.year < 1900 or day > today:
        raise OfflineRuleError(f"{day.isoformat()} is not a plausible birthday")


GENDERS = {
    "男": "male",
    "m": "male",
    "male": "male",
    "1": "male",
    "女": "female",
    "f": "female",
    "female": "female",
    "2": "female",
}


def parse_gender(text: str) -> str:
    found = GENDERS.get(text.strip().lower())
    if found is None:
        raise OfflineRuleError("must be 男/女, M/F, male/female or 1/2 (or left empty)")
    return found


def parse_quantity(text: str) -> int:
    """A whole number of items, never 0; negative for a returned item."""
    value = text.strip()
    if not _WHOLE.match(value):
        raise OfflineRuleError(f"'{value}' is not a whole number of items")
    quantity = int(value)
    if quantity == 0 or abs(quantity) > MAX_QUANTITY:
        raise OfflineRuleError(
            f"must be between 1 and {MAX_QUANTITY:,} items (negative for a return), not 0"
            if quantity == 0
            else f"must be at most {MAX_QUANTITY:,} items either way"
        )
    return quantity


def parse_yuan(text: str) -> int:
    """``199.00`` / ``-59.9`` / ``20`` yuan -> fen (signed). No thousands separators."""
    value = text.strip()
    match = _YUAN.match(value)
    if not match:
        raise OfflineRuleError(f"'{value}' is not an amount in yuan like 199.00 or -59.90")
    sign, whole, decimals = match.groups()
    fen = int(whole) * 100 + int((decimals or "").ljust(2, "0"))
    return -fen if sign == "-" else fen


def parse_fen(text: str) -> int:
    """A signed whole number of fen."""
    value = text.strip()
    if not _WHOLE.match(value):
        raise OfflineRuleError(f"'{value}' is not a whole number of fen like 19900")
    fen = int(value)
    if abs(fen) > MAX_AMOUNT_FEN:
        raise OfflineRuleError("is too large")
    return fen


def amount_problem(quantity: int, amount_fen: int) -> str | None:
    """Why a line's amount does not fit its quantity: a sale is never negative, a return
    (negative quantity) never positive."""
    if quantity > 0 and amount_fen < 0:
        return "a sold item (positive quantity) cannot have a negative amount"
    if quantity < 0 and amount_fen > 0:
        return "a returned item (negative quantity) needs a negative amount"
    return None


# ---------------------------------------------------------------- receipts and members


@dataclass(frozen=True)
class ReceiptTotals:
    """What one receipt sold (``total_fen``) and took back (``refunded_fen``)."""

    total_fen: int
    refunded_fen: int

    @property
    def net_fen(self) -> int:
        return self.total_fen - self.refunded_fen


def receipt_totals(amounts_fen: Sequence[int]) -> ReceiptTotals:
    return ReceiptTotals(
        total_fen=sum(a for a in amounts_fen if a > 0),
        refunded_fen=-sum(a for a in amounts_fen if a < 0),
    )


class SummaryChange(StrEnum):
    """What an imported receipt does to its member's purchase summary."""

    PURCHASE = "purchase"  # one more order, spend + net
    RETURN = "return"  # spend - net returned, no order counted
    NOTHING = "nothing"  # an even exchange


def summary_change(totals: ReceiptTotals) -> tuple[SummaryChange, int]:
    """A receipt that nets a sale counts as one order of its net amount; one that nets a
    return (a return receipt) takes that much spend back without counting an order; an even
    exchange changes nothing."""
    if totals.net_fen > 0:
        return SummaryChange.PURCHASE, totals.net_fen
    if totals.net_fen < 0:
        return SummaryChange.RETURN, -totals.net_fen
    return SummaryChange.NOTHING, 0


def may_import_pos(actor: Actor) -> bool:
    """POS files may be imported by whoever runs imports (HQ, integrations, the CLI) and by the
    staff who sell at the stores: a franchisee owner or store manager with ``order:write``,
    for the stores of their scope only (their rows for other stores are bad rows)."""
    if actor.can(Permission.IMPORT_RUN):
        return True
    return (
        actor.kind is ActorKind.STAFF
        and actor.scope in (ScopeKind.FRANCHISEE, ScopeKind.STORE)
        and actor.can(Permission.ORDER_WRITE)
    )


# ---------------------------------------------------------------- the private-domain share


@dataclass(frozen=True)
class Share:
    """Private-domain share (私域 GMV 占比) = private-domain GMV / all GMV including offline.

    Private-domain GMV is what online orders (the mall and cloud stores) took, net of refunds;
    all GMV adds the offline (POS) orders' net amounts. ``share`` is exact to 4 decimals and
    ``share_permille`` to a whole permille, both rounded half up; both are None when there is
    no GMV at all (or offline returns outweigh every sale).
    """

    online_gmv_fen: int
    offline_gmv_fen: int
    share: Decimal | None
    share_permille: int | None

    @property
    def all_gmv_fen(self) -> int:
        return self.online_gmv_fen + self.offline_gmv_fen


def private_domain_share(online_gmv_fen: int, offline_gmv_fen: int) -> Share:
    total = online_gmv_fen + offline_gmv_fen
    if total <= 0:
        return Share(online_gmv_fen, offline_gmv_fen, None, None)
    share = (Decimal(online_gmv_fen) / Decimal(total)).quantize(SHARE_PLACES, ROUND_HALF_UP)
    permille = (Decimal(online_gmv_fen * 1000) / Decimal(total)).quantize(Decimal(1), ROUND_HALF_UP)
    return Share(online_gmv_fen, offline_gmv_fen, share, int(permille))


# ---------------------------------------------------------------- mappings as people write them


def mapping_from_json(text: str) -> dict[str, str]:
    """A mapping sent as JSON, ``{"file column": "field", ...}``; empty text is no mapping."""
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except ValueError as error:
        raise MappingProblem([f"the mapping is not valid JSON ({error})"]) from error
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise MappingProblem(['the mapping must be a JSON object {"file column": "field", ...}'])
    return value


def mapping_from_pairs(pairs: Sequence[str]) -> dict[str, str]:
    """A mapping given as ``COLUMN=FIELD`` pairs (the CLI's ``--map``); the last ``=``
    separates them, so a column name may itself contain one."""
    mapping: dict[str, str] = {}
    reasons: list[str] = []
    for pair in pairs:
        column, equals, field = pair.rpartition("=")
        if not equals or not column.strip() or not field.strip():
            reasons.append(f"'{pair}' is not COLUMN=FIELD (e.g. 会员卡号=pos_member_number)")
        elif column_key(column) in {column_key(c) for c in mapping}:
            reasons.append(f"the column '{column.strip()}' is mapped twice")
        else:
            mapping[column.strip()] = field.strip()
    if reasons:
        raise MappingProblem(reasons)
    return mapping
