"""``siyu import stores|staff|products|stock|pos-members|pos-orders FILE``: all-or-nothing CSV
imports.

Exit codes: 0 imported (or, with ``--dry-run``, checked); 2 rejected (every problem is printed
to stderr as ``line N, column C: reason``) or another refusal; nothing is written unless the
whole file is good.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from sqlalchemy.orm import Session

from siyu.access.rules import Actor
from siyu.core.csvfile import ImportRejected, ImportReport, ProgressCallback
from siyu.core.errors import SiyuError

app = typer.Typer(
    help="Import stores, staff, products, stock or POS members and orders from CSV "
    "(all-or-nothing).",
    no_args_is_help=True,
)

console = Console()
errors = Console(stderr=True)

Importer = Callable[..., ImportReport]

FileArgument = Annotated[
    Path,
    typer.Argument(
        help="CSV file, UTF-8 (Excel's 'CSV UTF-8' is fine), first line the column names.",
        exists=True,
        dir_okay=False,
        readable=True,
    ),
]
BrandOption = Annotated[str, typer.Option("--brand", help="Slug of the brand to import into.")]
DryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="Check the file and roll back: nothing is written.")
]


@app.command("stores")
def stores(file: FileArgument, brand: BrandOption, dry_run: DryRunOption = False) -> None:
    """Create or update stores by code. Columns: code, name, region (required); ownership,
    franchisee, address, latitude, longitude, opening_hours, status, phone."""
    from siyu.org.imports import import_stores

    _run("stores", import_stores, file, brand, dry_run)


@app.command("staff")
def staff(file: FileArgument, brand: BrandOption, dry_run: DryRunOption = False) -> None:
    """Hire or change staff by employee code. Columns: code, name, role (required); region,
    store, franchisee, phone, email, login. No passwords: people set theirs later."""
    from siyu.staff.imports import import_staff

    _run("staff", import_staff, file, brand, dry_run)


@app.command("products")
def products(file: FileArgument, brand: BrandOption, dry_run: DryRunOption = False) -> None:
    """Create or update products and SKUs, one row per SKU. Columns: category, product_code,
    product_name, sku_code, list_price (yuan, e.g. 199.00) (required); attributes
    (colour=red;size=M), barcode, exclusive_channel, status, max_per_order, images (URLs
    separated by |), product_status. Categories must exist."""
    from siyu.catalog.imports import import_products

    _run("products", import_products, file, brand, dry_run)


@app.command("stock")
def stock(file: FileArgument, brand: BrandOption, dry_run: DryRunOption = False) -> None:
    """Set on-hand counts from a POS stock snapshot. Columns: location (stock location code),
    sku (SKU code), on_hand. A line that would leave fewer units than carts and orders hold
    is an error."""
    from siyu.inventory.imports import import_stock

    _run("stock", import_stock, file, brand, dry_run)


MappingOption = Annotated[
    Path | None,
    typer.Option(
        "--mapping",
        help='JSON file {"file column": "field", ...} naming the POS export\'s columns.',
        exists=True,
        dir_okay=False,
        readable=True,
    ),
]
MapOption = Annotated[
    list[str] | None,
    typer.Option(
        "--map",
        help="COLUMN=FIELD, repeatable (e.g. --map 会员卡号=pos_member_number); overrides "
        "--mapping for that column. A field left out is read from a column of its own name.",
    ),
]


@app.command("pos-members")
def pos_members(
    file: FileArgument,
    brand: BrandOption,
    mapping: MappingOption = None,
    map_: MapOption = None,
    dry_run: DryRunOption = False,
) -> None:
    """Import a POS member export. Fields: pos_member_number and/or phone (one at least),
    name, gender, birthday, store_code, joined_at. Matched by POS number, then phone; new
    members join with channel 'pos'. A row whose POS number and phone name two members is an
    error (imports never merge)."""
    from siyu.offline.member_imports import import_pos_members

    _run_pos("pos-members", import_pos_members, file, brand, mapping, map_ or [], dry_run)


@app.command("pos-orders")
def pos_orders(
    file: FileArgument,
    brand: BrandOption,
    mapping: MappingOption = None,
    map_: MapOption = None,
    dry_run: DryRunOption = False,
) -> None:
    """Import a POS sales export, one line per row. Fields: order_number, store_code,
    placed_at, sku_code, quantity, amount_yuan or amount_fen (required); pos_member_number,
    phone, order_total. Returns are lines with negative quantity and amount. Receipts already
    imported (by order number) are left alone, so importing again changes nothing."""
    from siyu.offline.order_imports import import_pos_orders

    _run_pos("pos-orders", import_pos_orders, file, brand, mapping, map_ or [], dry_run)


def _run_pos(
    what: str,
    importer: Importer,
    file: Path,
    brand: str,
    mapping_file: Path | None,
    pairs: list[str],
    dry_run: bool,
) -> None:
    from functools import partial

    from siyu.offline.imports import parse_mapping

    try:
        text = mapping_file.read_text(encoding="utf-8-sig") if mapping_file else None
        mapping = parse_mapping(text, pairs)
    except SiyuError as error:
        errors.print(
            f"[red]error[/red] [bold]{error.code}[/bold] (mapping): {escape(error.message)}",
            soft_wrap=True,
        )
        raise typer.Exit(code=2) from error
    _run(what, partial(importer, mapping=mapping, file_name=file.name), file, brand, dry_run)


def _run(what: str, importer: Importer, file: Path, brand: str, dry_run: bool) -> None:
    from siyu.access.rules import system_actor
    from siyu.brands.service import get_brand_by_slug
    from siyu.cli.runtime import prepare

    data = file.read_bytes()
    try:
        database = prepare(auto_upgrade=False)
        with database.unit_of_work() as session:
            brand_row = get_brand_by_slug(session, brand)
            actor = system_actor(brand_row.id, "csv import")
            report = _import_with_progress(session, actor, importer, data)
            if dry_run:
                session.rollback()
    except ImportRejected as rejected:
        for error in rejected.errors:
            errors.print(escape(str(error)), soft_wrap=True, highlight=False)
        errors.print(
            f"[red]rejected[/red]: {escape(rejected.message)} ({file.name})",
            soft_wrap=True,
            highlight=False,
        )
        raise typer.Exit(code=2) from rejected
    except SiyuError as error:
        field = f" ({error.field})" if error.field else ""
        errors.print(
            f"[red]error[/red] [bold]{error.code}[/bold]{field}: {escape(error.message)}",
            soft_wrap=True,
        )
        raise typer.Exit(code=2) from error
    counts = f"{report.created} created, {report.updated} updated, {report.unchanged} unchanged"
    if dry_run:
        console.print(
            f"Dry run of {what} for brand '{brand}': the file is good and would give "
            f"{counts}. Nothing was written.",
            soft_wrap=True,
            highlight=False,
        )
    else:
        console.print(
            f"Imported {what} into brand '{brand}': {counts}.", soft_wrap=True, highlight=False
        )


def _import_with_progress(
    session: Session, actor: Actor, importer: Importer, data: bytes
) -> ImportReport:
    with _progress_bar() as on_progress:
        report: ImportReport = importer(session, actor, data, progress=on_progress)
    return report


@contextmanager
def _progress_bar() -> Iterator[ProgressCallback]:
    """A rich progress bar on stderr, one task per phase (checking, creating, updating)."""
    bar = Progress(
        TextColumn("{task.description:<9}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=errors,
        transient=True,
        disable=not errors.is_terminal,
    )
    tasks: dict[str, TaskID] = {}

    def on_progress(phase: str, done: int, total: int) -> None:
        if phase not in tasks:
            tasks[phase] = bar.add_task(phase, total=total)
        bar.update(tasks[phase], completed=done)

    with bar:
        yield on_progress
