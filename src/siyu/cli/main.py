"""The ``siyu`` command line. Commands translate arguments and errors; the work is in services."""

from __future__ import annotations

import signal
import warnings
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from siyu.core.errors import SiyuError
from siyu.db.session import Database

warnings.filterwarnings("ignore", module="platformdirs")

app = typer.Typer(
    name="siyu",
    help="siyu (私域): the private-domain retail operating system.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema (Alembic).", no_args_is_help=True)
brand_app = typer.Typer(help="Brands (tenants).", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(brand_app, name="brand")
app.add_typer(token_app, name="token")

console = Console()
errors = Console(stderr=True)


def fail(error: SiyuError) -> typer.Exit:
    field = f" ({error.field})" if error.field else ""
    errors.print(f"[red]error[/red] [bold]{error.code}[/bold]{field}: {error.message}")
    return typer.Exit(code=2)


@app.command()
def demo(
    reset: Annotated[bool, typer.Option(help="Delete the demo brand and seed it again.")] = False,
    serve: Annotated[bool, typer.Option(help="Serve siyu after seeding.")] = True,
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
) -> None:
    """Seed a populated demo brand (once) and serve siyu on http://127.0.0.1:8000."""
    from siyu.cli.runtime import prepare
    from siyu.demo.seed import DEMO_PASSWORD, DEMO_SLUG, seed_demo

    database = prepare(auto_upgrade=True)
    with console.status("Seeding the demo brand..."), database.unit_of_work() as session:
        result = seed_demo(session, reset=reset)
    verb = "Seeded" if result.created else "Reusing"
    console.print(
        f"{verb} demo brand [bold]{DEMO_SLUG}[/bold]: {result.regions} regions, "
        f"{result.stores} stores ({result.franchise_stores} franchised), "
        f"{result.warehouses} warehouses, {result.staff} staff."
    )
    mall = result.mall
    console.print(
        f"Mall: {mall.products} products ({mall.skus} SKUs) in {mall.categories} categories, "
        f"{mall.stock_levels} stock levels, {mall.listing_overrides} listing overrides, "
        f"{mall.consumers} consumers, {mall.orders} orders ({mall.paid_orders} paid, "
        f"{mall.refunds} refunds, {mall.after_sales} after-sales), "
        f"{mall.statements} settlement statements."
    )
    console.print(
        "Shop (the mini-program in a browser): [bold]/shop/demo[/bold], as "
        + ", ".join(f"'{user}'" for user, _ in mall.demo_consumers)
        + " or any name."
    )
    members = result.members
    if members.shelf_scene_key:
        console.print(
            "Scan-to-join: open [bold]/shop/demo/scan?scene="
            f"{members.shelf_scene_key}[/bold] (store SH01's shelf code), log in and buy; "
            "the member's 360 (console → Members) and the touchpoint report show it."
        )
    table = Table(title=f"Console logins (brand '{DEMO_SLUG}', password '{DEMO_PASSWORD}')")
    table.add_column("role")
    table.add_column("login")
    table.add_column("sees")
    for role, login, sees in result.sample_logins:
        table.add_row(role, login, sees)
    console.print(table)
    if serve:
        from siyu.cli.serving import serve_forever

        serve_forever(database, host=host, port=port, in_process_worker=True)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    worker: Annotated[
        bool | None,
        typer.Option(help="Run background jobs in this process (default: SIYU_IN_PROCESS_WORKER)."),
    ] = None,
    processes: Annotated[
        int,
        typer.Option(
            min=1, max=64, help="Web processes sharing the port (one Python process uses one core)."
        ),
    ] = 1,
) -> None:
    """Serve siyu against SIYU_DATABASE_URL, or the embedded server when it is unset."""
    from siyu.cli.runtime import prepare
    from siyu.cli.serving import serve_forever
    from siyu.config import get_settings

    try:
        database = prepare(auto_upgrade=False)
    except SiyuError as error:
        raise fail(error) from error
    in_process = get_settings().in_process_worker if worker is None else worker
    serve_forever(database, host=host, port=port, in_process_worker=in_process, processes=processes)


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(min=1, max=64)] = 4,
) -> None:
    """Run background jobs and the outbox dispatcher in this process (production)."""
    from siyu.cli.runtime import prepare
    from siyu.jobs.runner import BackgroundWorkers

    try:
        database = prepare(auto_upgrade=False)
    except SiyuError as error:
        raise fail(error) from error
    workers = BackgroundWorkers(database, concurrency=concurrency)
    # Process managers stop services with SIGTERM: finish the current jobs, then exit.
    signal.signal(signal.SIGTERM, lambda *_: workers.stop())
    workers.start()
    console.print(f"Worker running (concurrency {concurrency}); Ctrl-C stops it.")
    workers.wait()
    console.print("Worker stopped.")


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Migrate the database to REVISION (default: the newest)."""
    from siyu.db import migrate

    database = _raw_database()
    migrate.upgrade(database.url, revision)
    console.print(f"Database at revision {migrate.current_revision(database.url)}.")


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument()]) -> None:
    """Migrate the database back to REVISION."""
    from siyu.db import migrate

    database = _raw_database()
    migrate.downgrade(database.url, revision)
    console.print(f"Database at revision {migrate.current_revision(database.url)}.")


@db_app.command("current")
def db_current() -> None:
    """Show the database's revision and the newest one."""
    from siyu.db import migrate

    database = _raw_database()
    current = migrate.current_revision(database.url)
    head = migrate.head_revision(database.url)
    state = "up to date" if current == head else "behind: run 'siyu db upgrade'"
    console.print(f"current: {current or '(empty)'}   head: {head}   ({state})")


