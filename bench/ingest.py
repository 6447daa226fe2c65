"""ingest: tracking events accepted per second through POST /api/storefront/events.

Goal (issue 4): >= 150,000 events/s accepted through the HTTP API in batches of 100 on this
2-core machine, and the ratio to a row-at-a-time insert baseline in the same run.

How: a throwaway database with one brand (10 stores, 50 products with 2 SKUs each, 20
touchpoints with scene keys, 200 consumers logged in through the sandbox, a storefront write
key), all through the services. The real app is served by ``siyu serve --processes 2
--no-worker`` in a child process (uvicorn with uvloop and httptools; two web processes share
the port, each with its event ingestor appending batches with group commit:
siyu.tracking.ingestion). The load comes from another child process (``python
bench/ingest.py --load``): a bounded asyncio (uvloop) raw-socket generator with keep-alive
connections on 127.0.0.1 only, each POSTing batches of 100 events (75 % of the connections
with a consumer token, 25 % with the write key and anonymous ids) for warm-up + measured
seconds. An event is counted when its response (sent after COMMIT) says ``accepted``. Then
one batch is sent again, the loader (siyu.tracking.loading) moves every waiting batch into
``tracking_event`` in this process, timed, and the rows there must equal the events accepted
(the resent batch stored once). The baseline inserts the same kind of rows one INSERT per
event in autocommit through the same database. CPU time of the server processes, the load
generator and PostgreSQL's backends over the measured window says where the time goes.

Knobs (environment): SIYU_BENCH_SECONDS (measured seconds, default 10), SIYU_BENCH_WARMUP
(2), SIYU_BENCH_CONNECTIONS (32), SIYU_BENCH_BATCH (100), SIYU_BENCH_PROCESSES (2 web
processes; 1 serves in a thread of this process, with SIYU_BENCH_FLUSHERS flusher threads),
SIYU_BENCH_BASELINE_SECONDS (5), SIYU_BENCH_EVENT_IDS (``ordered``, time-ordered ids like
UUIDv7, or ``random``, like UUIDv4).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _harness import env_float, free_port, percentile, serve_in_thread, throwaway_database

PATH = "/api/storefront/events"
STORES = 10
PRODUCTS = 50
TOUCHPOINTS = 20
CONSUMERS = 200
ANONYMOUS_PER_CONNECTION = 1000


# ---------------------------------------------------------------- load generator (child)


def _templates(spec: dict[str, Any], connection: int, anonymous: bool) -> list[bytes]:
    """The events of one batch as templates with two %s: the event id and occurred_at."""
    store_ids, skus, scene_keys = spec["store_ids"], spec["skus"], spec["scene_keys"]
    templates = []
    for i in range(spec["batch"]):
        n = connection * 7919 + i
        store = store_ids[n % len(store_ids)]
        product, sku = skus[n % len(skus)]
        slot = i % 20
        fields: dict[str, Any] = {"store_id": store}
        if slot < 3:
            fields |= {"kind": "visit", "scene": 1001}
        elif slot < 5:
            key = scene_keys[n % len(scene_keys)] if slot == 3 else f"tunknown{n % 97}"
            fields |= {"kind": "scan", "scene": 1047, "scene_key": key}
        elif slot < 13:
            fields |= {"kind": "view_item", "product_id": product, "sku_id": sku}
        elif slot < 16:
            fields |= {"kind": "add_to_cart", "product_id": product, "sku_id": sku}
        elif slot < 18:
            fields |= {"kind": "share", "product_id": product}
        elif slot == 18:
            fields |= {"kind": "claim_coupon"}
        else:
            fields |= {"kind": "custom", "name": "poster_saved"}
        if anonymous:
            fields["anonymous_id"] = "@ANON@"
        fields["properties"] = {"page": "pages/item/index", "price_fen": 12900, "from": "shelf"}
        body = json.dumps(fields, separators=(",", ":"))
        templates.append(
            ('{"event_id":"%s","occurred_at":"%s",' + body[1:]).replace('"@ANON@"', '"%s"').encode()
        )
    return templates


def run_load(spec: dict[str, Any]) -> dict[str, Any]:
    """Bounded: ``connections`` keep-alive connections for warmup + seconds, then one resend."""
    import asyncio
    from datetime import UTC, datetime

    try:
        import uvloop

        new_loop = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop is a dependency
        new_loop = asyncio.new_event_loop

    batch = spec["batch"]
    random_ids = spec["event_ids"] == "random"
    totals = {"accepted": 0, "duplicates": 0, "rejected": 0, "errors": 0}
    window = {"accepted": 0, "requests": 0}
    latencies: list[float] = []
    samples: list[str] = []
    first_bodies: dict[int, bytes] = {}
    started = time.perf_counter()
    begin = started + spec["warmup"]
    end = begin + spec["seconds"]

    async def exchange(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes, body: bytes
    ) -> tuple[int, bytes]:
        writer.write(head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
        response_head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in response_head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        return int(response_head[9:12]), await reader.readexactly(length)

    async def connection(index: int) -> None:
        credential = spec["credentials"][index]
        anonymous = credential["kind"] == "write_key"
        head = (
            f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"{credential['header']}\r\n"
        ).encode()
        templates = _templates(spec, index, anonymous)
        tag = b"%03x" % index
        counter = 0
        reader, writer = await asyncio.open_connection("127.0.0.1", spec["port"])
        try:
            while (now := time.perf_counter()) < end:
                at = datetime.now(UTC).isoformat().encode()
                if random_ids:
                    ids = [uuid.uuid4().hex.encode() for _ in range(batch)]
                else:
                    stamp = b"%013x" % time.time_ns()
                    ids = [b"%s-%s-%07x" % (stamp, tag, counter + i) for i in range(batch)]
                counter += batch
                if anonymous:
                    base = (index * 131 + counter) % ANONYMOUS_PER_CONNECTION
                    parts = [
                        t % (ids[i], at, b"v%03x-%04x" % (index, (base + i) % 1000))
                        for i, t in enumerate(templates)
                    ]
                else:
                    parts = [t % (ids[i], at) for i, t in enumerate(templates)]
                body = b'{"events":[' + b",".join(parts) + b"]}"
                first_bodies.setdefault(index, body)
                status, answer = await exchange(reader, writer, head, body)
                done = time.perf_counter()
                if status != 200:
                    totals["errors"] += 1
                    if len(samples) < 3:
                        samples.append(f"{status}: {answer[:300]!r}")
                    continue
                result = json.loads(answer)
                totals["accepted"] += result["accepted"]
                totals["duplicates"] += result["duplicates"]
                totals["rejected"] += len(result["rejected"])
                if result["rejected"] and len(samples) < 3:
                    samples.append(json.dumps(result["rejected"][:2]))
                if now >= begin and done <= end:
                    window["accepted"] += result["accepted"]
                    window["requests"] += 1
                    latencies.append(done - now)
            resent = None
            if index == 0 and 0 in first_bodies:
                status, answer = await exchange(reader, writer, head, first_bodies[0])
                resent = json.loads(answer) if status == 200 else {"status": status}
                resent["rejected"] = len(resent.get("rejected", []))
                totals["resent"] = resent  # type: ignore[assignment]
        finally:
            writer.close()

    async def main() -> None:
        await asyncio.gather(*(connection(i) for i in range(len(spec["credentials"]))))

    cpu_before = os.times()
    loop = new_loop()
    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
    cpu_after = os.times()
    measured = sorted(latencies)
    return {
        "totals": totals,
        "window_accepted": window["accepted"],
        "window_requests": window["requests"],
        "p50_ms": round(percentile(measured, 0.50) * 1000, 2),
        "p95_ms": round(percentile(measured, 0.95) * 1000, 2),
        "samples": samples,
        "cpu_seconds": round(
            (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system), 2
        ),
        "wall_seconds": round(time.perf_counter() - started, 2),
    }


def _load_in_child(spec: dict[str, Any]) -> subprocess.Popen[str]:
    return subprocess.Popen(  # noqa: S603 - our own interpreter and file, no shell
        [sys.executable, str(Path(__file__).resolve()), "--load"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


# ---------------------------------------------------------------- seeding


@dataclass
class Seeded:
    brand_id: int
    store_ids: list[int]
    skus: list[tuple[int, int]]
    scene_keys: list[str]
    consumer_tokens: list[str]
    write_key: str
    seconds: float


def _seed(database: Any) -> Seeded:
    from siyu.access.rules import system_actor
    from siyu.brands.service import create_brand
    from siyu.catalog.schemas import CategoryCreate, ProductCreate, SkuCreate
    from siyu.catalog.service import create_category, create_product
    from siyu.consumers.service import log_in_consumer
    from siyu.org.schemas import RegionCreate, StoreCreate
    from siyu.org.service import create_region, create_store
    from siyu.touchpoints.schemas import TouchpointCreate
    from siyu.touchpoints.service import create_touchpoint
    from siyu.tracking.schemas import WriteKeyCreate
    from siyu.tracking.service import create_write_key
    from siyu.wechat.sandbox import SANDBOX_MINI_PROGRAM, issue_login_code
    from siyu.wechat.service import mini_program_app_id

    started = time.perf_counter()
    with database.unit_of_work() as session:
        brand = create_brand(session, slug=f"bench-{uuid.uuid4().hex[:6]}", name="Bench brand")
        actor = system_actor(brand.id, "bench")
        region = create_region(session, actor, RegionCreate(code="R1", name="Region 1"))
        stores = [
            create_store(
                session,
                actor,
                StoreCreate(code=f"S{n:02d}", name=f"Store {n}", region_id=region.id),
            )
            for n in range(STORES)
        ]
        category = create_category(session, actor, CategoryCreate(code="C1", name="Tops"))
        skus: list[tuple[int, int]] = []
        for p in range(PRODUCTS):
            detail = create_product(
                session,
                actor,
                ProductCreate.model_validate(
                    {
                        "code": f"P{p:02d}",
                        "name": f"Product {p}",
                        "category_id": category.id,
                        "skus": [
                            SkuCreate(code=f"P{p:02d}-{size}", list_price_fen=9900)
                            for size in ("S", "M")
                        ],
                    }
                ),
            )
            skus.extend((detail.product.id, sku.id) for sku in detail.skus)
        scene_keys = [
            create_touchpoint(
                session,
                actor,
                TouchpointCreate(
                    code=f"TP{n:02d}",
                    name=f"Shelf code {n}",
                    kind="shelf_code",
                    store_id=stores[n % STORES].id,
                ),
            )
            .codes[0]
            .scene_key
            for n in range(TOUCHPOINTS)
        ]
        app_id = mini_program_app_id(session, brand.id)
        tokens = [
            log_in_consumer(
                session,
                brand_slug=brand.slug,
                code=issue_login_code(app_id, f"bench-user-{n}"),
                gateway=SANDBOX_MINI_PROGRAM,
            )[1]
            for n in range(CONSUMERS)
        ]
        _, write_key = create_write_key(session, actor, WriteKeyCreate(name="bench"))
    return Seeded(
        brand.id,
        [s.id for s in stores],
        skus,
        scene_keys,
        tokens,
        write_key,
        time.perf_counter() - started,
    )


# ---------------------------------------------------------------- the server


@dataclass
class ServerProcesses:
    """``siyu serve --processes N`` in a child process: uvicorn's supervisor and N web
    processes sharing one port."""

    process: subprocess.Popen[bytes]
    port: int

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _serve_processes(url: str, processes: int) -> ServerProcesses:
    import shutil
    import urllib.request

    port = free_port()
    command = [
        shutil.which("siyu") or "siyu",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--processes",
        str(processes),
        "--no-worker",
    ]
    environment = {**os.environ, "SIYU_DATABASE_URL": url, "SIYU_LOG_LEVEL": "WARNING"}
    process = subprocess.Popen(  # noqa: S603 - our own command, no shell
        command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    server = ServerProcesses(process, port)
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                pass
            if len(_server_pids(server)) > processes:
                return server
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"siyu serve did not start on port {port}")
        time.sleep(0.2)


def _server_pids(server: Any) -> list[int]:
    """The processes serving: this one (a server in a thread), or the child's whole tree."""
    if not isinstance(server, ServerProcesses):
        return [os.getpid()]
    pids = [server.process.pid]
    for pid in pids:
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            continue
        pids.extend(int(child) for child in children)
    return pids


