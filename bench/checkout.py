"""checkout: placing and paying orders of 3 SKUs through the HTTP API, 32 concurrent consumers.

Goal (issue 3): orders/s placing and paying orders of 3 normal SKUs with 32 concurrent
consumers, and SQL statements per placed order (Saleor runs ~230; siyu's goal is at most 25).

Each consumer loops over the whole purchase, all over HTTP on 127.0.0.1:
1. POST /api/storefront/stores/{id}/orders (3 random SKUs, pickup, Idempotency-Key);
2. POST /api/storefront/orders/{id}/payments (a WeChat Pay prepay id from the sandbox);
3. the payer confirms at the simulated WeChat Pay platform (a separate small app with its own
   database connections, standing in for WeChat's servers), which returns the signed, encrypted
   TRANSACTION.SUCCESS notification;
4. POST /api/payments/wechat/notify with that notification (signature verified, order paid,
   stock allocated).
An order counts once its notification was accepted (204). The load runs in a child process so
the clients do not share the servers' GIL.

Baseline, served the same way in the same run: one endpoint that places and pays in plain SQL in
one transaction (3 conditional stock updates, an order row and 3 line rows), with no checks,
pricing, events or payment provider: the floor of what any checkout costs on this stack.

Statements per order are counted exactly (SQLAlchemy cursor events on siyu's engine) over a
single-consumer run of the same four steps, phase by phase.

Knobs: SIYU_BENCH_SECONDS (default 10), SIYU_BENCH_WARMUP (2), SIYU_BENCH_CLIENTS (32).
"""

from __future__ import annotations

import base64
import json
import os
import random
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

STORES = 10
PRODUCTS = 10
SIZES = ("S", "M", "L")


# ---------------------------------------------------------------- load generator (child)


def run_load(spec: dict[str, Any]) -> dict[str, Any]:
    import httpx

    clients: int = spec["clients"]
    warmup: float = spec["warmup"]
    seconds: float = spec["seconds"]
    barrier = threading.Barrier(clients + 1)
    window: dict[str, float] = {}
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    samples: list[str] = []

    def full_purchase(client: httpx.Client, rng: random.Random, token: str) -> bool:
        auth = {"Authorization": f"Bearer {token}"}
        store = rng.choice(spec["stores"])
        skus = rng.sample(spec["skus"], 3)
        placed = client.post(
            f"{spec['siyu']}/api/storefront/stores/{store}/orders",
            json={
                "lines": [{"sku_id": sku, "quantity": 1} for sku in skus],
                "fulfilment_method": "pickup",
            },
            headers={**auth, "Idempotency-Key": uuid.uuid4().hex},
        )
        if placed.status_code != 201:
            raise RuntimeError(f"place {placed.status_code}: {placed.text[:200]}")
        order_id = placed.json()["id"]
        started = client.post(
            f"{spec['siyu']}/api/storefront/orders/{order_id}/payments", headers=auth
        )
        if started.status_code != 200:
            raise RuntimeError(f"pay {started.status_code}: {started.text[:200]}")
        prepay_id = started.json()["pay_params"]["package"].removeprefix("prepay_id=")
        confirmed = client.post(f"{spec['platform']}/pay/{prepay_id}")
        if confirmed.status_code != 200:
            raise RuntimeError(f"platform {confirmed.status_code}: {confirmed.text[:200]}")
        notification = confirmed.json()
        notified = client.post(
            f"{spec['siyu']}/api/payments/wechat/notify",
            content=base64.b64decode(notification["body"]),
            headers=notification["headers"],
        )
        if notified.status_code != 204:
            raise RuntimeError(f"notify {notified.status_code}: {notified.text[:200]}")
        return True

    def baseline_purchase(client: httpx.Client, rng: random.Random, token: str) -> bool:
        store = rng.choice(spec["store_locations"])
        skus = rng.sample(spec["skus"], 3)
        response = client.post(
            f"{spec['baseline']}/checkout", json={"location": store, "skus": skus}
        )
        if response.status_code != 200:
            raise RuntimeError(f"baseline {response.status_code}: {response.text[:200]}")
        return True

    purchase = full_purchase if spec["mode"] == "full" else baseline_purchase

    def worker(index: int) -> None:
        rng = random.Random(index)
        token = spec["tokens"][index % len(spec["tokens"])]
        with httpx.Client(timeout=60.0) as client:
            barrier.wait()
            begin, end = window["begin"], window["end"]
            while True:
                sent = time.perf_counter()
                if sent >= end:
                    break
                try:
                    ok = purchase(client, rng, token)
                except (RuntimeError, httpx.HTTPError, KeyError) as error:
                    ok = False
                    if len(samples) < 3:
                        samples.append(str(error))
                done = time.perf_counter()
                if not ok:
                    errors[index] += 1
                elif begin <= sent and done <= end:
                    latencies[index].append(done - sent)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    now = time.perf_counter()
    window["begin"], window["end"] = now + warmup, now + warmup + seconds
    barrier.wait()
    for thread in threads:
        thread.join(timeout=warmup + seconds + 120)
    measured = sorted(x for per in latencies for x in per)
    return {
        "orders": len(measured),
        "orders_per_second": round(len(measured) / seconds, 2),
        "p50_ms": round(percentile(measured, 0.5) * 1000, 1),
        "p95_ms": round(percentile(measured, 0.95) * 1000, 1),
        "mean_ms": round(statistics.fmean(measured) * 1000, 1) if measured else 0.0,
        "errors": sum(errors),
        "error_samples": samples,
    }