def _raw_database() -> Database:
    from siyu.config import get_settings
    from siyu.core.logging import configure_logging
    from siyu.db.session import get_database

    settings = get_settings()
    configure_logging(settings.log_format, settings.log_level)
    return get_database()


@brand_app.command("create")
def brand_create(
    slug: Annotated[str, typer.Argument(help="Short name used to log in, e.g. 'acme'.")],
    name: Annotated[str, typer.Argument(help="Display name.")],
    admin_login: Annotated[str, typer.Option(help="Login of the first brand admin.")] = "admin",
    admin_name: Annotated[str, typer.Option(help="Name of the first brand admin.")] = "Brand admin",
    admin_password: Annotated[
        str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)
    ] = "",
) -> None:
    """Create a brand with its first brand admin."""
    from siyu.access.rules import Role, system_actor
    from siyu.brands.service import create_brand
    from siyu.cli.runtime import prepare
    from siyu.staff.schemas import StaffCreate
    from siyu.staff.service import hire_staff

    database = prepare(auto_upgrade=False)
    try:
        with database.unit_of_work() as session:
            brand = create_brand(session, slug=slug, name=name)
            admin = StaffCreate(
                code="ADMIN",
                name=admin_name,
                role=Role.BRAND_ADMIN,
                login=admin_login,
                password=admin_password,
            )
            hire_staff(session, system_actor(brand.id, "cli"), admin)
    except SiyuError as error:
        raise fail(error) from error
    except ValueError as error:
        errors.print(f"[red]error[/red] invalid_input: {error}")
        raise typer.Exit(2) from error
    console.print(f"Brand [bold]{slug}[/bold] created; log in as '{admin_login}'.")


@token_app.command("create")
def token_create(
    brand: Annotated[str, typer.Option(help="Brand slug.")],
    name: Annotated[str, typer.Option(help="What the token is for.")],
    login: Annotated[str | None, typer.Option(help="Staff login: a user token.")] = None,
    scope: Annotated[
        list[str] | None,
        typer.Option(help="Permission (repeatable); integration tokens need them."),
    ] = None,
) -> None:
    """Issue an API token: a staff member's (--login) or an integration app's (--scope)."""
    from sqlalchemy import select

    from siyu.access.rules import system_actor
    from siyu.access.schemas import ApiTokenCreate
    from siyu.access.service import actor_for_staff, issue_token
    from siyu.brands.service import get_brand_by_slug
    from siyu.cli.runtime import prepare
    from siyu.staff.errors import StaffNotFound
    from siyu.staff.models import Staff

    database = prepare(auto_upgrade=False)
    try:
        with database.unit_of_work() as session:
            brand_row = get_brand_by_slug(session, brand)
            if login:
                staff = session.scalar(
                    select(Staff).where(Staff.brand_id == brand_row.id, Staff.login == login)
                )
                if staff is None:
                    raise StaffNotFound(f"No staff member with login '{login}'.", field="login")
                actor = actor_for_staff(staff)
                data = ApiTokenCreate(name=name, kind="user", scopes=scope or None)
            else:
                actor = system_actor(brand_row.id, "cli")
                data = ApiTokenCreate(name=name, kind="integration", scopes=scope or None)
            _, plain = issue_token(session, actor, data)
    except SiyuError as error:
        raise fail(error) from error
    console.print(plain)


def _register_optional_commands() -> None:
    """Commands living in their own modules (imports, benchmarks)."""
    from siyu.cli import bench, imports, settlement, stock, touchpoints

    app.add_typer(imports.app, name="import")
    app.add_typer(stock.app, name="stock")
    app.add_typer(settlement.app, name="settlement")
    app.add_typer(touchpoints.app, name="touchpoints")
    app.command(name="bench")(bench.bench)


_register_optional_commands()


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