# ---------------------------------------------------------------- CPU accounting


def _postgres_pids(database: Any) -> tuple[list[int], list[int]]:
    """This run's PostgreSQL processes: the backends of its database, and the server's
    auxiliary processes (WAL writer, checkpointer, I/O workers...), which also work for any
    other database on the same server."""
    from sqlalchemy import text

    with database.engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT pid, datname = current_database() FROM pg_stat_activity"
                " WHERE datname = current_database() OR backend_type <> 'client backend'"
            )
        ).all()
    return [pid for pid, own in rows if own], [pid for pid, own in rows if not own]


def _cpu_seconds(pids: list[int]) -> dict[int, float]:
    """CPU seconds used so far by each of the processes ``pids`` still running."""
    ticks = os.sysconf("SC_CLK_TCK")
    used: dict[int, float] = {}
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        used[pid] = (int(fields[11]) + int(fields[12])) / ticks
    return used


def _cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds used between two readings by the processes present in both."""
    return sum(after[pid] - before[pid] for pid in before.keys() & after.keys())


def _own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


# ---------------------------------------------------------------- baseline


def _baseline(url: str, seeded: Seeded, seconds: float) -> tuple[int, float]:
    """Row-at-a-time: one INSERT per event in autocommit, same columns, same database."""
    from datetime import UTC, datetime

    import psycopg

    from siyu.db.embedded import libpq_conninfo

    sql = (
        "INSERT INTO tracking_event (brand_id, event_id, kind, occurred_at, received_at,"
        " anonymous_id, store_id, product_id, sku_id, scene, properties)"
        " VALUES (%s, %s, 'view_item', %s, %s, %s, %s, %s, %s, 1001, %s)"
    )
    properties = '{"page":"pages/item/index","price_fen":12900,"from":"shelf"}'
    rows = 0
    with psycopg.connect(libpq_conninfo(url), autocommit=True) as connection:
        started = time.perf_counter()
        deadline = started + seconds
        while time.perf_counter() < deadline:
            now = datetime.now(UTC)
            product, sku = seeded.skus[rows % len(seeded.skus)]
            connection.execute(
                sql,
                (
                    seeded.brand_id,
                    f"baseline-{time.time_ns():x}-{rows}",
                    now,
                    now,
                    f"b{rows % 1000}",
                    seeded.store_ids[rows % len(seeded.store_ids)],
                    product,
                    sku,
                    properties,
                ),
                prepare=True,
            )
            rows += 1
        elapsed = time.perf_counter() - started
    return rows, elapsed


# ---------------------------------------------------------------- the benchmark


def main() -> dict[str, Any]:
    os.environ["SIYU_LOG_LEVEL"] = "WARNING"
    from rich.console import Console
    from rich.table import Table
    from sqlalchemy import text

    from siyu.config import get_settings
    from siyu.core.logging import configure_logging
    from siyu.db import migrate
    from siyu.db.embedded import drop_database, stop_embedded_servers
    from siyu.db.session import make_database
    from siyu.tracking.ingestion import EventIngestor
    from siyu.tracking.loading import EventLoader
    from siyu.web.app import create_app

    get_settings.cache_clear()
    configure_logging(get_settings().log_format, "WARNING")
    seconds = env_float("SIYU_BENCH_SECONDS", 10.0)
    warmup = env_float("SIYU_BENCH_WARMUP", 2.0)
    connections = int(env_float("SIYU_BENCH_CONNECTIONS", 32))
    batch = int(env_float("SIYU_BENCH_BATCH", 100))
    flushers = int(env_float("SIYU_BENCH_FLUSHERS", 2))
    processes = int(env_float("SIYU_BENCH_PROCESSES", 2))
    baseline_seconds = env_float("SIYU_BENCH_BASELINE_SECONDS", 5.0)
    event_ids = os.environ.get("SIYU_BENCH_EVENT_IDS", "ordered")
    console = Console()
    load_before = os.getloadavg()[0]

    server_db, name, url = throwaway_database()
    database = None
    server = None
    try:
        with console.status("Migrating a throwaway database..."):
            migrate.upgrade(url)
        database = make_database(url, pool_size=4)
        with console.status("Seeding through the services..."):
            seeded = _seed(database)
        console.print(f"Seeded one brand in {seeded.seconds:.1f} s.")

        if processes > 1:
            server = _serve_processes(url, processes)
            port = server.port
        else:
            app = create_app(database)
            app.state.tracking_ingestor = EventIngestor(database, flushers=flushers)
            server = serve_in_thread(app)
            port = int(server.base_url.rsplit(":", 1)[1])
        server_pids = _server_pids(server)
        credentials = []
        for index in range(connections):
            if index % 4 == 3:
                credentials.append(
                    {"kind": "write_key", "header": f"X-Siyu-Write-Key: {seeded.write_key}"}
                )
            else:
                token = seeded.consumer_tokens[index % len(seeded.consumer_tokens)]
                credentials.append({"kind": "consumer", "header": f"Authorization: Bearer {token}"})
        spec = {
            "port": port,
            "credentials": credentials,
            "batch": batch,
            "warmup": warmup,
            "seconds": seconds,
            "event_ids": event_ids,
            "store_ids": seeded.store_ids,
            "skus": seeded.skus,
            "scene_keys": seeded.scene_keys,
        }
        with console.status(
            f"Loading {connections} connections x batches of {batch} ({warmup:g}+{seconds:g} s)..."
        ):
            child = _load_in_child(spec)
            assert child.stdin is not None
            child.stdin.write(json.dumps(spec))
            child.stdin.close()
            child.stdin = None  # communicate() below must not touch it again
            time.sleep(warmup)
            backends, auxiliary = _postgres_pids(database)
            server_pids = _server_pids(server)
            cpu_start = (
                _cpu_seconds(server_pids),
                _cpu_seconds(backends),
                _cpu_seconds(auxiliary),
                time.perf_counter(),
            )
            time.sleep(seconds)
            cpu_end = (
                _cpu_seconds(server_pids),
                _cpu_seconds(backends),
                _cpu_seconds(auxiliary),
                time.perf_counter(),
            )
            output, errors = child.communicate(timeout=warmup + seconds + 120)
        if child.returncode != 0:
            raise RuntimeError(f"load generator failed: {errors.strip()[-2000:]}")
        load = json.loads(output.strip().splitlines()[-1])
        server.stop()
        server = None

        with database.unit_of_work() as session:
            waiting = session.execute(
                text("SELECT count(*), coalesce(sum(event_count), 0) FROM tracking_batch")
            ).one()
        loader = EventLoader(database)
        with console.status(f"Loading {waiting[1]:,} events into tracking_event..."):
            backends, _ = _postgres_pids(database)
            load_cpu_start = (_own_cpu_seconds(), _cpu_seconds(backends))
            load_started = time.perf_counter()
            loaded = loader.load_pending()
            load_elapsed = time.perf_counter() - load_started
            backends, _ = _postgres_pids(database)
            load_cpu = (
                _own_cpu_seconds() - load_cpu_start[0],
                sum(
                    used - load_cpu_start[1].get(pid, 0.0)
                    for pid, used in _cpu_seconds(backends).items()
                ),
            )
            loader.close()
        with database.unit_of_work() as session:
            persisted = session.execute(text("SELECT count(*) FROM tracking_event")).scalar_one()
            left = session.execute(text("SELECT count(*) FROM tracking_batch")).scalar_one()
        with console.status(
            f"Baseline: one INSERT per event, autocommit ({baseline_seconds:g} s)..."
        ):
            baseline_rows, baseline_elapsed = _baseline(url, seeded, baseline_seconds)
    finally:
        if server is not None:
            server.stop()
        if database is not None:
            database.dispose()
        drop_database(server_db, name)
        stop_embedded_servers()

    totals = load["totals"]
    events_per_second = load["window_accepted"] / seconds
    baseline_per_second = baseline_rows / baseline_elapsed
    window = cpu_end[3] - cpu_start[3]
    server_cores = _cpu_used(cpu_start[0], cpu_end[0]) / window
    postgres_cores = _cpu_used(cpu_start[1], cpu_end[1]) / window
    auxiliary_cores = _cpu_used(cpu_start[2], cpu_end[2]) / window
    generator_cores = load["cpu_seconds"] / load["wall_seconds"]
    table = Table(
        title=f"ingest: POST {PATH}, batches of {batch}, {connections} connections, "
        f"{seconds:g} s after {warmup:g} s warm-up, {event_ids} event ids"
    )
    for column in ("path", "events/s", "ratio", "p50 ms", "p95 ms"):
        table.add_column(column, justify="left" if column == "path" else "right")
    table.add_row(
        "HTTP API, group commit of batches",
        f"{events_per_second:,.0f}",
        f"{events_per_second / baseline_per_second:.1f}",
        f"{load['p50_ms']:.1f}",
        f"{load['p95_ms']:.1f}",
    )
    table.add_row("baseline: INSERT per event", f"{baseline_per_second:,.0f}", "1.0", "", "")
    console.print(table)
    verified = persisted == totals["accepted"] and left == 0
    verdict = "verified" if verified else "MISMATCH"
    console.print(
        f"Accepted {totals['accepted']:,} events in the whole run, then one batch resent "
        f"({totals.get('resent')}); {waiting[0]:,} batches with {waiting[1]:,} events waiting; "
        f"loaded: {persisted:,} rows in tracking_event, {left} batches left ({verdict}: the "
        f"resent events are stored once); rejected {totals['rejected']}, duplicates "
        f"{totals['duplicates']}, errors {totals['errors']}."
    )
    loaded_per_second = loaded / load_elapsed if load_elapsed else 0.0
    console.print(
        f"Loader (siyu.tracking.loading, one process, after the load): {loaded:,} events in "
        f"{load_elapsed:.1f} s = {loaded_per_second:,.0f} events/s; CPU per event: loader "
        f"{load_cpu[0] / max(loaded, 1) * 1e6:.1f} us, PostgreSQL "
        f"{load_cpu[1] / max(loaded, 1) * 1e6:.1f} us."
    )
    per_event = 1e6 / events_per_second if events_per_second else 0.0
    console.print(
        f"CPU over the window (cores of 2): server process {server_cores:.2f}, PostgreSQL "
        f"backends {postgres_cores:.2f} (+ shared auxiliary processes {auxiliary_cores:.2f}), "
        f"load generator {generator_cores:.2f}; per accepted event: server "
        f"{server_cores * per_event:.1f} us, "
        f"PostgreSQL backends {postgres_cores * per_event:.1f} us."
    )
    for sample in load["samples"]:
        console.print(f"[red]sample[/red] {sample}")
    resent = totals.get("resent") or {}
    return {
        "benchmark": "ingest",
        "events_per_second": round(events_per_second),
        "baseline_events_per_second": round(baseline_per_second),
        "ratio": round(events_per_second / baseline_per_second, 1),
        "goal_events_per_second": 150_000,
        "goal_met": events_per_second >= 150_000,
        "p50_ms": load["p50_ms"],
        "p95_ms": load["p95_ms"],
        "requests_per_second": round(load["window_requests"] / seconds, 1),
        "accepted_total": totals["accepted"],
        "batches_waiting": waiting[0],
        "events_waiting": int(waiting[1]),
        "loaded_events": loaded,
        "loader_events_per_second": round(loaded_per_second),
        "loader_cpu_us_per_event": round(load_cpu[0] / max(loaded, 1) * 1e6, 1),
        "loader_postgres_cpu_us_per_event": round(load_cpu[1] / max(loaded, 1) * 1e6, 1),
        "persisted_rows": persisted,
        "persisted_verified": verified,
        "rejected": totals["rejected"],
        "duplicates": totals["duplicates"],
        "errors": totals["errors"],
        "resend_accepted": resent.get("accepted"),
        "resend_duplicates": resent.get("duplicates"),
        "baseline_rows": baseline_rows,
        "server_cores": round(server_cores, 2),
        "postgres_cores": round(postgres_cores, 2),
        "postgres_auxiliary_cores": round(auxiliary_cores, 2),
        "load_generator_cores": round(generator_cores, 2),
        "server_cpu_us_per_event": round(server_cores * per_event, 1),
        "postgres_cpu_us_per_event": round(postgres_cores * per_event, 1),
        "batch": batch,
        "connections": connections,
        "flushers": flushers,
        "server_processes": processes,
        "event_ids": event_ids,
        "seconds": seconds,
        "warmup_seconds": warmup,
        "seed_seconds": round(seeded.seconds, 1),
        "load_average_1m_before": round(load_before, 2),
        "cpus": os.cpu_count(),
    }


if __name__ == "__main__":
    if sys.argv[1:] == ["--load"]:
        print(json.dumps(run_load(json.loads(sys.stdin.read()))))
    else:
        print(json.dumps(main(), ensure_ascii=False))
