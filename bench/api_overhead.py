"""api-overhead: a page of 1,000 stores through the full stack vs a bare FastAPI endpoint.

Goal: GET a page of 1,000 stores through the full stack (auth, scope filter, serialization),
reported as requests/s and as a ratio to a bare FastAPI endpoint served in the same run.

Both apps are served by uvicorn in background threads of this process (one at a time under
load). The load comes from a child process (``python bench/api_overhead.py --load ...``) with
K threads, each a keep-alive ``httpx.Client``, so that the client does not compete with the
servers for this process's GIL. Everything talks to 127.0.0.1 only.

Knobs (environment): SIYU_BENCH_SECONDS (measured seconds per phase, default 10),
SIYU_BENCH_WARMUP (default 2), SIYU_BENCH_CLIENTS (default 8), SIYU_BENCH_STORES (default 1000).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _harness import BackgroundServer, env_float, percentile, serve_in_thread, throwaway_database

PAGE_PATH = "/api/stores"
ITEM_MARKER = b'"opening_hours_text"'


# ---------------------------------------------------------------- load generator (child)


def run_load(
    url: str, token: str | None, expected: int, clients: int, warmup: float, seconds: float
) -> dict[str, Any]:
    """K keep-alive clients hammer ``url`` for warmup + seconds; counts requests completed in
    the measured window. Every response must be 200 with ``expected`` items."""
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    start_barrier = threading.Barrier(clients + 1)
    window: dict[str, float] = {}
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    samples: list[str] = []

    def worker(index: int) -> None:
        with httpx.Client(headers=headers, timeout=30.0) as client:
            start_barrier.wait()
            begin, end = window["begin"], window["end"]
            while True:
                sent = time.perf_counter()
                if sent >= end:
                    break
                try:
                    response = client.get(url)
                    ok = (
                        response.status_code == 200
                        and response.content.count(ITEM_MARKER) == expected
                    )
                    if not ok and len(samples) < 3:
                        samples.append(f"{response.status_code}: {response.text[:200]}")
                except httpx.HTTPError as error:
                    ok = False
                    if len(samples) < 3:
                        samples.append(repr(error))
                done = time.perf_counter()
                if not ok:
                    errors[index] += 1
                elif begin <= sent and done <= end:
                    latencies[index].append(done - sent)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    now = time.perf_counter()
    window["begin"] = now + warmup
    window["end"] = now + warmup + seconds
    start_barrier.wait()
    for thread in threads:
        thread.join(timeout=warmup + seconds + 60)
    measured = sorted(x for per_client in latencies for x in per_client)
    return {
        "requests": len(measured),
        "requests_per_second": round(len(measured) / seconds, 2),
        "p50_ms": round(percentile(measured, 0.50) * 1000, 2),
        "p95_ms": round(percentile(measured, 0.95) * 1000, 2),
        "mean_ms": round(statistics.fmean(measured) * 1000, 2) if measured else 0.0,
        "errors": sum(errors),
        "error_samples": samples,
    }


def _load_in_child(
    url: str, token: str | None, expected: int, clients: int, warmup: float, seconds: float
) -> dict[str, Any]:
    spec = json.dumps(
        {
            "url": url,
            "token": token,
            "expected": expected,
            "clients": clients,
            "warmup": warmup,
            "seconds": seconds,
        }
    )
    completed = subprocess.run(  # noqa: S603 - our own interpreter and file, no shell
        [sys.executable, str(Path(__file__).resolve()), "--load"],
        input=spec,
        capture_output=True,
        text=True,
        timeout=warmup + seconds + 60,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"load generator failed: {completed.stderr.strip()[-2000:]}")
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


# ---------------------------------------------------------------- servers


def _bare_app(page: dict[str, Any]) -> Any:
    """No middleware, no auth, no database: the captured page, serialized the normal way."""
    from fastapi import FastAPI

    app = FastAPI()

    @app.get(PAGE_PATH)
    def stores(limit: int = 100) -> dict[str, Any]:
        return page

    return app


# ---------------------------------------------------------------- database


@dataclass
class Seeded:
    stores: int
    region_stores: int
    admin_token: str
    region_token: str
    seconds: float


def _seed(database: Any, store_count: int) -> Seeded:
    """One brand, 3 regions, a franchisee, ``store_count`` stores (every 10th franchised), a
    brand admin and a region manager, through the services."""
    from siyu.access.rules import Role, system_actor
    from siyu.access.schemas import ApiTokenCreate
    from siyu.access.service import actor_for_staff, issue_token
    from siyu.brands.service import create_brand
    from siyu.org.models import Ownership
    from siyu.org.schemas import FranchiseeCreate, RegionCreate, StoreCreate
    from siyu.org.service import create_franchisee, create_region, create_store
    from siyu.staff.schemas import StaffCreate
    from siyu.staff.service import hire_staff

    started = time.perf_counter()
    with database.unit_of_work() as session:
        brand = create_brand(session, slug=f"bench-{uuid.uuid4().hex[:6]}", name="Bench brand")
        system = system_actor(brand.id, "bench")
        regions = [
            create_region(session, system, RegionCreate(code=f"R{i}", name=f"Region {i}"))
            for i in (1, 2, 3)
        ]
        franchisee = create_franchisee(
            session, system, FranchiseeCreate(code="F1", name="Franchisee 1")
        )
        region_stores = 0
        for n in range(store_count):
            region = regions[n % 3]
            region_stores += region is regions[0]
            franchised = n % 10 == 9
            create_store(
                session,
                system,
                StoreCreate(
                    code=f"S{n:05d}",
                    name=f"Store {n:05d} 旗舰店",
                    region_id=region.id,
                    ownership=Ownership.FRANCHISE if franchised else Ownership.DIRECT,
                    franchisee_id=franchisee.id if franchised else None,
                    address=f"{n} Nanjing Road, Huangpu District, Shanghai",
                    latitude=f"31.{n:06d}"[:9],
                    longitude=f"121.{n:06d}"[:10],
                    opening_hours="mon-fri 10:00-22:00; sat,sun 09:00-23:00",
                    phone=f"138{n:08d}",
                ),
            )
        admin = hire_staff(
            session,
            system,
            StaffCreate(code="ADMIN", name="Bench admin", role=Role.BRAND_ADMIN),
        )
        manager = hire_staff(
            session,
            system,
            StaffCreate(
                code="RM1",
                name="Bench region manager",
                role=Role.REGION_MANAGER,
                region_id=regions[0].id,
            ),
        )
        _, admin_token = issue_token(session, actor_for_staff(admin), ApiTokenCreate(name="bench"))
        _, region_token = issue_token(
            session, actor_for_staff(manager), ApiTokenCreate(name="bench")
        )
    return Seeded(
        store_count, region_stores, admin_token, region_token, time.perf_counter() - started
    )


# ---------------------------------------------------------------- the benchmark


def main() -> dict[str, Any]:
    os.environ["SIYU_LOG_LEVEL"] = "WARNING"
    import httpx
    from rich.console import Console
    from rich.table import Table

    from siyu.config import get_settings
    from siyu.core.logging import configure_logging
    from siyu.db import migrate
    from siyu.db.embedded import drop_database, stop_embedded_servers
    from siyu.db.session import make_database
    from siyu.web.app import create_app

    get_settings.cache_clear()
    settings = get_settings()
    configure_logging(settings.log_format, "WARNING")
    seconds = env_float("SIYU_BENCH_SECONDS", 10.0)
    warmup = env_float("SIYU_BENCH_WARMUP", 2.0)
    clients = int(env_float("SIYU_BENCH_CLIENTS", 8))
    store_count = int(env_float("SIYU_BENCH_STORES", 1000))
    console = Console()
    load_before = os.getloadavg()[0]

    server_db, name, url = throwaway_database()
    database = None
    servers: list[BackgroundServer] = []
    try:
        with console.status("Migrating a throwaway database..."):
            migrate.upgrade(url)
        database = make_database(url, pool_size=clients + 2)
        with console.status(f"Seeding {store_count} stores through the services..."):
            seeded = _seed(database, store_count)
        console.print(f"Seeded {seeded.stores} stores in {seeded.seconds:.1f} s.")

        full = serve_in_thread(create_app(database))
        servers.append(full)
        query = f"{PAGE_PATH}?limit={store_count}"
        captured = httpx.get(
            full.base_url + query,
            headers={"Authorization": f"Bearer {seeded.admin_token}"},
            timeout=30,
        )
        captured.raise_for_status()
        page = captured.json()
        if len(page["items"]) != store_count:
            raise RuntimeError(f"expected {store_count} stores, got {len(page['items'])}")
        bare = serve_in_thread(_bare_app(page))
        servers.append(bare)
        bare_body = httpx.get(bare.base_url + query, timeout=30)
        if bare_body.json() != page:
            raise RuntimeError("the bare endpoint does not return the captured page")

        phases = [
            ("bare FastAPI (baseline)", bare.base_url + query, None, store_count),
            ("full stack, brand admin", full.base_url + query, seeded.admin_token, store_count),
            (
                "full stack, region manager",
                full.base_url + query,
                seeded.region_token,
                seeded.region_stores,
            ),
        ]
        results: dict[str, dict[str, Any]] = {}
        for label, target, token, expected in phases:
            with console.status(f"Loading {label} ({clients} clients, {warmup}+{seconds} s)..."):
                results[label] = _load_in_child(target, token, expected, clients, warmup, seconds)
    finally:
        for server in reversed(servers):
            server.stop()
        if database is not None:
            database.dispose()
        drop_database(server_db, name)
        stop_embedded_servers()

    baseline = results["bare FastAPI (baseline)"]
    admin = results["full stack, brand admin"]
    region = results["full stack, region manager"]
    table = Table(
        title=f"api-overhead: GET {PAGE_PATH}?limit={store_count} "
        f"({clients} keep-alive clients, {seconds:g} s after {warmup:g} s warm-up)"
    )
    for column in ("endpoint", "items", "req/s", "ratio", "p50 ms", "p95 ms", "errors"):
        table.add_column(column, justify="left" if column == "endpoint" else "right")
    for label, _, _, expected in phases:
        r = results[label]
        ratio = r["requests_per_second"] / baseline["requests_per_second"]
        table.add_row(
            label,
            str(expected),
            f"{r['requests_per_second']:.1f}",
            f"{ratio:.2f}",
            f"{r['p50_ms']:.1f}",
            f"{r['p95_ms']:.1f}",
            str(r["errors"]),
        )
    console.print(table)
    for label, r in results.items():
        for sample in r["error_samples"]:
            console.print(f"[red]error[/red] {label}: {sample}")
    console.print(f"Response body: {len(captured.content):,} bytes.")

    return {
        "benchmark": "api-overhead",
        "requests_per_second": admin["requests_per_second"],
        "baseline_requests_per_second": baseline["requests_per_second"],
        "ratio": round(admin["requests_per_second"] / baseline["requests_per_second"], 3)
        if baseline["requests_per_second"]
        else 0.0,
        "region_manager_requests_per_second": region["requests_per_second"],
        "region_manager_ratio": round(
            region["requests_per_second"] / baseline["requests_per_second"], 3
        )
        if baseline["requests_per_second"]
        else 0.0,
        "p50_ms": admin["p50_ms"],
        "p95_ms": admin["p95_ms"],
        "baseline_p50_ms": baseline["p50_ms"],
        "region_manager_p50_ms": region["p50_ms"],
        "errors": admin["errors"] + baseline["errors"] + region["errors"],
        "stores": store_count,
        "region_manager_stores": seeded.region_stores,
        "response_bytes": len(captured.content),
        "clients": clients,
        "seconds": seconds,
        "warmup_seconds": warmup,
        "seed_seconds": round(seeded.seconds, 1),
        "load_average_1m_before": round(load_before, 2),
        "cpus": os.cpu_count(),
    }


if __name__ == "__main__":
    if sys.argv[1:] == ["--load"]:
        spec = json.loads(sys.stdin.read())
        print(json.dumps(run_load(**spec)))
    else:
        print(json.dumps(main(), ensure_ascii=False))