def _load_in_child(spec: dict[str, Any]) -> dict[str, Any]:
    completed = subprocess.run(  # noqa: S603 - our own interpreter and file, no shell
        [sys.executable, str(Path(__file__).resolve()), "--load"],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        timeout=spec["warmup"] + spec["seconds"] + 180,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"load generator failed: {completed.stderr.strip()[-2000:]}")
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


# ---------------------------------------------------------------- servers


def _platform_app(platform_db: Any) -> Any:
    """The stand-in for WeChat Pay's servers: confirms a payment and hands back the signed,
    encrypted notification WeChat would send (no job is queued)."""
    from fastapi import FastAPI

    from siyu.core.clock import utc_now
    from siyu.wechat.sandbox_pay import payment_notification, sandbox_pay

    app = FastAPI()

    @app.post("/pay/{prepay_id}")
    def pay(prepay_id: str) -> dict[str, Any]:
        with platform_db.unit_of_work() as session:
            tx = sandbox_pay(session, prepay_id, copies=0)
            headers, body = payment_notification(tx, utc_now())
        return {"headers": headers, "body": base64.b64encode(body).decode()}

    return app


def _baseline_app(database: Any, brand_id: int) -> Any:
    from fastapi import FastAPI, HTTPException
    from sqlalchemy import text

    app = FastAPI()

    @app.post("/checkout")
    def checkout(payload: dict[str, Any]) -> dict[str, int]:
        with database.engine.begin() as connection:
            for sku in sorted(payload["skus"]):
                updated = connection.execute(
                    text(
                        "UPDATE stock_level SET allocated = allocated + 1 WHERE brand_id = :b "
                        "AND location_id = :l AND sku_id = :s "
                        "AND on_hand - reserved - allocated >= 1"
                    ),
                    {"b": brand_id, "l": payload["location"], "s": sku},
                ).rowcount
                if updated != 1:
                    raise HTTPException(409, "out of stock")
            order_id = connection.execute(
                text("INSERT INTO bench_order (skus) VALUES (:skus) RETURNING id"),
                {"skus": json.dumps(payload["skus"])},
            ).scalar_one()
            connection.execute(
                text("INSERT INTO bench_order_line (order_id, sku_id) VALUES (:o, :s)"),
                [{"o": order_id, "s": sku} for sku in payload["skus"]],
            )
        return {"order_id": int(order_id)}

    return app


# ---------------------------------------------------------------- database


@dataclass
class Seeded:
    brand_id: int
    store_ids: list[int]
    store_location_ids: list[int]
    sku_ids: list[int]
    tokens: list[str]
    seconds: float


