"""attribution: re-attribute 1,000,000 paid orders under a new model; report orders/s.

Goal (issue 4): re-attribute every paid order of a brand after its attribution model changed,
and report the rate. The figure is the brand's recompute exactly as the job runs it
(``siyu.attribution.recompute.recompute_brand``: set-based SQL in committed batches of 50,000
orders, deleting the old credits and inserting the new), after HQ changes the model through the
service (``change_settings``) from last touch to time decay (the costliest model: a power per
touch). Baselines measured in the same run:

- ``python row by row``: the subscriber's path (``credit_order``: load the order, its member's
  touches, apply ``rules.attribute``, replace the rows) on a sample of orders, one transaction
  per 500 orders; its rate is what re-attributing one order at a time would achieve;
- ``plain last touch SQL``: the cheapest conceivable re-attribution, one statement that gives
  each order its latest touch (a LATERAL index probe per order) with no weights, no rounding
  and no writes to the credit table (into a scratch UNLOGGED table): the database's floor for
  visiting every order's touches.

Seeding (set-based, ``generate_series``): one brand with 20 stores and 200 touchpoints; a
member and a consumer for every 4 orders; 3 tracking events (scans and visits, 10% of an
unknown scene key) per order over 100 days; the paid orders over the last 90 of them, 40% with
their own scene touchpoint, 5% partly refunded. Ids grow with time, as they do when rows are
inserted as things happen (orders and events each in time order, with an hour of jitter).
The initial credits (last touch) are computed by the same recompute, also timed.

Knobs (environment): SIYU_BENCH_ORDERS (default 1,000,000), SIYU_BENCH_TOUCHES_PER_ORDER
(default 3), SIYU_BENCH_SAMPLE (orders of the row-by-row baseline, default 1,000),
SIYU_BENCH_BATCH (orders per recompute batch, default 50,000).
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

from _harness import env_float, throwaway_database

START = "2026-01-01 00:00:00+00"


def _seed(database: Any, orders: int, touches_per_order: int) -> dict[str, Any]:
    from sqlalchemy import text

    from siyu.access.rules import system_actor
    from siyu.brands.service import create_brand
    from siyu.org.models import Ownership
    from siyu.org.schemas import RegionCreate, StoreCreate
    from siyu.org.service import create_region, create_store

    with database.unit_of_work() as session:
        brand = create_brand(session, slug=f"bench-{uuid.uuid4().hex[:6]}", name="Bench brand")
        system = system_actor(brand.id, "bench")
        region = create_region(session, system, RegionCreate(code="R1", name="Region 1"))
        store_ids = [
            create_store(
                session,
                system,
                StoreCreate(
                    code=f"S{n:03d}",
                    name=f"Store {n:03d}",
                    region_id=region.id,
                    ownership=Ownership.DIRECT,
                    opening_hours="10:00-22:00",
                ),
            ).id
            for n in range(20)
        ]
        brand_id = brand.id
    members = max(1, orders // 4)
    events = orders * touches_per_order
    params = {
        "brand": brand_id,
        "stores": store_ids,
        "members": members,
        "orders": orders,
        "events": events,
        "start": START,
    }
    statements = [
        # 200 touchpoints, 10 per store, half of them with a cost
        """INSERT INTO touchpoint (brand_id, id, code, name, kind, store_id, cost_fen)
           SELECT :brand, g, 'TP' || g, 'Touchpoint ' || g,
                  (ARRAY['shelf_code', 'poster', 'guide_code', 'counter_code'])[1 + g % 4],
                  (:stores)[1 + g % cardinality(:stores)],
                  CASE WHEN g % 2 = 0 THEN 10000 * (1 + g % 7) END
           FROM generate_series(CAST(1 AS bigint), 200) AS g""",
        "SELECT setval(pg_get_serial_sequence('touchpoint', 'id'), 200)",
        """INSERT INTO member (brand_id, id, joined_at, join_channel, lifecycle_stage,
                              home_store_id)
           SELECT :brand, g, CAST(:start AS timestamptz) - interval '30 days', 'bench', 'new',
                  (:stores)[1 + g % cardinality(:stores)]
           FROM generate_series(CAST(1 AS bigint), :members) AS g""",
        "SELECT setval(pg_get_serial_sequence('member', 'id'), :members)",
        """INSERT INTO consumer (brand_id, id, nickname, member_id)
           SELECT :brand, g, 'shopper ' || g, g
           FROM generate_series(CAST(1 AS bigint), :members) AS g""",
        "SELECT setval(pg_get_serial_sequence('consumer', 'id'), :members)",
        """INSERT INTO tracking_event (brand_id, id, event_id, kind, occurred_at, received_at,
                                      member_id, touchpoint_id, store_id)
           SELECT :brand, g, 'e' || g, CASE WHEN g % 3 = 0 THEN 'scan' ELSE 'visit' END,
                  at, at, 1 + (g * 7919) % :members,
                  CASE WHEN g % 10 = 0 THEN NULL ELSE 1 + floor(random() * 200) END,
                  (:stores)[1 + g % cardinality(:stores)]
           FROM (SELECT g, CAST(:start AS timestamptz) + g * interval '100 days' / :events
                           + random() * interval '1 hour' AS at
                 FROM generate_series(CAST(1 AS bigint), :events) AS g) AS t""",
        "SELECT setval(pg_get_serial_sequence('tracking_event', 'id'), :events)",
        """INSERT INTO sales_order (brand_id, id, number, consumer_id, selling_store_id,
                                   touchpoint_id, fulfilment_method, payment_status,
                                   subtotal_fen, total_fen, paid_fen, refunded_fen, placed_at,
                                   paid_at, payment_due_at, idempotency_key)
           SELECT :brand, g, 'B' || g, 1 + g % :members,
                  (:stores)[1 + g % cardinality(:stores)],
                  CASE WHEN g % 5 < 2 THEN 1 + (g * 31) % 200 END, 'express',
                  CASE WHEN g % 20 = 0 THEN 'partially_refunded' ELSE 'paid' END,
                  amount, amount, amount, CASE WHEN g % 20 = 0 THEN amount / 3 ELSE 0 END,
                  at, at + interval '1 minute', at + interval '30 minutes', 'B' || g
           FROM (SELECT g, 990 + (g * 7907) % 99000 AS amount,
                        CAST(:start AS timestamptz) + interval '10 days'
                        + g * interval '90 days' / :orders + random() * interval '1 hour' AS at
                 FROM generate_series(CAST(1 AS bigint), :orders) AS g) AS t""",
        "SELECT setval(pg_get_serial_sequence('sales_order', 'id'), :orders)",
    ]
    started = time.perf_counter()
    with database.engine.begin() as connection:
        # The rows are consistent by construction: skip the per-row foreign-key triggers
        # where the server lets us (a superuser, as on the embedded server).
        if connection.execute(
            text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        ).scalar():
            connection.execute(text("SET LOCAL session_replication_role = replica"))
        # Bulk loads build the big tables' secondary indexes once, afterwards.
        rebuild = _drop_secondary_indexes(connection, BULK_TABLES)
        for statement in statements:
            compiled = text(statement)
            used = {key: value for key, value in params.items() if f":{key}" in statement}
            connection.execute(compiled, used)
        for statement in rebuild:
            connection.execute(text(statement))
    # Hint bits and the visibility map set now, as on a database that has lived a while.
    with database.engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").execute(
            text(f"VACUUM ANALYZE touchpoint, member, consumer, {', '.join(BULK_TABLES)}")
        )
    return {
        "brand_id": brand_id,
        "members": members,
        "events": events,
        "seed_seconds": time.perf_counter() - started,
    }


BULK_TABLES = ("tracking_event", "sales_order")


def _drop_secondary_indexes(connection: Any, tables: tuple[str, ...]) -> list[str]:
    """Drop the unique constraints and indexes of ``tables`` other than their primary keys;
    return the statements that recreate them."""
    from sqlalchemy import text

    rebuild: list[str] = []
    for table in tables:
        for constraint, definition in connection.execute(
            text(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
                " WHERE conrelid = CAST(:t AS regclass) AND contype = 'u'"
            ),
            {"t": table},
        ):
            connection.execute(text(f'ALTER TABLE {table} DROP CONSTRAINT "{constraint}"'))
            rebuild.append(f'ALTER TABLE {table} ADD CONSTRAINT "{constraint}" {definition}')
        for index, definition in connection.execute(
            text(
                "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x"
                " JOIN pg_class i ON i.oid = x.indexrelid"
                " WHERE x.indrelid = CAST(:t AS regclass) AND NOT x.indisprimary"
                " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid)"
            ),
            {"t": table},
        ):
            connection.execute(text(f'DROP INDEX "{index}"'))
            rebuild.append(definition)
    return rebuild


PLAIN_LAST_TOUCH = """
CREATE UNLOGGED TABLE IF NOT EXISTS bench_last_touch (order_id bigint, touchpoint_id bigint);
TRUNCATE bench_last_touch;
INSERT INTO bench_last_touch
SELECT o.id, coalesce(o.touchpoint_id, last.touchpoint_id)
FROM sales_order o
JOIN consumer c ON c.brand_id = o.brand_id AND c.id = o.consumer_id
LEFT JOIN LATERAL (
    SELECT e.touchpoint_id FROM tracking_event e
    WHERE e.brand_id = o.brand_id AND e.member_id = c.member_id
      AND e.kind IN ('scan', 'visit') AND e.touchpoint_id IS NOT NULL
      AND e.occurred_at BETWEEN o.placed_at - interval '30 days' AND o.placed_at
    ORDER BY e.occurred_at DESC, e.id DESC LIMIT 1
) AS last ON true
WHERE o.brand_id = :brand AND o.paid_at IS NOT NULL
"""


def _checks(database: Any, brand_id: int) -> dict[str, int]:
    """Every paid order has credits summing to 1000 permille and to its net paid amount."""
    from sqlalchemy import text

    with database.engine.connect() as connection:
        row = connection.execute(
            text(
                "SELECT count(*) AS orders,"
                " count(*) FILTER (WHERE permille <> 1000 OR fen <> o.paid_fen - o.refunded_fen)"
                " AS wrong, sum(rows) AS credits"
                " FROM (SELECT order_id, sum(credit_permille) AS permille,"
                "       sum(credited_fen) AS fen, count(*) AS rows"
                "       FROM order_touchpoint_credit WHERE brand_id = :b GROUP BY order_id) AS c"
                " JOIN sales_order o ON o.brand_id = :b AND o.id = c.order_id"
            ),
            {"b": brand_id},
        ).one()
    return {"orders": int(row.orders), "wrong": int(row.wrong), "credits": int(row.credits)}


def main() -> dict[str, Any]:
    os.environ["SIYU_LOG_LEVEL"] = "WARNING"
    from rich.console import Console
    from rich.table import Table
    from sqlalchemy import select, text

    from siyu.access.rules import system_actor
    from siyu.attribution.recompute import recompute_brand
    from siyu.attribution.rules import AttributionModel
    from siyu.attribution.schemas import AttributionSettingsIn
    from siyu.attribution.service import change_settings, credit_order
    from siyu.config import get_settings
    from siyu.core.logging import configure_logging
    from siyu.db import migrate
    from siyu.db.embedded import drop_database, stop_embedded_servers
    from siyu.db.session import make_database
    from siyu.orders.models import Order

    get_settings.cache_clear()
    configure_logging(get_settings().log_format, "WARNING")
    orders = int(env_float("SIYU_BENCH_ORDERS", 1_000_000))
    touches_per_order = int(env_float("SIYU_BENCH_TOUCHES_PER_ORDER", 3))
    sample = int(env_float("SIYU_BENCH_SAMPLE", 1_000))
    batch_size = int(env_float("SIYU_BENCH_BATCH", 50_000))
    console = Console()
    load_before = os.getloadavg()[0]

    server_db, name, url = throwaway_database()
    database = None
    try:
        with console.status("Migrating a throwaway database..."):
            migrate.upgrade(url)
        database = make_database(url, pool_size=4)
        with console.status(f"Seeding {orders:,} paid orders and their touches..."):
            seeded = _seed(database, orders, touches_per_order)
        brand_id = seeded["brand_id"]
        console.print(
            f"Seeded {orders:,} paid orders, {seeded['members']:,} members and "
            f"{seeded['events']:,} tracking events in {seeded['seed_seconds']:.1f} s."
        )

        def recompute(label: str) -> float:
            with console.status(f"{label}..."):
                started = time.perf_counter()
                report = recompute_brand(database.unit_of_work, brand_id, batch_size=batch_size)
                seconds = time.perf_counter() - started
            if report.orders != orders:
                raise RuntimeError(f"{label}: {report.orders} orders re-attributed of {orders}")
            console.print(
                f"{label}: {report.orders:,} orders, {report.credits:,} credits in "
                f"{seconds:.1f} s ({report.orders / seconds:,.0f} orders/s)"
            )
            return seconds

        initial_seconds = recompute("Initial attribution (last touch)")
        with database.unit_of_work() as session:
            change_settings(
                session,
                system_actor(brand_id, "bench"),
                AttributionSettingsIn(model=AttributionModel.TIME_DECAY),
            )
            session.execute(text("DELETE FROM procrastinate_jobs"))  # the bench runs it itself
        recompute_seconds = recompute("Re-attribution (time decay)")
        checks = _checks(database, brand_id)
        if checks["wrong"] or checks["orders"] != orders:
            raise RuntimeError(f"credits do not add up: {checks}")

        with database.unit_of_work() as session:
            sample_ids = list(
                session.scalars(
                    select(Order.id)
                    .where(Order.brand_id == brand_id)
                    .order_by(Order.id)
                    .limit(sample)
                    .offset(orders // 2)
                )
            )
        with console.status(f"Baseline: {len(sample_ids):,} orders row by row in Python..."):
            started = time.perf_counter()
            for start in range(0, len(sample_ids), 500):
                with database.unit_of_work() as session:
                    for order_id in sample_ids[start : start + 500]:
                        credit_order(session, brand_id, order_id)
            python_seconds = time.perf_counter() - started
        with console.status("Baseline: plain last-touch SQL..."):
            started = time.perf_counter()
            with database.engine.begin() as connection:
                for statement in PLAIN_LAST_TOUCH.strip().split(";\n"):
                    connection.execute(text(statement), {"brand": brand_id})
            plain_seconds = time.perf_counter() - started
    finally:
        if database is not None:
            database.dispose()
        drop_database(server_db, name)
        stop_embedded_servers()

    rate = orders / recompute_seconds
    python_rate = len(sample_ids) / python_seconds
    plain_rate = orders / plain_seconds
    table = Table(title=f"attribution: re-attribute {orders:,} paid orders (2 cores)")
    for column in ("path", "seconds", "orders/s", "ratio"):
        table.add_column(column, justify="right" if column != "path" else "left")
    table.add_row(
        "recompute, time decay (set-based SQL)", f"{recompute_seconds:.1f}", f"{rate:,.0f}", "1.00"
    )
    table.add_row(
        "recompute, last touch (initial)",
        f"{initial_seconds:.1f}",
        f"{orders / initial_seconds:,.0f}",
        f"{orders / initial_seconds / rate:.2f}",
    )
    table.add_row(
        f"python row by row ({len(sample_ids):,} sampled)",
        f"{python_seconds:.1f}",
        f"{python_rate:,.0f}",
        f"{python_rate / rate:.3f}",
    )
    table.add_row(
        "plain last touch SQL (no writes to credits)",
        f"{plain_seconds:.1f}",
        f"{plain_rate:,.0f}",
        f"{plain_rate / rate:.2f}",
    )
    console.print(table)
    console.print(
        f"Set-based recompute is {rate / python_rate:,.0f}x the row-by-row Python path, and "
        f"{rate / plain_rate:.2f}x the plain last-touch SQL floor."
    )
    return {
        "orders": orders,
        "touches": seeded["events"],
        "credits": checks["credits"],
        "model": "time_decay",
        "orders_per_second": round(rate),
        "recompute_seconds": round(recompute_seconds, 2),
        "initial_last_touch_orders_per_second": round(orders / initial_seconds),
        "python_row_by_row_orders_per_second": round(python_rate),
        "speedup_over_python_row_by_row": round(rate / python_rate, 1),
        "plain_last_touch_sql_orders_per_second": round(plain_rate),
        "ratio_to_plain_last_touch_sql": round(rate / plain_rate, 3),
        "batch_size": batch_size,
        "load_average_1m_before": round(load_before, 2),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(main()))
