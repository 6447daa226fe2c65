"""Importing POS orders from CSV: one line per row, the rows of one receipt grouped by order
number (they need not be adjacent), all-or-nothing, idempotent by order number.

Fields (see ``imports`` for the column mapping): ``order_number, store_code, placed_at,
sku_code, quantity`` and ``amount_yuan`` or ``amount_fen`` (the line's amount, e.g. 2 items at
99.00 -> 198.00) are required; ``pos_member_number``, ``phone`` and ``order_total`` optional.

- Returns are lines with a negative quantity and a negative amount, on the sale's receipt or
  on a return receipt of their own (a receipt of only such lines). A receipt's ``total_fen``
  is what it sold, its ``refunded_fen`` what it took back; offline GMV is their difference.
- ``order_total``, in the unit of the amounts, is checked against the sum of the receipt's
  lines when given (on one row of the receipt or on all of them, the same).
- The member is the one the POS member number names, else the one the phone names; neither
  known makes the receipt anonymous (offline GMV in no profile). Imports of orders never
  create members: import the POS member file first.
- A SKU code the catalog does not know is kept as printed with no SKU: not an error.
- A receipt whose order number was imported before is left exactly as it is (counted as
  unchanged), so importing the same file again changes nothing; if it was imported for
  another store the row is bad.

Each new receipt with a member updates the member's purchase summary once (the set-based form
of ``siyu.members.stats``): a receipt that nets a sale counts as an order of its net amount, a
return receipt takes its amount back from the spend, an even exchange changes nothing.

The file is checked with a handful of queries whatever its size, and receipts, lines and
summaries are written with one statement each.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    ColumnElement,
    DateTime,
    Integer,
    String,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeEngine

from siyu.access.rules import Actor
from siyu.catalog.models import Sku
from siyu.core.clock import utc_now
from siyu.core.csvfile import (
    CsvRow,
    CsvSource,
    ImportRejected,
    ProgressCallback,
    RowError,
    chunked,
    import_writes,
    report_progress,
)
from siyu.members.identity import IdentityKind
from siyu.members.lifecycle import refresh_lifecycle_stages
from siyu.members.models import Member
from siyu.offline import rules
from siyu.offline.events import OfflineOrdersImported
from siyu.offline.imports import (
    LOOKUP_CHUNK,
    PosField,
    PosFile,
    PosImportReport,
    StoreCodes,
    identity_owners,
    matches_any,
    mobile,
    moment_until,
    read_pos_file,
    record_import,
    require_pos_import,
    text_of,
)
from siyu.offline.locks import lock_pos_import
from siyu.offline.models import OfflineOrder, OfflineOrderLine
from siyu.offline.rules import ImportKind, SummaryChange
from siyu.outbox.service import record_event
from siyu.settlement.rules import format_yuan

POS = IdentityKind.POS_MEMBER_NUMBER.value
PHONE = IdentityKind.PHONE.value
AGREEING_FIELDS = ("store_code", "placed_at", "pos_member_number", "phone")


@dataclass(frozen=True)
class _Line:
    line: int
    sku_code: str
    quantity: int
    amount_fen: int


@dataclass
class _Receipt:
    number: str
    first_line: int
    store_id: int
    placed_at: datetime
    pos_number: str
    phone: str | None
    order_total: int | None
    lines: list[_Line] = field(default_factory=list)

    def agreeing(self) -> tuple[object, ...]:
        return (self.store_id, self.placed_at, self.pos_number, self.phone)

    def totals(self) -> rules.ReceiptTotals:
        return rules.receipt_totals([line.amount_fen for line in self.lines])


def import_pos_orders(
    session: Session,
    actor: Actor,
    source: CsvSource,
    *,
    mapping: Mapping[str, str] | None = None,
    file_name: str | None = None,
    progress: ProgressCallback | None = None,
) -> PosImportReport:
    """Import the POS receipts of ``source`` as offline orders (see the module's docstring).

    Needs ``import:run`` (or, for a franchisee owner or store manager, ``order:write``: rows
    of stores outside their scope are bad rows). Takes the brand's POS-orders import lock,
    then locks the members whose summaries change (id order). Side effects, when anything new
    was imported: the import record, its audit entry, one OfflineOrdersImported event, and the
    brand's lifecycle stages refreshed (``siyu.members.lifecycle``: MemberLifecycleChanged per
    member moved). Raises InvalidMapping, ImportRejected (every bad row, nothing written),
    ImportConflict. Does not commit.
    """
    require_pos_import(actor)
    pos = read_pos_file(ImportKind.POS_ORDERS, source, mapping or {})
    lock_pos_import(session, actor.brand_id, ImportKind.POS_ORDERS)
    stores = StoreCodes(session, actor)
    receipts, errors = _check(pos, stores, progress)
    previous = _imported_before(session, actor.brand_id, receipts)
    for number, store_id in previous.items():
        receipt = receipts[number]
        if receipt.store_id != store_id:
            errors.append(
                RowError(
                    receipt.first_line,
                    pos.column("order_number"),
                    f"order '{number}' was imported before for another store",
                )
            )
    if errors:
        raise ImportRejected(errors)
    new = [r for number, r in receipts.items() if number not in previous]
    report = PosImportReport(
        kind=ImportKind.POS_ORDERS.value,
        rows=len(pos.table.rows),
        created=len(new),
        updated=0,
        unchanged=len(previous),
    )
    if not new:
        return report
    skus = _skus(session, actor.brand_id, {line.sku_code for r in new for line in r.lines})
    owners = identity_owners(
        session,
        actor.brand_id,
        [(POS, r.pos_number) for r in new if r.pos_number]
        + [(PHONE, r.phone) for r in new if r.phone],
    )
    members = {r.number: _member_of(r, owners) for r in new}
    with import_writes("offline orders"):
        record = record_import(
            session,
            actor,
            pos,
            file_name=file_name,
            created=report.created,
            updated=0,
            unchanged=report.unchanged,
        )
        order_ids = _insert_orders(session, actor.brand_id, record.id, new, members)
        report_progress(progress, "writing", len(new), len(new))
        line_count = _insert_lines(session, actor.brand_id, new, order_ids, skus)
        member_ids = _update_summaries(session, actor.brand_id, new, members)
        if member_ids:
            # Buying moves lifecycle stages (new -> first purchase -> repeat ...) at once
            # rather than at the next daily refresh; set-based, for the whole brand.
            refresh_lifecycle_stages(session, brand_id=actor.brand_id)
        session.flush()
    record_event(
        session,
        actor.brand_id,
        OfflineOrdersImported(
            offline_import_id=record.id,
            orders=len(new),
            lines=line_count,
            net_fen=sum(r.totals().net_fen for r in new),
            store_ids=sorted({r.store_id for r in new}),
            member_ids=member_ids,
        ),
    )
    member_orders = sum(1 for r in new if members[r.number] is not None)
    return replace(
        report,
        import_id=record.id,
        lines=line_count,
        member_orders=member_orders,
        anonymous_orders=len(new) - member_orders,
        unknown_sku_lines=sum(1 for r in new for x in r.lines if x.sku_code not in skus),
    )


# ---------------------------------------------------------------- checking


def _check(
    pos: PosFile, stores: StoreCodes, progress: ProgressCallback | None
) -> tuple[dict[str, _Receipt], list[RowError]]:
    """Every row read and grouped into receipts; every problem of every row."""
    receipts: dict[str, _Receipt] = {}
    errors: list[RowError] = []
    latest = utc_now() + rules.FUTURE_TOLERANCE
    in_yuan = pos.gives("amount_yuan")
    parse_amount = rules.parse_yuan if in_yuan else rules.parse_fen

    order_number = PosField(pos, "order_number", text_of(rules.MAX_NUMBER_LENGTH), required=True)
    sku_code = PosField(pos, "sku_code", text_of(rules.MAX_NUMBER_LENGTH), required=True)
    pos_number = PosField(pos, "pos_member_number", text_of(rules.MAX_NUMBER_LENGTH))
    store_id = PosField(pos, "store_code", stores.id_of, required=True)
    placed_at = PosField(pos, "placed_at", moment_until(latest), required=True)
    phone = PosField(pos, "phone", mobile)
    quantity = PosField(pos, "quantity", rules.parse_quantity, required=True)
    amount = PosField(pos, "amount_yuan" if in_yuan else "amount_fen", parse_amount, required=True)
    order_total = PosField(pos, "order_total", parse_amount)
    total = len(pos.table.rows)
    for done, row in enumerate(pos.table.rows, start=1):
        row_errors: list[RowError] = []
        number = order_number.read(row, row_errors)
        sku = sku_code.read(row, row_errors)
        card = pos_number.read(row, row_errors) or ""
        shop = store_id.read(row, row_errors)
        moment = placed_at.read(row, row_errors)
        phone_number = phone.read(row, row_errors)
        count = quantity.read(row, row_errors)
        fen = amount.read(row, row_errors)
        stated = order_total.read(row, row_errors)
        if count is not None and fen is not None:
            problem = rules.amount_problem(count, fen)
            if problem:
                row_errors.append(RowError(row.line, amount.column, problem))
        if row_errors:
            errors.extend(row_errors)
            report_progress(progress, "checking", done, total)
            continue
        assert number is not None and sku is not None and shop is not None
        assert moment is not None and count is not None and fen is not None
        receipt = receipts.get(number)
        if receipt is None:
            receipt = receipts[number] = _Receipt(
                number, row.line, shop, moment, card, phone_number, stated
            )
            disagreements: list[RowError] = []
        else:
            disagreements = _disagreements(
                pos, row, receipt, (shop, moment, card, phone_number), stated
            )
        if disagreements:
            errors.extend(disagreements)
        else:
            receipt.lines.append(_Line(row.line, sku, count, fen))
        report_progress(progress, "checking", done, total)
    for receipt in receipts.values():
        if receipt.order_total is None:
            continue
        lines_sum = sum(line.amount_fen for line in receipt.lines)
        if lines_sum != receipt.order_total:
            shown = partial(format_yuan, grouping=False) if in_yuan else str
            errors.append(
                RowError(
                    receipt.first_line,
                    order_total.column,
                    f"the lines of order '{receipt.number}' add up to {shown(lines_sum)}, "
                    f"not {shown(receipt.order_total)}",
                )
            )
    return receipts, errors


def _disagreements(
    pos: PosFile,
    row: CsvRow,
    receipt: _Receipt,
    values: tuple[object, ...],
    order_total: int | None,
) -> list[RowError]:
    found = [
        name
        for name, mine, theirs in zip(AGREEING_FIELDS, values, receipt.agreeing(), strict=True)
        if mine != theirs
    ]
    if order_total is not None:
        if receipt.order_total is None:
            receipt.order_total = order_total
        elif order_total != receipt.order_total:
            found.append("order_total")
    return [
        RowError(
            row.line,
            pos.column(name),
            f"differs from line {receipt.first_line} for order '{receipt.number}'; the rows "
            "of one order must agree",
        )
        for name in found
    ]


# ---------------------------------------------------------------- looking up


def _imported_before(
    session: Session, brand_id: int, receipts: Mapping[str, _Receipt]
) -> dict[str, int]:
    """Order number -> store of the file's receipts imported before."""
    found: dict[str, int] = {}
    for chunk in chunked(sorted(receipts), LOOKUP_CHUNK):
        rows = session.execute(
            select(OfflineOrder.order_number, OfflineOrder.store_id).where(
                OfflineOrder.brand_id == brand_id,
                matches_any(OfflineOrder.order_number, chunk, String()),
            )
        )
        found.update((number, store_id) for number, store_id in rows)
    return found


