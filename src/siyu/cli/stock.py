"""``siyu stock ...``: stock maintenance from the command line."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from siyu.core.errors import SiyuError

app = typer.Typer(help="Stock: levels, holds and their repair.", no_args_is_help=True)

console = Console()
errors = Console(stderr=True)


@app.command("reconcile")
def reconcile(
    brand: Annotated[str, typer.Option("--brand", help="Slug of the brand to reconcile.")],
) -> None:
    """Recompute reserved and allocated from the holds and repair drift (what the nightly
    job does). Exit code 0 when every level agrees now, 1 when some need a stock count."""
    from siyu.brands.service import get_brand_by_slug
    from siyu.cli.runtime import prepare
    from siyu.inventory.maintenance import reconcile_stock

    try:
        database = prepare(auto_upgrade=False)
        with database.unit_of_work() as session:
            brand_row = get_brand_by_slug(session, brand)
            report = reconcile_stock(session, brand_row.id, actor_label="cli: stock reconcile")
    except SiyuError as error:
        field = f" ({error.field})" if error.field else ""
        errors.print(
            f"[red]error[/red] [bold]{error.code}[/bold]{field}: {escape(error.message)}",
            soft_wrap=True,
        )
        raise typer.Exit(code=2) from error
    found = report.repaired + report.unrepairable
    if found:
        table = Table(title=f"Stock drift in brand '{brand}'")
        for column in ("location", "sku", "on hand", "reserved", "allocated", "result"):
            table.add_column(column, justify="left" if column == "result" else "right")
        for item in found:
            table.add_row(
                str(item.location_id),
                str(item.sku_id),
                str(item.on_hand),
                f"{item.reserved_before} -> {item.reserved_after}",
                f"{item.allocated_before} -> {item.allocated_after}",
                "repaired" if item.repaired else "needs a stock count",
            )
        console.print(table)
    console.print(f"Brand '{brand}': {report.summary()}.", soft_wrap=True, highlight=False)
    if report.unrepairable:
        raise typer.Exit(code=1)
