"""``siyu bench NAME``: run a benchmark from bench/.

A benchmark is ``bench/<name with - replaced by _>.py`` in the repository, with a
``main() -> dict`` that prints its figures (and a ratio against a baseline run in the same
process) and returns the goal's figures; this command prints that dict as ONE JSON object on
the last line of stdout. The bench/ folder is looked for upward from the current directory,
then beside the package (editable installs).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

import siyu

BENCH_FOLDER = "bench"
SECONDS_VARIABLE = "SIYU_BENCH_SECONDS"

_errors = Console(stderr=True)


def bench_dirs(start: Path | None = None) -> list[Path]:
    """Every existing bench/ folder: upward from ``start`` (default: the current directory),
    then the one beside the package of an editable install. Without duplicates."""
    here = (start or Path.cwd()).resolve()
    candidates: Iterable[Path] = [
        *(folder / BENCH_FOLDER for folder in (here, *here.parents)),
        Path(siyu.__file__).resolve().parents[2] / BENCH_FOLDER,
    ]
    found: list[Path] = []
    for candidate in candidates:
        if candidate.is_dir() and candidate not in found:
            found.append(candidate)
    return found


def module_name(name: str) -> str:
    """``api-overhead`` -> ``api_overhead``."""
    return name.strip().replace("-", "_")


def available_benchmarks(start: Path | None = None) -> dict[str, Path]:
    """Benchmark names (``api-overhead``) and their files; the nearest folder wins a name."""
    benchmarks: dict[str, Path] = {}
    for folder in bench_dirs(start):
        for path in sorted(folder.glob("*.py")):
            if path.stem.startswith("_"):
                continue
            benchmarks.setdefault(path.stem.replace("_", "-"), path)
    return benchmarks


def find_benchmark(name: str, start: Path | None = None) -> Path | None:
    """The file of benchmark ``name`` (``api-overhead`` or ``api_overhead``), or None."""
    filename = f"{module_name(name)}.py"
    if not filename[:-3].isidentifier() or filename.startswith("_"):
        return None
    for folder in bench_dirs(start):
        path = folder / filename
        if path.is_file():
            return path
    return None


def load_benchmark(path: Path) -> Any:
    """Import the benchmark file as module ``siyu_bench_<stem>``."""
    module_id = f"siyu_bench_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_id, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    # Benchmarks share bench/_harness.py: make their folder importable, as running one
    # directly would.
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    sys.modules[module_id] = module  # dataclasses and pickling look modules up here
    spec.loader.exec_module(module)
    return module


def bench(
    name: Annotated[str, typer.Argument(help="Benchmark to run, e.g. 'api-overhead'.")],
    seconds: Annotated[
        float | None,
        typer.Option(min=0.5, help=f"Measured seconds per phase (sets {SECONDS_VARIABLE})."),
    ] = None,
) -> None:
    """Run benchmark NAME from the bench/ folder; the last line of output is its JSON result."""
    path = find_benchmark(name)
    if path is None:
        known = available_benchmarks()
        listing = ", ".join(sorted(known)) if known else "none (no bench/ folder found)"
        _errors.print(
            f"[red]error[/red] unknown benchmark '{name}'. Available benchmarks: {listing}",
            soft_wrap=True,
        )
        raise typer.Exit(code=2)
    if seconds is not None:
        os.environ[SECONDS_VARIABLE] = str(seconds)
    module = load_benchmark(path)
    run = getattr(module, "main", None)
    if not callable(run):
        _errors.print(f"[red]error[/red] {path} has no main() function.")
        raise typer.Exit(code=2)
    result = run()
    if not isinstance(result, dict):
        _errors.print(f"[red]error[/red] {path}: main() must return a dict of figures.")
        raise typer.Exit(code=1)
    sys.stdout.flush()
    print(json.dumps(result, ensure_ascii=False, default=str), flush=True)
