"""store-codes: 布码 in bulk for 1,000 stores, a run from start to ZIP.

Goal (issue 4, point 9): a bulk run produces one code per store for 1,000 stores as a ZIP
ready to print (a sheet per store with its name, the PNG codes, an index CSV). Measured, with
baselines in the same process:

- ``cold_run_seconds``: a run where no store has the code yet: 1,000 touchpoints and codes
  created through the services (audited, published), every code drawn and kept, the ZIP
  built and stored, progress committed every 50 stores (``execute_store_code_run``, the
  job's own function, in this process). Baseline ``baseline_cold_seconds``: the same work
  the way the synchronous endpoint did it before (commit 55c236a): ``create_touchpoint``
  store by store, each code encoded twice, the PNG by segno's writer, PNGs deflated again,
  one transaction. Two rounds of each, alternating (new kinds each round); the best of each;
- ``warm_run_seconds``: the same run again: touchpoints, codes and images reused. Baseline
  ``baseline_warm_seconds``: the old endpoint called again (it reused the touchpoints but drew
  every code again);
- ``draw_seconds`` / ``baseline_draw_seconds``: drawing the 1,000 codes and writing the ZIP
  alone (no database), now and before, alternating every 25 codes so that both see the same
  load on a shared machine; ``draw_speedup`` is their ratio.

Knobs (environment): SIYU_BENCH_STORES (default 1000).
"""

from __future__ import annotations

import csv
import io
import os
import time
import uuid
import zipfile
from collections.abc import Sequence
from html import escape
from typing import Any

from _harness import throwaway_database


def _seed(database: Any, store_count: int) -> tuple[int, str]:
    from siyu.access.rules import system_actor
    from siyu.brands.service import create_brand
    from siyu.org.models import Ownership
    from siyu.org.schemas import RegionCreate, StoreCreate
    from siyu.org.service import create_region, create_store

    with database.unit_of_work() as session:
        brand = create_brand(session, slug=f"bench-{uuid.uuid4().hex[:6]}", name="Bench brand")
        system = system_actor(brand.id, "bench")
        regions = [
            create_region(session, system, RegionCreate(code=f"R{i}", name=f"Region {i}"))
            for i in (1, 2, 3)
        ]
        for n in range(store_count):
            create_store(
                session,
                system,
                StoreCreate(
                    code=f"S{n:05d}",
                    name=f"锦绣 {n:05d} 号店",
                    region_id=regions[n % 3].id,
                    ownership=Ownership.DIRECT,
                    opening_hours="10:00-22:00",
                ),
            )
        return brand.id, brand.slug


# ---------------------------------------------------------------- the drawing before (55c236a)


def _legacy_png(content: str) -> bytes:
    import segno

    buffer = io.BytesIO()
    segno.make(content, error="m").save(buffer, kind="png", scale=8, border=4)
    return buffer.getvalue()


def _legacy_sheet(code: Any, content: str) -> str:
    import segno

    qr = segno.make(content, error="m")
    side = qr.symbol_size(scale=8, border=4)[0]
    buffer = io.BytesIO()
    qr.save(buffer, kind="svg", scale=8, border=4, xmldecl=False, svgns=True)
    inner = buffer.getvalue().decode("utf-8")
    lines = [code.store_name, f"{code.store_code} · {code.kind_label}", code.touchpoint_code]
    text = "".join(
        f'<text x="{side / 2}" y="{side + 24 + 22 * n}" text-anchor="middle" '
        f'font-family="sans-serif" font-size="{18 if n == 0 else 13}">{escape(line)}</text>'
        for n, line in enumerate(lines)
    )
    height = side + 24 + 22 * len(lines)
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" '
        f'width="{side}" height="{height}" viewBox="0 0 {side} {height}">'
        f'<rect width="100%" height="100%" fill="#fff"/>{inner}{text}</svg>'
    )


LEGACY_INDEX_COLUMNS = (
    "store_code",
    "store_name",
    "touchpoint_code",
    "kind",
    "scene_key",
    "wecom_state",
    "url",
)


class _LegacyArchive:
    """The ZIP as the synchronous endpoint wrote it before, one code at a time."""

    def __init__(self) -> None:
        self.buffer = io.BytesIO()
        self.index = io.StringIO()
        self.writer = csv.writer(self.index)
        self.writer.writerow(LEGACY_INDEX_COLUMNS)
        self.zip = zipfile.ZipFile(self.buffer, "w", compression=zipfile.ZIP_DEFLATED)

    def add(self, code: Any) -> None:
        from siyu.touchpoints.rules import launch_url

        stem = f"{code.store_code}_{code.touchpoint_code}"
        url = launch_url(code.scene_key)
        self.zip.writestr(f"sheets/{stem}.svg", _legacy_sheet(code, url))
        self.zip.writestr(f"png/{stem}.png", _legacy_png(url))
        self.writer.writerow(
            [
                code.store_code,
                code.store_name,
                code.touchpoint_code,
                code.kind_label,
                code.scene_key,
                code.wecom_state,
                url,
            ]
        )

    def close(self) -> bytes:
        self.zip.writestr("index.csv", "\ufeff" + self.index.getvalue())
        self.zip.close()
        return self.buffer.getvalue()


