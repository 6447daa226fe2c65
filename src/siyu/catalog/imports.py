"""Importing the catalog from CSV: one row per SKU, all-or-nothing, idempotent by code.

Columns: ``category, product_code, product_name, sku_code, list_price`` (required) and
``attributes, barcode, exclusive_channel, status, max_per_order, images, product_status``.

- ``category`` is a category code that must already exist (imports never create categories);
- ``list_price`` is in yuan with at most 2 decimals (``199.00`` -> 19900 fen);
- ``attributes`` are ``name=value`` pairs separated by ``;`` (``colour=red;size=M``);
- ``images`` are http(s) URLs separated by ``|``; they belong to the product;
- ``status`` is the SKU's (active | inactive), ``product_status`` the product's (draft |
  active | archived); ``exclusive_channel`` marks a channel-exclusive item (专供款), e.g.
  ``mini_program``.

The product's columns (product_name, category, exclusive_channel, images, product_status) must
agree on every row of one product. For each column present in the file the file is the truth:
an empty cell clears an optional value (attributes, barcode, exclusive channel, images). An
empty ``status``, ``product_status`` or ``max_per_order`` keeps an existing value (new rows get
active, active and 99). A column absent from the file leaves existing values alone. A SKU never
moves to another product.

The whole file is checked before anything is written, with three queries whatever its size
(categories; products and SKUs by code, locked); then new and changed products and SKUs are
written in batches, audited and published exactly as ``catalog.service`` does. Unchanged rows
write nothing, so importing the same file twice changes nothing the second time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.access.rules import Actor, Permission
from siyu.catalog.locks import lock_products_by_code, lock_skus_by_code
from siyu.catalog.models import Category, Product, ProductStatus, Sku, SkuStatus
from siyu.catalog.rules import (
    CatalogRuleError,
    is_valid_channel,
    parse_attributes,
    parse_images,
    parse_price_yuan,
)
from siyu.catalog.schemas import Code, Name, SkuCreate
from siyu.catalog.service import (
    publish_product_changed,
    publish_product_created,
    publish_sku_changed,
    publish_sku_created,
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
from siyu.core.snapshot import row_snapshot

REQUIRED_COLUMNS = ("category", "product_code", "product_name", "sku_code", "list_price")
OPTIONAL_COLUMNS = (
    "attributes",
    "barcode",
    "exclusive_channel",
    "status",
    "max_per_order",
    "images",
    "product_status",
)
PRODUCT_COLUMNS = ("product_name", "category", "exclusive_channel", "images", "product_status")
CODE_REASON = (
    "is not a valid code: 1-32 letters, digits, '_', '.' or '-', starting with a letter or digit"
)
REASONS = {
    ("code", "string_pattern_mismatch"): CODE_REASON,
    ("code", "string_too_long"): "is not a valid code: at most 32 characters",
    ("status", "enum"): "must be 'active' or 'inactive'",
    ("max_per_order", "*"): "must be a whole number above 0",
    ("barcode", "string_too_long"): "is too long (at most 64 characters)",
    ("attributes", "*"): "names at most 50 and values at most 100 characters",
}
COLUMN_OF_FIELD = {"code": "sku_code", "list_price_fen": "list_price"}
BATCH = 1000
CODE: TypeAdapter[str] = TypeAdapter(Code)
NAME: TypeAdapter[str] = TypeAdapter(Name)
LOOKUP_CHUNK = 5000


@dataclass
class _ProductPlan:
    line: int
    code: str
    values: dict[str, Any]
    existing: Product | None = None
    changes: dict[str, Any] = field(default_factory=dict)
    row: Product | None = None


@dataclass
class _SkuPlan:
    line: int
    product_code: str
    values: dict[str, Any]
    existing: Sku | None = None
    changes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Lookups:
    categories: CodeLookup
    products: dict[str, Product]
    skus: dict[str, Sku]
    product_codes: dict[int, str]


def import_products(
    session: Session,
    actor: Actor,
    source: CsvSource,
    *,
    progress: ProgressCallback | None = None,
) -> ImportReport:
    """Create or update the products and SKUs of ``source`` (CSV bytes or text, or parsed
    rows). The report counts SKU rows: created, updated (the SKU or its product changed),
    unchanged.

    Needs ``import:run`` and ``catalog:write``. Locks the file's existing products, then its
    existing SKUs (the catalog's order). Raises ImportRejected listing every bad row, with
    nothing written; ImportConflict if the same codes were created meanwhile. Does not commit.
    """
    actor.require(Permission.IMPORT_RUN)
    actor.require(Permission.CATALOG_WRITE)
    table = read_csv(source, required=REQUIRED_COLUMNS, optional=OPTIONAL_COLUMNS)
    lookups = _prefetch(session, actor.brand_id, table)
    products, skus = _validate(table, lookups, progress)
    changed_products = {p.code for p in products.values() if p.existing is None or p.changes}
    with import_writes("products or SKUs"):
        _write_products(session, actor, products, progress)
        created, updated = _write_skus(session, actor, skus, products, progress)
        session.flush()
    updated += sum(
        1
        for plan in skus
        if plan.existing is not None and not plan.changes and plan.product_code in changed_products
    )
    return ImportReport(created=created, updated=updated, unchanged=len(skus) - created - updated)


# ---------------------------------------------------------------- checking


def _prefetch(session: Session, brand_id: int, table: CsvTable) -> _Lookups:
    """Categories, and the file's existing products and SKUs by code (locked, products
    first): three queries for a file of up to 5,000 codes, one more per 5,000 after."""
    categories = session.execute(
        select(Category.code, Category.id).where(Category.brand_id == brand_id)
    )
    product_codes = sorted({row.get("product_code") for row in table.rows} - {""})
    sku_codes = sorted({row.get("sku_code") for row in table.rows} - {""})
    products = [
        p
        for chunk in chunked(product_codes, LOOKUP_CHUNK)
        for p in lock_products_by_code(session, brand_id, chunk)
    ]
    skus = [
        s
        for chunk in chunked(sku_codes, LOOKUP_CHUNK)
        for s in lock_skus_by_code(session, brand_id, chunk)
    ]
    known = {p.id: p.code for p in products}
    elsewhere = {s.product_id for s in skus} - known.keys()
    if elsewhere:
        known.update(
            (id_, code)
            for id_, code in session.execute(
                select(Product.id, Product.code).where(
                    Product.brand_id == brand_id, Product.id.in_(elsewhere)
                )
            )
        )
    return _Lookups(
        categories=CodeLookup("category", {code: id_ for code, id_ in categories}),
        products={p.code: p for p in products},
        skus={s.code: s for s in skus},
        product_codes=known,
    )


def _validate(
    table: CsvTable, lookups: _Lookups, progress: ProgressCallback | None
) -> tuple[dict[str, _ProductPlan], list[_SkuPlan]]:
    products: dict[str, _ProductPlan] = {}
    product_cells: dict[str, tuple[int, dict[str, str]]] = {}
    skus: list[_SkuPlan] = []
    errors: list[RowError] = []
    sku_lines: dict[str, int] = {}
    total = len(table.rows)
    for done, row in enumerate(table.rows, start=1):
        row_errors: list[RowError] = []
        product = _check_product_columns(table, row, lookups, row_errors)
        sku = _check_sku_columns(table, row, lookups, row_errors)
        code = row.get("sku_code")
        if code in sku_lines:
            row_errors.append(
                RowError(
                    row.line,
                    "sku_code",
                    f"the SKU code '{code}' appears twice in the file (also on line "
                    f"{sku_lines[code]})",
                )
            )
        elif code:
            sku_lines[code] = row.line
        product_code = row.get("product_code")
        cells = {column: row.get(column) for column in PRODUCT_COLUMNS}
        if product_code in product_cells:
            first_line, first_cells = product_cells[product_code]
            for column in PRODUCT_COLUMNS:
                if table.has(column) and cells[column] != first_cells[column]:
                    row_errors.append(
                        RowError(
                            row.line,
                            column,
                            f"differs from line {first_line} for product '{product_code}'; "
                            "the rows of one product must agree",
                        )
                    )
        elif product_code:
            product_cells[product_code] = (row.line, cells)
        if sku is not None and sku.existing is not None:
            owner = lookups.product_codes.get(sku.existing.product_id)
            if owner != product_code:
                row_errors.append(
                    RowError(
                        row.line,
                        "product_code",
                        f"the SKU '{code}' belongs to product '{owner}'; a SKU cannot move "
                        "to another product",
                    )
                )
        if row_errors:
            errors.extend(row_errors)
        elif product is not None and sku is not None:
            products.setdefault(product.code, product)
            skus.append(sku)
        report_progress(progress, "checking", done, total)
    if errors:
        raise ImportRejected(errors)
    return products, skus


def _check_product_columns(
    table: CsvTable, row: CsvRow, lookups: _Lookups, errors: list[RowError]
) -> _ProductPlan | None:
    line = row.line
    before = len(errors)
    code = _plain(row, "product_code", CODE, errors)
    name = _plain(row, "product_name", NAME, errors)
    category_id = lookups.categories.find_in(
        row, "category", errors, "; create the category first (imports do not create categories)"
    )
    if not row.get("category"):
        errors.append(RowError(line, "category", "a value is required"))
    channel = row.get("exclusive_channel") or None
    if channel is not None and not is_valid_channel(channel):
        errors.append(
            RowError(
                line,
                "exclusive_channel",
                "is not a channel name: lower-case letters, digits and '_', e.g. mini_program",
            )
        )
    images: list[str] = []
    try:
        images = parse_images(row.get("images"))
    except CatalogRuleError as error:
        errors.append(RowError(line, "images", str(error)))
    status = row.get("product_status").lower()
    if status and status not in {s.value for s in ProductStatus}:
        errors.append(RowError(line, "product_status", "must be one of draft, active, archived"))
    if len(errors) > before or code is None or name is None or category_id is None:
        return None
    existing = lookups.products.get(code)
    values: dict[str, Any] = {"code": code, "name": name, "category_id": category_id}
    if existing is None:
        values.update(
            description="", images=[], status=ProductStatus.ACTIVE.value, exclusive_channel=None
        )
    if table.has("images"):
        values["images"] = images
    if table.has("exclusive_channel"):
        values["exclusive_channel"] = channel
    if status:
        values["status"] = status
    plan = _ProductPlan(line, code, values, existing)
    if existing is not None:
        plan.changes = {k: v for k, v in values.items() if getattr(existing, k) != v}
    return plan


def _plain(row: CsvRow, column: str, kind: Any, errors: list[RowError]) -> Any:
    """One validated cell of a plain type (code, name), or None and a RowError."""
    try:
        return kind.validate_python(row.get(column))
    except ValidationError as error:
        found = validation_errors(
            error, row.line, reasons={("", "string_pattern_mismatch"): CODE_REASON}
        )
        errors.extend(RowError(row.line, column, e.reason) for e in found)
        return None


def _check_sku_columns(
    table: CsvTable, row: CsvRow, lookups: _Lookups, errors: list[RowError]
) -> _SkuPlan | None:
    line = row.line
    before = len(errors)
    data: dict[str, Any] = {"code": row.get("sku_code"), "list_price_fen": 0}
    try:
        data["list_price_fen"] = parse_price_yuan(row.get("list_price"))
    except CatalogRuleError as error:
        reason = "a value is required" if not row.get("list_price") else str(error)
        errors.append(RowError(line, "list_price", reason))
    try:
        data["attributes"] = parse_attributes(row.get("attributes"))
    except CatalogRuleError as error:
        errors.append(RowError(line, "attributes", str(error)))
    if row.get("barcode"):
        data["barcode"] = row.get("barcode")
    if row.get("status"):
        data["status"] = row.get("status").lower()
    if row.get("max_per_order"):
        text = row.get("max_per_order")
        data["max_per_order"] = int(text) if text.isdigit() else text
    try:
        sku = SkuCreate.model_validate(data)
    except ValidationError as error:
        errors.extend(validation_errors(error, line, columns=COLUMN_OF_FIELD, reasons=REASONS))
        return None
    if len(errors) > before:
        return None
    existing = lookups.skus.get(sku.code)
    values: dict[str, Any] = {"code": sku.code, "list_price_fen": sku.list_price_fen}
    if existing is None:
        values.update(attributes={}, barcode=None, status=SkuStatus.ACTIVE.value, max_per_order=99)
    if table.has("attributes"):
        values["attributes"] = sku.attributes
    if table.has("barcode"):
        values["barcode"] = sku.barcode
    if row.get("status"):
        values["status"] = sku.status.value
    if row.get("max_per_order"):
        values["max_per_order"] = sku.max_per_order
    plan = _SkuPlan(line, row.get("product_code"), values, existing)
    if existing is not None:
        plan.changes = {k: v for k, v in values.items() if getattr(existing, k) != v}
    return plan


# ---------------------------------------------------------------- writing


def _write_products(
    session: Session,
    actor: Actor,
    products: dict[str, _ProductPlan],
    progress: ProgressCallback | None,
) -> None:
    new = [p for p in products.values() if p.existing is None]
    done = 0
    for batch in chunked(new, BATCH):
        rows = [Product(brand_id=actor.brand_id, **p.values) for p in batch]
        session.add_all(rows)
        session.flush()
        for plan, product in zip(batch, rows, strict=True):
            plan.row = product
            publish_product_created(session, actor, product)
        done += len(batch)
        report_progress(progress, "creating products", done, len(new))
    changed = [p for p in products.values() if p.existing is not None and p.changes]
    for plan in changed:
        existing = plan.existing
        assert existing is not None
        plan.row = existing
        before = row_snapshot(existing)
        for key, value in plan.changes.items():
            setattr(existing, key, value)
        publish_product_changed(session, actor, existing, before)
    for plan in products.values():
        plan.row = plan.row or plan.existing


def _write_skus(
    session: Session,
    actor: Actor,
    skus: list[_SkuPlan],
    products: dict[str, _ProductPlan],
    progress: ProgressCallback | None,
) -> tuple[int, int]:
    new = [s for s in skus if s.existing is None]
    done = 0
    for batch in chunked(new, BATCH):
        rows = []
        for plan in batch:
            product = products[plan.product_code].row
            assert product is not None
            rows.append(Sku(brand_id=actor.brand_id, product_id=product.id, **plan.values))
        session.add_all(rows)
        session.flush()
        for sku in rows:
            publish_sku_created(session, actor, sku)
        done += len(batch)
        report_progress(progress, "creating", done, len(new))
    changed = [s for s in skus if s.existing is not None and s.changes]
    for done, plan in enumerate(changed, start=1):
        existing_sku = plan.existing
        assert existing_sku is not None
        before = row_snapshot(existing_sku)
        for key, value in plan.changes.items():
            setattr(existing_sku, key, value)
        publish_sku_changed(session, actor, existing_sku, before)
        if done % BATCH == 0:
            session.flush()
        report_progress(progress, "updating", done, len(changed))
    return len(new), len(changed)
