"""``siyu import stores|staff FILE``: all-or-nothing CSV imports."""

from __future__ import annotations

import typer

app = typer.Typer(help="Import stores or staff from CSV (all-or-nothing).", no_args_is_help=True)