def _draw_both(codes: Sequence[Any], chunk: int = 25) -> tuple[float, float, int, int]:
    """(baseline seconds, new seconds, baseline bytes, new bytes) of drawing ``codes`` and
    writing their ZIP both ways, alternating every ``chunk`` codes so that both see the same
    machine load (the figures are shared with other work)."""
    from siyu.touchpoints import rules

    legacy, archive = _LegacyArchive(), rules.CodeArchive()
    legacy_seconds = new_seconds = 0.0
    for start in range(0, len(codes), chunk):
        part = codes[start : start + chunk]
        started = time.perf_counter()
        for code in part:
            legacy.add(code)
        legacy_seconds += time.perf_counter() - started
        started = time.perf_counter()
        for code in part:
            archive.add(code, rules.draw_qr(rules.launch_url(code.scene_key)))
        new_seconds += time.perf_counter() - started
    started = time.perf_counter()
    legacy_bytes = len(legacy.close())
    legacy_seconds += time.perf_counter() - started
    started = time.perf_counter()
    new_bytes = len(archive.close())
    new_seconds += time.perf_counter() - started
    return legacy_seconds, new_seconds, legacy_bytes, new_bytes


# ---------------------------------------------------------------- the run


def _run(database: Any, brand_id: int, kind: str) -> tuple[float, int, int]:
    """(seconds, stores, ZIP bytes) of a run from its request to its stored ZIP."""
    from siyu.access.rules import system_actor
    from siyu.touchpoints.jobs import execute_store_code_run
    from siyu.touchpoints.runs import SUCCEEDED, run_archive, start_run
    from siyu.touchpoints.schemas import StoreCodesRequest

    actor = system_actor(brand_id, "bench")
    started = time.perf_counter()
    with database.unit_of_work() as session:
        run_id = start_run(session, actor, StoreCodesRequest(kind=kind), defer=False).id
    status = execute_store_code_run(database, brand_id, run_id)
    seconds = time.perf_counter() - started
    if status != SUCCEEDED:
        raise RuntimeError(f"run {run_id} {status}")
    with database.unit_of_work() as session:
        run, content = run_archive(session, actor, run_id)
        stores = run.stores_total
    _check_index(content, stores)
    return seconds, stores, len(content)


def _baseline_run(database: Any, brand_id: int, kind: str) -> tuple[float, int]:
    """(seconds, ZIP bytes) of the synchronous endpoint's work before (55c236a)."""
    from sqlalchemy import select

    from siyu.access.rules import system_actor
    from siyu.org.models import Store
    from siyu.touchpoints.models import Touchpoint, TouchpointCode
    from siyu.touchpoints.rules import PrintedCode
    from siyu.touchpoints.schemas import TouchpointCreate
    from siyu.touchpoints.service import create_touchpoint, list_kinds

    actor = system_actor(brand_id, "bench")
    started = time.perf_counter()
    with database.unit_of_work() as session:
        label = {k.code: k.label for k in list_kinds(session, actor)}[kind]
        stores = session.scalars(
            select(Store).where(Store.brand_id == brand_id).order_by(Store.code)
        ).all()
        existing = {
            row.store_id: row
            for row in session.scalars(
                select(Touchpoint)
                .where(Touchpoint.brand_id == brand_id, Touchpoint.kind == kind)
                .order_by(Touchpoint.id.desc())
            )
        }
        first_codes = {
            code.touchpoint_id: code
            for code in session.scalars(
                select(TouchpointCode)
                .where(
                    TouchpointCode.brand_id == brand_id,
                    TouchpointCode.touchpoint_id.in_([t.id for t in existing.values()]),
                )
                .order_by(TouchpointCode.id.desc())
            )
        }
        archive = _LegacyArchive()
        for store in stores:
            touchpoint = existing.get(store.id)
            if touchpoint is not None:
                code = first_codes[touchpoint.id]
            else:
                view = create_touchpoint(
                    session,
                    actor,
                    TouchpointCreate(
                        code=f"{store.code}-{kind}"[:32],
                        name=f"{label} · {store.name}"[:200],
                        kind=kind,
                        store_id=store.id,
                    ),
                )
                touchpoint, code = view.touchpoint, view.codes[0]
            archive.add(
                PrintedCode(
                    store.code, store.name, touchpoint.code, label, code.scene_key, code.wecom_state
                )
            )
        content = archive.close()
    seconds = time.perf_counter() - started
    _check_index(content, len(stores))
    return seconds, len(content)


def _check_index(content: bytes, stores: int) -> None:
    index = zipfile.ZipFile(io.BytesIO(content)).read("index.csv").decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(index)))
    if len(rows) != stores:
        raise RuntimeError(f"{len(rows)} index rows for {stores} stores")


