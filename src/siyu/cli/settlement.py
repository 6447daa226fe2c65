"""``siyu settlement ...``: franchise settlement from the command line."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from siyu.core.errors import SiyuError

app = typer.Typer(
    help="Franchise settlement: ledger backfill and settlement runs.", no_args_is_help=True
)

console = Console()
errors = Console(stderr=True)


def _fail(error: SiyuError) -> typer.Exit:
    field = f" ({error.field})" if error.field else ""
    errors.print(
        f"[red]error[/red] [bold]{error.code}[/bold]{field}: {escape(error.message)}",
        soft_wrap=True,
    )
    return typer.Exit(code=2)


@app.command("run")
def run(
    brand: Annotated[str, typer.Option("--brand", help="Slug of the brand.")],
    period_start: Annotated[
        datetime,
        typer.Option("--from", formats=["%Y-%m-%d"], help="First day (Asia/Shanghai), included."),
    ],
    period_end: Annotated[
        datetime,
        typer.Option(
            "--to", formats=["%Y-%m-%d"], help="Day after the last (Asia/Shanghai), excluded."
        ),
    ],
) -> None:
    """Settle a period that has ended: one statement per franchisee, e.g.
    ``siyu settlement run --brand acme --from 2026-11-01 --to 2026-12-01``."""
    from siyu.access.rules import system_actor
    from siyu.brands.service import get_brand_by_slug
    from siyu.cli.runtime import prepare
    from siyu.settlement.rules import format_yuan
    from siyu.settlement.service import list_statements, run_settlement

    start: date = period_start.date()
    end: date = period_end.date()
    try:
        database = prepare(auto_upgrade=False)
        with database.unit_of_work() as session:
            brand_row = get_brand_by_slug(session, brand)
            actor = system_actor(brand_row.id, "cli: settlement run")
            settled = run_settlement(session, actor, period_start=start, period_end=end)
            statements, _ = list_statements(session, actor, run_id=settled.id, limit=1000)
    except SiyuError as error:
        raise _fail(error) from error
    table = Table(title=f"Settlement run {settled.id}: {start} to {end} (excluded)")
    for column in ("franchisee", "sales", "refunds", "commission", "fees", "net payable", "orders"):
        table.add_column(column, justify="left" if column == "franchisee" else "right")
    for s in statements:
        table.add_row(
            f"{s.franchisee_code} {s.franchisee_name}",
            format_yuan(s.sales_fen),
            format_yuan(s.refunds_fen),
            format_yuan(s.commission_fen),
            format_yuan(s.fees_fen),
            format_yuan(s.net_payable_fen),
            str(s.order_count),
        )
    console.print(table)
    console.print(
        f"Brand '{brand}': run {settled.id}, {len(statements)} statement(s).",
        soft_wrap=True,
        highlight=False,
    )


@app.command("backfill")
def backfill(
    brand: Annotated[str, typer.Option("--brand", help="Slug of the brand.")],
) -> None:
    """Post every paid order's sale, refunds and fulfilment to the store ledgers (for orders
    paid before the ledger subscriber existed). Safe to repeat: posted facts are skipped."""
    from siyu.brands.service import get_brand_by_slug
    from siyu.cli.runtime import prepare
    from siyu.settlement.posting import backfill_ledger

    try:
        database = prepare(auto_upgrade=False)
        with database.unit_of_work() as session:
            brand_row = get_brand_by_slug(session, brand)
            report = backfill_ledger(session, brand_row.id)
    except SiyuError as error:
        raise _fail(error) from error
    console.print(
        f"Brand '{brand}': {report.orders} paid order(s) checked, "
        f"{report.posted} ledger entr{'y' if report.posted == 1 else 'ies'} posted.",
        soft_wrap=True,
        highlight=False,
    )