def _seed(database: Any, consumers: int) -> Seeded:
    """One brand, STORES open stores, PRODUCTS × 3 sizes, plenty of stock, and consumers
    logged in through the sandbox mini-program login: all through the services."""
    from sqlalchemy import select, text

    from siyu.access.rules import system_actor
    from siyu.brands.service import create_brand
    from siyu.catalog.schemas import CategoryCreate, ProductCreate, SkuCreate
    from siyu.catalog.service import create_category, create_product
    from siyu.consumers.service import log_in_consumer
    from siyu.inventory.models import StockLevel
    from siyu.org.models import StockLocation
    from siyu.org.schemas import RegionCreate, StoreCreate
    from siyu.org.service import create_region, create_store
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
                StoreCreate(
                    code=f"S{n:02d}",
                    name=f"Store {n}",
                    region_id=region.id,
                    opening_hours="00:00-24:00",
                ),
            )
            for n in range(STORES)
        ]
        category = create_category(session, actor, CategoryCreate(code="C1", name="Tops"))
        sku_ids: list[int] = []
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
                            SkuCreate(
                                code=f"P{p:02d}-{size}",
                                attributes={"size": size},
                                list_price_fen=9900 + 100 * p,
                            )
                            for size in SIZES
                        ],
                    }
                ),
            )
            sku_ids.extend(sku.id for sku in detail.skus)
        locations = session.scalars(
            select(StockLocation.id).where(
                StockLocation.brand_id == brand.id, StockLocation.store_id.is_not(None)
            )
        ).all()
        session.add_all(
            StockLevel(brand_id=brand.id, location_id=location, sku_id=sku, on_hand=10_000_000)
            for location in locations
            for sku in sku_ids
        )
        session.flush()
        app_id = mini_program_app_id(session, brand.id)
        tokens = [
            log_in_consumer(
                session,
                brand_slug=brand.slug,
                code=issue_login_code(app_id, f"bench-user-{n}"),
                gateway=SANDBOX_MINI_PROGRAM,
            )[1]
            for n in range(consumers)
        ]
        session.execute(text("CREATE TABLE bench_order (id bigserial PRIMARY KEY, skus jsonb)"))
        session.execute(text("CREATE TABLE bench_order_line (order_id bigint, sku_id bigint)"))
    return Seeded(
        brand.id,
        [s.id for s in stores],
        list(locations),
        sku_ids,
        tokens,
        time.perf_counter() - started,
    )


def _count_statements(database: Any) -> dict[str, int]:
    """One purchase by one consumer, phase by phase: SQL statements siyu ran for each."""
    from sqlalchemy import event

    counter = {"n": 0}

    def count(*_: Any) -> None:
        counter["n"] += 1

    event.listen(database.engine, "before_cursor_execute", count)
    return counter


def _single_purchase(spec: dict[str, Any], counter: dict[str, int]) -> dict[str, int]:
    import httpx

    phases: dict[str, int] = {}
    token = spec["tokens"][0]
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(timeout=30.0) as client:
        start = counter["n"]
        placed = client.post(
            f"{spec['siyu']}/api/storefront/stores/{spec['stores'][0]}/orders",
            json={
                "lines": [{"sku_id": s, "quantity": 1} for s in spec["skus"][:3]],
                "fulfilment_method": "pickup",
            },
            headers={**auth, "Idempotency-Key": uuid.uuid4().hex},
        )
        placed.raise_for_status()
        phases["place"] = counter["n"] - start
        start = counter["n"]
        started = client.post(
            f"{spec['siyu']}/api/storefront/orders/{placed.json()['id']}/payments", headers=auth
        )
        started.raise_for_status()
        phases["start_payment"] = counter["n"] - start
        prepay_id = started.json()["pay_params"]["package"].removeprefix("prepay_id=")
        notification = client.post(f"{spec['platform']}/pay/{prepay_id}").json()
        start = counter["n"]
        notified = client.post(
            f"{spec['siyu']}/api/payments/wechat/notify",
            content=base64.b64decode(notification["body"]),
            headers=notification["headers"],
        )
        if notified.status_code != 204:
            raise RuntimeError(f"notify {notified.status_code}: {notified.text}")
        phases["payment_notification"] = counter["n"] - start
        paid = client.get(
            f"{spec['siyu']}/api/storefront/orders/{placed.json()['id']}", headers=auth
        ).json()
        if paid["payment_status"] != "paid":
            raise RuntimeError("the order was not paid")
    return phases