def _skus(session: Session, brand_id: int, codes: set[str]) -> dict[str, tuple[int, int]]:
    """SKU code -> (sku id, product id) for the codes the catalog knows."""
    found: dict[str, tuple[int, int]] = {}
    for chunk in chunked(sorted(codes), LOOKUP_CHUNK):
        rows = session.execute(
            select(Sku.code, Sku.id, Sku.product_id).where(
                Sku.brand_id == brand_id, matches_any(Sku.code, chunk, String())
            )
        )
        found.update((code, (sku_id, product_id)) for code, sku_id, product_id in rows)
    return found


def _member_of(receipt: _Receipt, owners: Mapping[tuple[str, str], int]) -> int | None:
    if receipt.pos_number and (POS, receipt.pos_number) in owners:
        return owners[(POS, receipt.pos_number)]
    if receipt.phone and (PHONE, receipt.phone) in owners:
        return owners[(PHONE, receipt.phone)]
    return None


# ---------------------------------------------------------------- writing


def _array(values: Sequence[object], item_type: TypeEngine[Any]) -> ColumnElement[Any]:
    return literal(list(values), ARRAY(item_type))


def _insert_orders(
    session: Session,
    brand_id: int,
    import_id: int,
    receipts: list[_Receipt],
    members: Mapping[str, int | None],
) -> dict[str, int]:
    """All receipts in one INSERT .. SELECT FROM unnest(arrays); order number -> new id."""
    totals = [r.totals() for r in receipts]
    rows = (
        func.unnest(
            _array([r.number for r in receipts], String()),
            _array([r.store_id for r in receipts], BigInteger()),
            _array([members[r.number] for r in receipts], BigInteger()),
            _array([r.placed_at for r in receipts], DateTime(timezone=True)),
            _array([t.total_fen for t in totals], BigInteger()),
            _array([t.refunded_fen for t in totals], BigInteger()),
        )
        .table_valued("number", "store_id", "member_id", "placed_at", "total_fen", "refunded_fen")
        .render_derived(name="receipt")
    )
    statement = (
        insert(OfflineOrder)
        .from_select(
            [
                "brand_id",
                "order_number",
                "store_id",
                "member_id",
                "placed_at",
                "total_fen",
                "refunded_fen",
                "import_id",
            ],
            select(
                literal(brand_id, BigInteger()),
                rows.c.number,
                rows.c.store_id,
                rows.c.member_id,
                rows.c.placed_at,
                rows.c.total_fen,
                rows.c.refunded_fen,
                literal(import_id, BigInteger()),
            ),
        )
        .returning(OfflineOrder.order_number, OfflineOrder.id)
    )
    return {number: order_id for number, order_id in session.execute(statement)}