# Two rounds, each a fresh kind for the baseline and for the run, so both start cold.
ROUNDS = (("counter_code", "shelf_code"), ("poster", "receipt_code"))


def main() -> dict[str, Any]:
    os.environ["SIYU_LOG_LEVEL"] = "WARNING"
    from rich.console import Console
    from rich.table import Table

    from siyu.config import get_settings
    from siyu.core.logging import configure_logging
    from siyu.db import migrate
    from siyu.db.embedded import drop_database, stop_embedded_servers
    from siyu.db.session import make_database
    from siyu.touchpoints import rules

    get_settings.cache_clear()
    configure_logging(get_settings().log_format, "WARNING")
    store_count = int(os.environ.get("SIYU_BENCH_STORES") or 1000)
    console = Console()
    load_before = os.getloadavg()[0]

    codes = [
        rules.PrintedCode(
            f"S{n:05d}",
            f"锦绣 {n:05d} 号店",
            f"S{n:05d}-shelf_code",
            "货架码",
            rules.new_scene_key(),
            "tp_x",
        )
        for n in range(store_count)
    ]
    with console.status(f"Drawing {store_count} codes before and now, alternately..."):
        baseline_draw, draw, legacy_bytes, drawn_bytes = _draw_both(codes)

    server_db, name, url = throwaway_database()
    database = None
    try:
        with console.status("Migrating a throwaway database..."):
            migrate.upgrade(url)
        database = make_database(url, pool_size=4)
        with console.status(f"Seeding {store_count} stores..."):
            started = time.perf_counter()
            brand_id, _ = _seed(database, store_count)
            seed_seconds = time.perf_counter() - started
        baseline_colds, colds = [], []
        for number, (baseline_kind, kind) in enumerate(ROUNDS, start=1):
            with console.status(f"Round {number}: a cold run as before ({baseline_kind})..."):
                seconds, baseline_bytes = _baseline_run(database, brand_id, baseline_kind)
                baseline_colds.append(seconds)
            with console.status(f"Round {number}: a cold run now ({kind})..."):
                seconds, stores, cold_bytes = _run(database, brand_id, kind)
                colds.append(seconds)
        with console.status("The same again, as before (warm)..."):
            baseline_warm, _ = _baseline_run(database, brand_id, ROUNDS[0][0])
        with console.status("The same run again, now (warm)..."):
            warm, _, warm_bytes = _run(database, brand_id, ROUNDS[0][1])
    finally:
        if database is not None:
            database.dispose()
        drop_database(server_db, name)
        stop_embedded_servers()

    cold, baseline_cold = min(colds), min(baseline_colds)
    table = Table(
        title=f"store-codes: 布码 for {stores} stores (best of {len(ROUNDS)} cold rounds)"
    )
    table.add_column("phase")
    table.add_column("before (s)", justify="right")
    table.add_column("now (s)", justify="right")
    table.add_column("speed-up", justify="right")
    rows = (
        ("drawing + ZIP only", baseline_draw, draw),
        ("cold run: create, draw, keep, ZIP", baseline_cold, cold),
        ("warm run: everything exists", baseline_warm, warm),
    )
    for label, before, now in rows:
        table.add_row(label, f"{before:.2f}", f"{now:.2f}", f"{before / now:.1f}x")
    console.print(table)
    console.print(
        f"ZIP: {cold_bytes:,} bytes now, {baseline_bytes:,} before; cold rounds now "
        f"{', '.join(f'{c:.2f}' for c in colds)} s, before "
        f"{', '.join(f'{c:.2f}' for c in baseline_colds)} s.",
        highlight=False,
    )

    def ratio(before: float, now: float) -> float:
        return round(before / now, 2) if now else 0.0

    return {
        "benchmark": "store-codes",
        "stores": stores,
        "cold_run_seconds": round(cold, 2),
        "warm_run_seconds": round(warm, 2),
        "baseline_cold_seconds": round(baseline_cold, 2),
        "baseline_warm_seconds": round(baseline_warm, 2),
        "cold_speedup": ratio(baseline_cold, cold),
        "warm_speedup": ratio(baseline_warm, warm),
        "draw_seconds": round(draw, 2),
        "baseline_draw_seconds": round(baseline_draw, 2),
        "draw_speedup": ratio(baseline_draw, draw),
        "cold_rounds_seconds": [round(c, 2) for c in colds],
        "baseline_cold_rounds_seconds": [round(c, 2) for c in baseline_colds],
        "zip_bytes": cold_bytes,
        "warm_zip_bytes": warm_bytes,
        "baseline_zip_bytes": baseline_bytes,
        "drawn_zip_bytes": drawn_bytes,
        "baseline_drawn_zip_bytes": legacy_bytes,
        "seed_seconds": round(seed_seconds, 1),
        "load_average_1m_before": round(load_before, 2),
        "cpus": os.cpu_count(),
    }


if __name__ == "__main__":  # pragma: no cover
    import json

    print(json.dumps(main()))