def main() -> dict[str, Any]:
    os.environ["SIYU_LOG_LEVEL"] = "WARNING"
    from rich.console import Console
    from rich.table import Table
    from sqlalchemy import func, select

    from siyu.config import get_settings
    from siyu.core.logging import configure_logging
    from siyu.db import migrate
    from siyu.db.embedded import drop_database, stop_embedded_servers
    from siyu.db.session import make_database, set_database
    from siyu.orders.models import Order
    from siyu.web.app import create_app

    get_settings.cache_clear()
    configure_logging(get_settings().log_format, "WARNING")
    seconds = env_float("SIYU_BENCH_SECONDS", 10.0)
    warmup = env_float("SIYU_BENCH_WARMUP", 2.0)
    clients = int(env_float("SIYU_BENCH_CLIENTS", 32))
    console = Console()
    load_before = os.getloadavg()[0]
    server_db, name, url = throwaway_database()
    databases: list[Any] = []
    servers: list[BackgroundServer] = []
    try:
        with console.status("Migrating a throwaway database..."):
            migrate.upgrade(url)
        database = make_database(url, pool_size=12)
        platform_db = make_database(url, pool_size=4)
        databases += [database, platform_db]
        set_database(database)
        with console.status("Seeding stores, catalog, stock and consumers..."):
            seeded = _seed(database, clients)
        console.print(f"Seeded in {seeded.seconds:.1f} s.")
        siyu_server = serve_in_thread(create_app(database))
        platform = serve_in_thread(_platform_app(platform_db))
        baseline_server = serve_in_thread(_baseline_app(platform_db, seeded.brand_id))
        servers += [siyu_server, platform, baseline_server]
        spec: dict[str, Any] = {
            "siyu": siyu_server.base_url,
            "platform": platform.base_url,
            "baseline": baseline_server.base_url,
            "stores": seeded.store_ids,
            "store_locations": seeded.store_location_ids,
            "skus": seeded.sku_ids,
            "tokens": seeded.tokens,
            "clients": clients,
            "warmup": warmup,
            "seconds": seconds,
        }
        counter = _count_statements(database)
        statements = _single_purchase(spec, counter)
        results: dict[str, dict[str, Any]] = {}
        for mode, label in (("baseline", "plain SQL checkout (baseline)"), ("full", "siyu")):
            with console.status(f"Loading {label} ({clients} consumers, {warmup}+{seconds} s)..."):
                results[mode] = _load_in_child({**spec, "mode": mode})
        with database.sessions() as session:
            unpaid = session.scalar(
                select(func.count()).select_from(Order).where(Order.payment_status == "unpaid")
            )
    finally:
        for server in reversed(servers):
            server.stop()
        for db in databases:
            db.dispose()
        set_database(None)
        drop_database(server_db, name)
        stop_embedded_servers()

    full, baseline = results["full"], results["baseline"]
    per_order = statements["place"]
    per_paid_order = sum(statements.values())
    table = Table(
        title=f"checkout: {clients} consumers, 3 SKUs per order, pickup, "
        f"{seconds:g} s after {warmup:g} s warm-up"
    )
    for column in ("flow", "orders/s", "ratio", "p50 ms", "p95 ms", "errors"):
        table.add_column(column, justify="left" if column == "flow" else "right")
    for mode, label in (
        ("baseline", "plain SQL checkout (baseline)"),
        ("full", "siyu: place + pay + notification"),
    ):
        r = results[mode]
        table.add_row(
            label,
            f"{r['orders_per_second']:.1f}",
            f"{r['orders_per_second'] / baseline['orders_per_second']:.2f}",
            f"{r['p50_ms']:.0f}",
            f"{r['p95_ms']:.0f}",
            str(r["errors"]),
        )
    console.print(table)
    console.print(f"SQL statements for one order: {statements} (total {per_paid_order}).")
    for mode, r in results.items():
        for sample in r["error_samples"]:
            console.print(f"[red]error[/red] {mode}: {sample}")
    return {
        "benchmark": "checkout",
        "orders_per_second": full["orders_per_second"],
        "statements_per_placed_order": per_order,
        "statements_per_paid_order": per_paid_order,
        "statements_by_phase": statements,
        "baseline_orders_per_second": baseline["orders_per_second"],
        "ratio": round(full["orders_per_second"] / baseline["orders_per_second"], 3)
        if baseline["orders_per_second"]
        else 0.0,
        "p50_ms": full["p50_ms"],
        "p95_ms": full["p95_ms"],
        "errors": full["errors"],
        "orders_left_unpaid": unpaid,
        "consumers": clients,
        "seconds": seconds,
        "warmup_seconds": warmup,
        "load_average_1m_before": round(load_before, 2),
        "cpus": os.cpu_count(),
    }


if __name__ == "__main__":
    if sys.argv[1:] == ["--load"]:
        print(json.dumps(run_load(json.loads(sys.stdin.read()))))
    else:
        print(json.dumps(main(), ensure_ascii=False))
