"""``siyu touchpoints store-codes``: 布码 in bulk from the command line.

The run is recorded like one started from the console or the API, but printed in this process
(no worker needed), with a progress bar on stderr; the ZIP is written to ``--out``. Exit codes:
0 printed, 2 refused (the reason on stderr).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from siyu.core.errors import SiyuError

app = typer.Typer(help="Touchpoints: bulk codes (布码).", no_args_is_help=True)

console = Console()
errors = Console(stderr=True)


def _fail(error: SiyuError) -> typer.Exit:
    field = f" ({error.field})" if error.field else ""
    errors.print(
        f"[red]error[/red] [bold]{error.code}[/bold]{field}: {escape(error.message)}",
        soft_wrap=True,
    )
    return typer.Exit(code=2)


@app.command("store-codes")
def store_codes(
    brand: Annotated[str, typer.Option("--brand", help="Slug of the brand.")],
    kind: Annotated[str, typer.Option("--kind", help="Touchpoint kind, e.g. shelf_code.")],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Where to write the ZIP (default: codes-KIND.zip).", dir_okay=False
        ),
    ] = None,
    campaign: Annotated[
        str | None, typer.Option("--campaign", help="Place the codes at this campaign too.")
    ] = None,
    medium: Annotated[
        str,
        typer.Option(
            "--medium",
            help="link_qr, mini_program_code, official_account_qr or wecom_contact_way.",
        ),
    ] = "link_qr",
) -> None:
    """One code of KIND for every store of the brand, as a ZIP ready to print (a sheet per
    store with its name, the PNG codes, an index CSV), e.g. ``siyu touchpoints store-codes
    --brand acme --kind shelf_code --out shelf.zip``. Stores that have such a code keep it."""
    from pydantic import ValidationError

    from siyu.access.rules import system_actor
    from siyu.brands.service import get_brand_by_slug
    from siyu.cli.runtime import prepare
    from siyu.touchpoints.jobs import execute_store_code_run
    from siyu.touchpoints.runs import SUCCEEDED, get_run, run_archive, start_run
    from siyu.touchpoints.schemas import StoreCodesRequest

    try:
        request = StoreCodesRequest.model_validate(
            {"kind": kind, "campaign": campaign, "medium": medium}
        )
    except ValidationError as error:
        first = error.errors()[0]
        errors.print(f"[red]error[/red] invalid_input ({first['loc'][0]}): {first['msg']}")
        raise typer.Exit(2) from error
    target = out or Path(f"codes-{request.kind}.zip")
    try:
        database = prepare(auto_upgrade=False)
        with database.unit_of_work() as session:
            brand_id = get_brand_by_slug(session, brand).id
            actor = system_actor(brand_id, "cli: touchpoints store-codes")
            run_id = start_run(session, actor, request, defer=False).id
        bar = Progress(
            TextColumn("Printing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=errors,
            transient=True,
            disable=not errors.is_terminal,
        )
        with bar:
            task = bar.add_task("stores", total=None)
            status = execute_store_code_run(
                database,
                brand_id,
                run_id,
                on_progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
        with database.unit_of_work() as session:
            if status != SUCCEEDED:
                run = get_run(session, actor, run_id)
                errors.print(f"[red]error[/red] run {run_id} failed: {escape(run.error or '')}")
                raise typer.Exit(2)
            run, content = run_archive(session, actor, run_id)
    except SiyuError as error:
        raise _fail(error) from error
    target.write_bytes(content)
    console.print(
        f"Brand '{brand}': run {run_id}, {run.stores_total} store(s), "
        f"{len(content):,} bytes written to {target}.",
        soft_wrap=True,
        highlight=False,
    )