def _insert_lines(
    session: Session,
    brand_id: int,
    receipts: list[_Receipt],
    order_ids: Mapping[str, int],
    skus: Mapping[str, tuple[int, int]],
) -> int:
    lines = [(order_ids[r.number], line) for r in receipts for line in r.lines]
    known = [skus.get(line.sku_code) for _, line in lines]
    rows = (
        func.unnest(
            _array([order_id for order_id, _ in lines], BigInteger()),
            _array([k[0] if k else None for k in known], BigInteger()),
            _array([line.sku_code for _, line in lines], String()),
            _array([k[1] if k else None for k in known], BigInteger()),
            _array([line.quantity for _, line in lines], Integer()),
            _array([line.amount_fen for _, line in lines], BigInteger()),
        )
        .table_valued("order_id", "sku_id", "sku_code", "product_id", "quantity", "amount_fen")
        .render_derived(name="line")
    )
    session.execute(
        insert(OfflineOrderLine).from_select(
            [
                "brand_id",
                "offline_order_id",
                "sku_id",
                "sku_code",
                "product_id",
                "quantity",
                "amount_fen",
            ],
            select(
                literal(brand_id, BigInteger()),
                rows.c.order_id,
                rows.c.sku_id,
                rows.c.sku_code,
                rows.c.product_id,
                rows.c.quantity,
                rows.c.amount_fen,
            ),
        )
    )
    return len(lines)


