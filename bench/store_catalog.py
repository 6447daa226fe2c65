"""store-catalog: a cloud store's catalog page at 1,000 stores x 10,000 SKUs, sparse overrides.

Goal (issue 3): p95 < 100 ms for a store's catalog page
(``GET /api/storefront/stores/{id}/catalog?limit=50``) through the full HTTP stack (consumer
token authentication, the unit of work, resolution of overrides, stock, serialization), with
a ratio to baselines measured in the same run:

- ``precomputed``: a bare FastAPI app (no middleware, auth or database) serving a page
  captured from the real endpoint: what the page would cost if every store's page were
  materialised ahead of time;
- ``plain SQL``: one ``SELECT`` of 50 SKUs joined to their products, in this process,
  without HTTP: the database's share of the cheapest conceivable page.

Seeding: the organization (3 regions, 1,000 stores with their stock locations, 2 warehouses),
the category tree and the consumer go through the services; the volume data (2,000 products,
10,000 SKUs, overrides, stock levels) is bulk-inserted with COPY, bypassing the services.
Overrides: 300 per region (half product-level, half SKU-level; a tenth unlist, the rest set
a price or a stock source) and, for 5% of the stores, 20-50 store overrides each. Stock: both
warehouses hold every SKU; each store location holds 300 SKUs (a physical store carries a few
hundred of the brand's SKUs), so 320,000 stock levels.

Requests are sequential (one keep-alive client in this process, the server in a thread), so
the figures are latencies, not throughput; the stores asked for alternate between stores
with their own overrides and plain ones. Everything talks to 127.0.0.1 only.

Knobs (environment): SIYU_BENCH_SECONDS (measured seconds per phase, default 10),
SIYU_BENCH_WARMUP (default 2), SIYU_BENCH_STORES (default 1000), SIYU_BENCH_SKUS (default
10000).
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

from _harness import percentile, serve_in_thread, throwaway_database

SKUS_PER_PRODUCT = 5
STOCKED_SKUS_PER_STORE = 300
REGION_OVERRIDES = 300
STORE_OVERRIDE_SHARE = 0.05
PAGE = 50


def _env(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


def _copy(
    connection: Any, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> None:
    """COPY rows into ``table`` through the raw psycopg connection."""
    raw = connection.connection.driver_connection
    with (
        raw.cursor() as cursor,
        cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)


# ---------------------------------------------------------------- seeding


def _seed(database: Any, store_count: int, sku_count: int) -> dict[str, Any]:
    import orjson
    from sqlalchemy import select, text

    from siyu.access.rules import system_actor
    from siyu.brands.service import create_brand
    from siyu.catalog.demo import seed_demo_categories
    from siyu.consumers.service import log_in_consumer
    from siyu.org.models import Ownership, StockLocation
    from siyu.org.schemas import FranchiseeCreate, RegionCreate, StoreCreate, WarehouseCreate
    from siyu.org.service import create_franchisee, create_region, create_store, create_warehouse
    from siyu.wechat.sandbox import SANDBOX_MINI_PROGRAM, issue_login_code
    from siyu.wechat.service import mini_program_app_id

    rng = random.Random(20261122)
    started = time.perf_counter()
    with database.unit_of_work() as session:
        brand = create_brand(session, slug=f"bench-{uuid.uuid4().hex[:6]}", name="Bench brand")
        system = system_actor(brand.id, "bench")
        regions = [
            create_region(session, system, RegionCreate(code=f"R{i}", name=f"Region {i}"))
            for i in (1, 2, 3)
        ]
        franchisee = create_franchisee(session, system, FranchiseeCreate(code="F1", name="F 1"))
        stores = []
        for n in range(store_count):
            franchised = n % 10 == 9
            stores.append(
                create_store(
                    session,
                    system,
                    StoreCreate(
                        code=f"S{n:05d}",
                        name=f"Store {n:05d}",
                        region_id=regions[n % 3].id,
                        ownership=Ownership.FRANCHISE if franchised else Ownership.DIRECT,
                        franchisee_id=franchisee.id if franchised else None,
                        opening_hours="10:00-22:00",
                    ),
                )
            )
        warehouses = [
            create_warehouse(session, system, WarehouseCreate(code=f"W{i}", name=f"Warehouse {i}"))
            for i in (1, 2)
        ]
        categories = list(seed_demo_categories(session, system).values())
        session.flush()
        locations = dict(
            (store_id, location_id)
            for store_id, location_id in session.execute(
                select(StockLocation.store_id, StockLocation.id).where(
                    StockLocation.brand_id == brand.id, StockLocation.store_id.is_not(None)
                )
            )
        )
        _, consumer_token, _, _ = log_in_consumer(
            session,
            brand_slug=brand.slug,
            code=issue_login_code(mini_program_app_id(session, brand.id), "bench-shopper"),
            gateway=SANDBOX_MINI_PROGRAM,
        )
        brand_id = brand.id
        region_ids = [r.id for r in regions]
        store_ids = [s.id for s in stores]
        store_regions = {s.id: s.region_id for s in stores}
        warehouse_ids = [w.id for w in warehouses]
    org_seconds = time.perf_counter() - started

    started = time.perf_counter()
    product_count = sku_count // SKUS_PER_PRODUCT
    colours = ("black", "white", "navy", "red", "grey")
    sizes = ("S", "M", "L", "XL", "XXL")
    with database.engine.begin() as connection:
        _copy(
            connection,
            "product",
            ("brand_id", "id", "code", "name", "category_id", "description", "images", "status"),
            [
                (
                    brand_id,
                    p + 1,
                    f"P{p:06d}",
                    f"Product {p:06d} 有机棉T恤",
                    categories[p % len(categories)],
                    "",
                    orjson.dumps([f"https://img.example.com/p{p}/1.jpg"]).decode(),
                    "active" if p % 50 else "draft",
                )
                for p in range(product_count)
            ],
        )
        _copy(
            connection,
            "sku",
            ("brand_id", "id", "product_id", "code", "attributes", "list_price_fen", "status"),
            [
                (
                    brand_id,
                    s + 1,
                    s // SKUS_PER_PRODUCT + 1,
                    f"P{s // SKUS_PER_PRODUCT:06d}-{s % SKUS_PER_PRODUCT}",
                    orjson.dumps({"colour": colours[(s // 5) % 5], "size": sizes[s % 5]}).decode(),
                    9900 + (s % 40) * 1000,
                    "active" if s % 97 else "inactive",
                )
                for s in range(sku_count)
            ],
        )
        connection.execute(
            text("SELECT setval(pg_get_serial_sequence('product', 'id'), :n)"), {"n": product_count}
        )
        connection.execute(
            text("SELECT setval(pg_get_serial_sequence('sku', 'id'), :n)"), {"n": sku_count}
        )
        overrides: list[tuple[Any, ...]] = []
        seen: set[tuple[Any, ...]] = set()

        def add_override(region_id: int | None, store_id: int | None) -> None:
            sku_id = rng.randrange(sku_count) + 1
            product_id = (sku_id - 1) // SKUS_PER_PRODUCT + 1
            sku = sku_id if rng.random() < 0.5 else None
            key = (region_id, store_id, product_id, sku)
            if key in seen:
                return
            seen.add(key)
            roll = rng.random()
            is_listed = False if roll < 0.1 else None
            price = None if roll < 0.1 or roll > 0.8 else 5000 + rng.randrange(100) * 100
            source = rng.choice(("store", "warehouse")) if roll > 0.8 else None
            overrides.append(
                (brand_id, region_id, store_id, product_id, sku, is_listed, price, source)
            )

        for region_id in region_ids:
            for _ in range(REGION_OVERRIDES):
                add_override(region_id, None)
        overridden = rng.sample(store_ids, max(1, int(len(store_ids) * STORE_OVERRIDE_SHARE)))
        for store_id in overridden:
            for _ in range(rng.randint(20, 50)):
                add_override(None, store_id)
        _copy(
            connection,
            "listing_override",
            (
                "brand_id",
                "region_id",
                "store_id",
                "product_id",
                "sku_id",
                "is_listed",
                "price_fen",
                "stock_source",
            ),
            overrides,
        )
        levels: list[tuple[Any, ...]] = []
        for warehouse_id in warehouse_ids:
            levels.extend(
                (brand_id, warehouse_id, s + 1, rng.randrange(0, 200), 0, 0)
                for s in range(sku_count)
            )
        for store_id in store_ids:
            # the first SKUs of the catalog are the most stocked, so first pages have stock
            stocked = set(range(1, 101)) | set(
                rng.sample(range(1, sku_count + 1), STOCKED_SKUS_PER_STORE - 100)
            )
            levels.extend(
                (brand_id, locations[store_id], sku_id, rng.randrange(1, 20), 0, 0)
                for sku_id in stocked
            )
        _copy(
            connection,
            "stock_level",
            ("brand_id", "location_id", "sku_id", "on_hand", "reserved", "allocated"),
            levels,
        )
        connection.execute(
            text("ANALYZE product, sku, listing_override, stock_level, stock_location, store")
        )
    volume_seconds = time.perf_counter() - started
    return {
        "brand_id": brand_id,
        "consumer_token": consumer_token,
        "store_ids": store_ids,
        "overridden_store_ids": overridden,
        "store_regions": store_regions,
        "overrides": len(overrides),
        "stock_levels": len(levels),
        "org_seconds": org_seconds,
        "volume_seconds": volume_seconds,
    }


# ---------------------------------------------------------------- measuring


def _measure(
    call: Callable[[int], None], stores: list[int], warmup: float, seconds: float
) -> dict[str, Any]:
    """Call ``call(store_id)`` sequentially for warmup + seconds, cycling through ``stores``;
    latencies of the measured window only."""
    latencies: list[float] = []
    index = 0
    begin = time.perf_counter() + warmup
    end = begin + seconds
    while True:
        sent = time.perf_counter()
        if sent >= end:
            break
        call(stores[index % len(stores)])
        index += 1
        done = time.perf_counter()
        if sent >= begin:
            latencies.append(done - sent)
    return {
        "requests": len(latencies),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "p95_ms": round(percentile(latencies, 0.95) * 1000, 2),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 2) if latencies else 0.0,
    }


def main() -> dict[str, Any]:
    os.environ["SIYU_LOG_LEVEL"] = "WARNING"
    import httpx
    from rich.console import Console
    from rich.table import Table
    from sqlalchemy import select

    from siyu.catalog.models import Product, Sku
    from siyu.cloud_store.service import store_catalog
    from siyu.config import get_settings
    from siyu.core.logging import configure_logging
    from siyu.db import migrate
    from siyu.db.embedded import drop_database, stop_embedded_servers
    from siyu.db.session import make_database
    from siyu.web.app import create_app

    get_settings.cache_clear()
    configure_logging(get_settings().log_format, "WARNING")
    seconds = _env("SIYU_BENCH_SECONDS", 10.0)
    warmup = _env("SIYU_BENCH_WARMUP", 2.0)
    store_count = int(_env("SIYU_BENCH_STORES", 1000))
    sku_count = int(_env("SIYU_BENCH_SKUS", 10000))
    console = Console()
    load_before = os.getloadavg()[0]

    server_db, name, url = throwaway_database()
    database = None
    servers: list[Any] = []
    results: dict[str, dict[str, Any]] = {}
    try:
        with console.status("Migrating a throwaway database..."):
            migrate.upgrade(url)
        database = make_database(url, pool_size=4)
        with console.status(f"Seeding {store_count} stores and {sku_count} SKUs..."):
            seeded = _seed(database, store_count, sku_count)
        console.print(
            f"Seeded the organization in {seeded['org_seconds']:.1f} s (services), "
            f"{sku_count} SKUs, {seeded['overrides']} overrides and "
            f"{seeded['stock_levels']:,} stock levels in {seeded['volume_seconds']:.1f} s (COPY)."
        )
        brand_id = seeded["brand_id"]
        overridden = seeded["overridden_store_ids"][:10]
        plain = [s for s in seeded["store_ids"] if s not in set(seeded["overridden_store_ids"])][
            :10
        ]
        stores = [s for pair in zip(overridden, plain, strict=False) for s in pair]

        full = serve_in_thread(create_app(database))
        servers.append(full)
        headers = {"Authorization": f"Bearer {seeded['consumer_token']}"}
        client = httpx.Client(base_url=full.base_url, headers=headers, timeout=30)
        captured = client.get(f"/api/storefront/stores/{stores[0]}/catalog?limit={PAGE}")
        captured.raise_for_status()
        page = captured.json()
        if len(page["items"]) != PAGE:
            raise RuntimeError(f"expected {PAGE} offers, got {len(page['items'])}")
        bare = serve_in_thread(_bare_app(page))
        servers.append(bare)
        bare_client = httpx.Client(base_url=bare.base_url, timeout=30)

        def full_page(store_id: int) -> None:
            response = client.get(f"/api/storefront/stores/{store_id}/catalog?limit={PAGE}")
            if response.status_code != 200 or len(response.json()["items"]) != PAGE:
                raise RuntimeError(f"bad page: {response.status_code} {response.text[:300]}")

        deep_offset = sku_count // 2

        def deep_page(store_id: int) -> None:
            response = client.get(
                f"/api/storefront/stores/{store_id}/catalog?limit={PAGE}&offset={deep_offset}"
            )
            if response.status_code != 200 or len(response.json()["items"]) != PAGE:
                raise RuntimeError(f"bad page: {response.status_code} {response.text[:300]}")

        def precomputed(store_id: int) -> None:
            response = bare_client.get(f"/api/storefront/stores/{store_id}/catalog?limit={PAGE}")
            if response.status_code != 200:
                raise RuntimeError("the bare app failed")

        def service_only(store_id: int) -> None:
            with database.sessions() as session:
                rows, _ = store_catalog(session, brand_id, store_id, limit=PAGE)
                assert len(rows) == PAGE

        def plain_sql(store_id: int) -> None:
            with database.sessions() as session:
                rows = session.execute(
                    select(Sku.id, Sku.code, Sku.list_price_fen, Product.code, Product.name)
                    .join(
                        Product, (Product.brand_id == Sku.brand_id) & (Product.id == Sku.product_id)
                    )
                    .where(Sku.brand_id == brand_id)
                    .order_by(Product.code, Sku.code)
                    .limit(PAGE)
                ).all()
                assert len(rows) == PAGE

        phases = [
            ("precomputed page over HTTP (baseline)", precomputed),
            ("plain SQL select of 50 SKUs (baseline)", plain_sql),
            ("store_catalog service, no HTTP", service_only),
            ("full stack, first page", full_page),
            (f"full stack, page at offset {deep_offset}", deep_page),
        ]
        for label, call in phases:
            with console.status(f"Measuring {label} ({warmup:g}+{seconds:g} s)..."):
                results[label] = _measure(call, stores, warmup, seconds)
        client.close()
        bare_client.close()
    finally:
        for server in reversed(servers):
            server.stop()
        if database is not None:
            database.dispose()
        drop_database(server_db, name)
        stop_embedded_servers()

    labels = [label for label, _ in phases]
    baseline = results[labels[0]]
    sql = results[labels[1]]
    service = results[labels[2]]
    first = results[labels[3]]
    deep = results[labels[4]]
    table = Table(
        title=f"store-catalog: GET /api/storefront/stores/{{id}}/catalog?limit={PAGE} "
        f"({store_count} stores x {sku_count} SKUs, sequential, {seconds:g} s per phase)"
    )
    for column in ("phase", "requests", "p50 ms", "p95 ms", "mean ms"):
        table.add_column(column, justify="left" if column == "phase" else "right")
    for label in labels:
        r = results[label]
        table.add_row(
            label,
            str(r["requests"]),
            f"{r['p50_ms']:.2f}",
            f"{r['p95_ms']:.2f}",
            f"{r['mean_ms']:.2f}",
        )
    console.print(table)

    def ratio(a: float, b: float) -> float:
        return round(a / b, 2) if b else 0.0

    return {
        "benchmark": "store-catalog",
        "p50_ms": first["p50_ms"],
        "p95_ms": first["p95_ms"],
        "goal_p95_ms": 100,
        "goal_met": first["p95_ms"] < 100,
        "deep_page_p50_ms": deep["p50_ms"],
        "deep_page_p95_ms": deep["p95_ms"],
        "service_p50_ms": service["p50_ms"],
        "service_p95_ms": service["p95_ms"],
        "baseline_precomputed_p50_ms": baseline["p50_ms"],
        "baseline_precomputed_p95_ms": baseline["p95_ms"],
        "baseline_sql_p50_ms": sql["p50_ms"],
        "baseline_sql_p95_ms": sql["p95_ms"],
        "ratio_p95_to_precomputed": ratio(first["p95_ms"], baseline["p95_ms"]),
        "ratio_p50_to_precomputed": ratio(first["p50_ms"], baseline["p50_ms"]),
        "ratio_p50_to_plain_sql": ratio(first["p50_ms"], sql["p50_ms"]),
        "through": "HTTP (uvicorn, consumer token)",
        "stores": store_count,
        "skus": sku_count,
        "overrides": seeded["overrides"],
        "stock_levels": seeded["stock_levels"],
        "seconds": seconds,
        "warmup_seconds": warmup,
        "seed_seconds": round(seeded["org_seconds"] + seeded["volume_seconds"], 1),
        "load_average_1m_before": round(load_before, 2),
        "cpus": os.cpu_count(),
    }


def _bare_app(page: dict[str, Any]) -> Any:
    """No middleware, auth or database: the captured page, serialized the normal way."""
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/api/storefront/stores/{store_id}/catalog")
    def catalog(store_id: int, limit: int = PAGE) -> dict[str, Any]:
        return page

    return app


if __name__ == "__main__":
    import json

    print(json.dumps(main(), ensure_ascii=False))
    sys.exit(0)