def _update_summaries(
    session: Session,
    brand_id: int,
    receipts: list[_Receipt],
    members: Mapping[str, int | None],
) -> list[int]:
    """Count each new receipt once in its member's purchase summary; the members whose summary
    changed, sorted.

    The set-based form of ``siyu.members.stats.record_purchase`` (a receipt that nets a sale)
    and ``record_refund(whole_order=False)`` (a return receipt): the member rows are locked in
    id order (the members domain's lock order), then changed by one UPDATE from the per-member
    sums. One statement instead of one per receipt is what keeps 100,000 rows well under a
    minute. Spend never goes below zero (as record_refund), clamped once per import.
    """
    sums: dict[int, _MemberSums] = {}
    for receipt in receipts:
        member_id = members[receipt.number]
        if member_id is None:
            continue
        change, amount = rules.summary_change(receipt.totals())
        if change is SummaryChange.NOTHING:
            continue
        found = sums.setdefault(member_id, _MemberSums())
        if change is SummaryChange.PURCHASE:
            found.add_purchase(amount, receipt.placed_at)
        else:
            found.returned_fen += amount
    changed = sorted(sums)
    if not changed:
        return []
    for chunk in chunked(changed, LOOKUP_CHUNK):
        session.execute(
            select(Member.id)
            .where(Member.brand_id == brand_id, matches_any(Member.id, chunk, BigInteger()))
            .order_by(Member.id)
            .with_for_update()
        )
    at = DateTime(timezone=True)
    source = (
        func.unnest(
            _array(changed, BigInteger()),
            _array([sums[m].orders for m in changed], BigInteger()),
            _array([sums[m].spent_fen - sums[m].returned_fen for m in changed], BigInteger()),
            _array([sums[m].first_at for m in changed], at),
            _array([sums[m].last_at for m in changed], at),
        )
        .table_valued("member_id", "orders", "spent_fen", "first_at", "last_at")
        .render_derived(name="purchase")
    )
    first_at, last_at = source.c.first_at, source.c.last_at
    session.execute(
        update(Member)
        .where(Member.brand_id == brand_id, Member.id == source.c.member_id)
        .values(
            order_count=Member.order_count + source.c.orders,
            total_spent_fen=func.greatest(Member.total_spent_fen + source.c.spent_fen, 0),
            # least/greatest skip NULLs: a member's first purchase sets both.
            first_order_at=func.least(Member.first_order_at, first_at),
            last_order_at=func.greatest(Member.last_order_at, last_at),
        )
        .execution_options(synchronize_session=False)
    )
    return changed


@dataclass
class _MemberSums:
    orders: int = 0
    spent_fen: int = 0
    returned_fen: int = 0
    first_at: datetime | None = None
    last_at: datetime | None = None

    def add_purchase(self, amount_fen: int, at: datetime) -> None:
        self.orders += 1
        self.spent_fen += amount_fen
        self.first_at = at if self.first_at is None else min(self.first_at, at)
        self.last_at = at if self.last_at is None else max(self.last_at, at)
