"""segment: count and materialise a 3-condition segment over 1,000,000 members and 20,000,000
tracking events.

Goal (issue 4): count + materialise < 1 s for the segment "gold tier AND tag vip AND at least 2
visits in the last 30 days", evaluated through the real compiler (``siyu.segments``):

- ``count``: the preview's count, ``SELECT count(*)`` over the compiled statement
  (``membership.matching_statement`` + ``count_matching``) in the service's own evaluation
  transaction settings;
- ``materialise``: ``service.refresh_segment`` of the saved segment with an empty membership
  (temporary table, INSERT of the difference, the segment stamped, its event and audit
  entry), committed: the first materialisation of a new segment.

Each is run REPEATS times after one warm-up; the medians are reported. A refresh that changes
nothing and the preview (count and a sample of 20) are reported as well.

Baseline in the same run: the naive evaluation of the same conditions, one GROUP BY over all
the brand's events (``HAVING count(*) FILTER (WHERE kind = 'visit' AND occurred_at >= ...) >=
2``) joined to the member and tag conditions; its count must equal the compiler's.

Seeding (set-based SQL, no Python loops): one brand with 3 regions and 30 stores and the tags
through the services; then INSERT ... SELECT generate_series: members (10% gold, 30% silver,
the rest bronze; every 5th, by a hash of the id, tagged vip), tracking events over the last 180
days in time order (as an append-only table is: 40% visits, 30% item views, 8% scans, 10%
add-to-cart, 6% shares, 4% coupon claims, 2% custom; 10% anonymous; the members' activity is
skewed, low ids busier), and offline orders. The events are loaded with the table's secondary
indexes dropped and rebuilt afterwards and without the member foreign key's trigger
(session_replication_role = replica), then VACUUM ANALYZE, as a long-lived table would be.

Knobs (environment): SIYU_BENCH_MEMBERS (default 1,000,000), SIYU_BENCH_EVENTS (default
20,000,000), SIYU_BENCH_REPEATS (default 5); SIYU_BENCH_PROPOSED_INDEX=1 then replaces the
member index of tracking_event by one that carries the kind and name (``PROPOSED_INDEX``) and
measures count and materialise again (reported apart, as ``proposed_*``). ``SIYU_BENCH_MEMBERS=50000
SIYU_BENCH_EVENTS=1000000`` gives a quick run.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from _harness import env_float, throwaway_database

RULE = {
    "all": [
        {"tier": {"in": ["gold"]}},
        {"tag": {"has": "vip"}},
        {"events": {"kind": "visit", "within_days": 30, "at_least": 2}},
    ]
}
EVENT_DAYS = 180
STORES = 30
LOADERS = 2  # one per core

MEMBERS_SQL = """
INSERT INTO member (brand_id, id, status, display_name, phone, gender, birthday, joined_at,
                    join_channel, home_store_id, source_store_id, lifecycle_stage,
                    lifecycle_changed_at, order_count, total_spent_fen, first_order_at,
                    last_order_at, tier_code, growth_value, points_balance)
SELECT :brand, g, 'active', 'Member ' || g, '13' || lpad(g::text, 9, '0'),
       (ARRAY['female', 'female', 'male', NULL])[1 + g % 4],
       date '1960-01-01' + (h % 16000)::int,
       CAST(:now AS timestamptz) - make_interval(days => (h % 900)::int),
       'scan', stores[1 + g % array_length(stores, 1)], stores[1 + g % array_length(stores, 1)],
       (ARRAY['new', 'first_purchase', 'repeat', 'loyal', 'dormant'])[1 + h % 5],
       CAST(:now AS timestamptz), h % 7, (h % 7) * 15900,
       CASE WHEN h % 7 > 0 THEN CAST(:now AS timestamptz) - interval '400 days' END,
       CASE WHEN h % 7 > 0
            THEN CAST(:now AS timestamptz) - make_interval(days => (h % 300)::int) END,
       CASE WHEN h % 100 < 10 THEN 'gold' WHEN h % 100 < 40 THEN 'silver' ELSE 'bronze' END,
       h % 5000, h % 3000
FROM (SELECT g, (hashint8(g) & 2147483647)::bigint AS h
      FROM generate_series(CAST(1 AS bigint), :members) AS g) AS numbers,
     (SELECT array_agg(id ORDER BY id) AS stores FROM store WHERE brand_id = :brand) AS s
"""

TAGS_SQL = """
INSERT INTO member_tag (brand_id, member_id, tag_id, source, tagged_at)
SELECT :brand, g, :tag, 'manual', CAST(:now AS timestamptz)
FROM generate_series(CAST(1 AS bigint), :members) AS g
WHERE (hashint8(g * 7 + :salt) & 2147483647) % :every = 0
"""

EVENTS_SQL = """
INSERT INTO tracking_event (brand_id, id, event_id, kind, name, occurred_at, received_at,
                            anonymous_id, member_id)
SELECT :brand, g, lpad(to_hex(g), 12, '0'), kind,
       CASE WHEN kind = 'custom' THEN 'quiz_done' END, at, at,
       CASE WHEN anonymous THEN 'anon' || (g % 200000) END,
       CASE WHEN NOT anonymous THEN 1 + floor(power(random(), 1.7) * :members)::bigint END
FROM (SELECT g,
             random() < 0.1 AS anonymous,
             CAST(:start AS timestamptz)
               + (g::float8 / :events) * interval '180 days'
               + random() * interval '1 hour' AS at,
             CASE WHEN r < 0.40 THEN 'visit' WHEN r < 0.70 THEN 'view_item'
                  WHEN r < 0.78 THEN 'scan' WHEN r < 0.88 THEN 'add_to_cart'
                  WHEN r < 0.94 THEN 'share' WHEN r < 0.98 THEN 'claim_coupon'
                  ELSE 'custom' END AS kind
      FROM (SELECT g, random() AS r
            FROM generate_series(CAST(:first AS bigint), :last) AS g) AS draws) AS e
"""

OFFLINE_SQL = """
INSERT INTO offline_order (brand_id, id, order_number, store_id, member_id, placed_at,
                           total_fen, refunded_fen)
SELECT :brand, g, 'POS' || g, stores[1 + g % array_length(stores, 1)],
       1 + (hashint8(g) & 2147483647) % :members,
       CAST(:now AS timestamptz) - make_interval(mins => (g % 525600)::int),
       5000 + (g % 50) * 1000, 0
FROM generate_series(CAST(1 AS bigint), :orders) AS g,
     (SELECT array_agg(id ORDER BY id) AS stores FROM store WHERE brand_id = :brand) AS s;
INSERT INTO offline_order_line (brand_id, id, offline_order_id, sku_code, quantity, amount_fen)
SELECT brand_id, id, id, 'SKU-' || (id % 500), 1, total_fen
FROM offline_order WHERE brand_id = :brand
"""

# Measured only with SIYU_BENCH_PROPOSED_INDEX=1: the member index of tracking_event carrying
# the kind and name, so a probe reads no table page (an index-only scan).
PROPOSED_INDEX = (
    "CREATE INDEX ix_tracking_event_member_kind ON tracking_event"
    " (brand_id, member_id, occurred_at) INCLUDE (kind, name) WHERE member_id IS NOT NULL"
)

NAIVE_SQL = """
SELECT count(*) FROM member AS m
JOIN (SELECT member_id FROM tracking_event
      WHERE brand_id = :brand
      GROUP BY member_id
      HAVING count(*) FILTER (WHERE kind = 'visit' AND occurred_at >= :since) >= 2) AS v
  ON v.member_id = m.id
WHERE m.brand_id = :brand AND m.status = 'active' AND m.tier_code = 'gold'
  AND m.id IN (SELECT member_id FROM member_tag WHERE brand_id = :brand AND tag_id = :tag)
"""


def _execute_script(connection: Any, script: str, params: dict[str, Any]) -> None:
    from sqlalchemy import text

    for statement in script.split(";"):
        if statement.strip():
            connection.execute(text(statement), params)


def _seed_organization(database: Any) -> dict[str, Any]:
    from siyu.access.rules import system_actor
    from siyu.brands.service import create_brand
    from siyu.org.models import Ownership
    from siyu.org.schemas import RegionCreate, StoreCreate
    from siyu.org.service import create_region, create_store
    from siyu.segments.rules import TagKind
    from siyu.segments.schemas import TagCreate
    from siyu.segments.tags import create_tag

    with database.unit_of_work() as session:
        brand = create_brand(session, slug=f"bench-{uuid.uuid4().hex[:6]}", name="Segment bench")
        system = system_actor(brand.id, "bench")
        regions = [
            create_region(session, system, RegionCreate(code=f"R{i}", name=f"Region {i}"))
            for i in range(3)
        ]
        for n in range(STORES):
            create_store(
                session,
                system,
                StoreCreate(
                    code=f"S{n:03d}",
                    name=f"Store {n:03d}",
                    region_id=regions[n % 3].id,
                    ownership=Ownership.DIRECT,
                    opening_hours="10:00-22:00",
                ),
            )
        tags = {
            code: create_tag(
                session, system, TagCreate(code=code, name=code, kind=TagKind.MANUAL)
            ).id
            for code in ("vip", "new_mom")
        }
        return {"brand_id": brand.id, "tags": tags}


def _in_threads(work: Callable[[Any], None], items: list[Any]) -> None:
    failures: list[BaseException] = []

    def run(item: Any) -> None:
        try:
            work(item)
        except BaseException as error:  # re-raised below
            failures.append(error)

    threads = [threading.Thread(target=run, args=(item,)) for item in items]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]


@contextmanager
def _indexes_rebuilt(database: Any, table: str, *, with_keys: bool) -> Iterator[None]:
    """Drop ``table``'s indexes (and, ``with_keys``, its primary key and unique constraints,
    which nothing may reference) for a bulk load, then build them again, two at a time, exactly
    as the migrations defined them."""
    from sqlalchemy import text

    with database.engine.begin() as connection:
        keys = [
            (name, "PRIMARY KEY" if kind == "p" else "UNIQUE")
            for name, kind in connection.execute(
                text(
                    "SELECT conname, contype FROM pg_constraint"
                    " WHERE conrelid = CAST(:t AS regclass) AND contype IN ('p', 'u')"
                ),
                {"t": table},
            )
        ]
        owned = {name for name, _ in keys}
        indexes = [
            (name, definition)
            for name, definition in connection.execute(
                text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = :t"),
                {"t": table},
            )
            if with_keys or name not in owned
        ]
        if with_keys:
            for name, _ in keys:
                connection.execute(text(f"ALTER TABLE {table} DROP CONSTRAINT {name}"))
        for name, _ in indexes:
            connection.execute(text(f"DROP INDEX IF EXISTS {name}"))
    yield

    def build(definition: str) -> None:
        with database.engine.begin() as connection:
            connection.execute(text("SET LOCAL maintenance_work_mem = '512MB'"))
            connection.execute(text(definition))

    _in_threads(build, [definition for _, definition in indexes])
    if with_keys:
        with database.engine.begin() as connection:
            for name, kind in keys:
                connection.execute(
                    text(f"ALTER TABLE {table} ADD CONSTRAINT {name} {kind} USING INDEX {name}")
                )


def _load_events(database: Any, brand_id: int, members: int, events: int, start: str) -> None:
    """The events in LOADERS parallel INSERT ... SELECTs, indexes rebuilt afterwards."""
    from sqlalchemy import text

    chunk = -(-events // LOADERS)

    def load(part: int) -> None:
        with database.engine.begin() as connection:
            connection.execute(text("SET LOCAL session_replication_role = replica"))
            connection.execute(text("SET LOCAL synchronous_commit = off"))
            connection.execute(
                text(EVENTS_SQL),
                {
                    "brand": brand_id,
                    "members": members,
                    "events": events,
                    "start": start,
                    "first": 1 + part * chunk,
                    "last": min(events, (part + 1) * chunk),
                },
            )

    with _indexes_rebuilt(database, "tracking_event", with_keys=True):
        _in_threads(load, list(range(LOADERS)))
    with database.engine.begin() as connection:
        connection.execute(
            text("SELECT setval(pg_get_serial_sequence('tracking_event', 'id'), :n)"),
            {"n": events},
        )


def _seed(database: Any, members: int, events: int, now: datetime) -> dict[str, Any]:
    from sqlalchemy import text

    timings: dict[str, float] = {}
    started = time.perf_counter()
    seeded = _seed_organization(database)
    brand_id = seeded["brand_id"]
    timings["organization"] = time.perf_counter() - started
    params = {"brand": brand_id, "members": members, "now": now}
    started = time.perf_counter()
    with (
        _indexes_rebuilt(database, "member", with_keys=False),
        database.engine.begin() as connection,
    ):
        connection.execute(text("SET LOCAL session_replication_role = replica"))
        connection.execute(text(MEMBERS_SQL), params)
        connection.execute(
            text("SELECT setval(pg_get_serial_sequence('member', 'id'), :n)"), {"n": members}
        )
        for code, salt, every in (("vip", 1, 5), ("new_mom", 3, 10)):
            connection.execute(
                text(TAGS_SQL), params | {"tag": seeded["tags"][code], "salt": salt, "every": every}
            )
        _execute_script(connection, OFFLINE_SQL, params | {"orders": members // 5})
    timings["members_tags_orders"] = time.perf_counter() - started
    started = time.perf_counter()
    start = (now - timedelta(days=EVENT_DAYS)).isoformat()
    _load_events(database, brand_id, members, events, start)
    timings["events"] = time.perf_counter() - started
    started = time.perf_counter()
    with database.engine.connect() as connection:
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        connection.execute(
            text(
                "VACUUM (ANALYZE) member, member_tag, tracking_event, offline_order,"
                " offline_order_line, tag, store"
            )
        )
    timings["vacuum_analyze"] = time.perf_counter() - started
    return seeded | {"timings": {k: round(v, 1) for k, v in timings.items()}}


# ---------------------------------------------------------------- measuring


def _median_seconds(run: Callable[[], Any], repeats: int) -> tuple[float, list[float], Any]:
    """Run once to warm up, then ``repeats`` times; (median, all times, last result)."""
    result = run()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    return statistics.median(times), times, result


def main() -> dict[str, Any]:
    os.environ["SIYU_LOG_LEVEL"] = "WARNING"
    from rich.console import Console
    from rich.table import Table
    from sqlalchemy import delete, text

    from siyu.access.rules import system_actor
    from siyu.config import get_settings
    from siyu.core.logging import configure_logging
    from siyu.db import migrate
    from siyu.db.embedded import drop_database, stop_embedded_servers
    from siyu.db.session import make_database
    from siyu.segments import rules, service
    from siyu.segments.membership import count_matching, matching_statement
    from siyu.segments.models import SegmentMember
    from siyu.segments.schemas import SegmentCreate

    get_settings.cache_clear()
    configure_logging(get_settings().log_format, "WARNING")
    members = int(env_float("SIYU_BENCH_MEMBERS", 1_000_000))
    events = int(env_float("SIYU_BENCH_EVENTS", 20_000_000))
    repeats = int(env_float("SIYU_BENCH_REPEATS", 5))
    console = Console()
    load_before = os.getloadavg()[0]
    now = datetime.now(UTC).replace(microsecond=0)
    since = now - timedelta(days=30)

    server_db, name, url = throwaway_database()
    database = None
    try:
        with console.status("Migrating a throwaway database..."):
            migrate.upgrade(url)
        database = make_database(url, pool_size=4)
        with console.status(f"Seeding {members:,} members and {events:,} events..."):
            seeded = _seed(database, members, events, now)
        console.print(f"Seeded in {seeded['timings']} s")
        brand_id = seeded["brand_id"]
        system = system_actor(brand_id, "bench")
        node = rules.parse_rule(RULE).node

        def count() -> int:
            with database.sessions() as session:
                statement = matching_statement(
                    session, node, brand_id=brand_id, owner=system, now=now
                )
                return count_matching(session, statement)

        with database.unit_of_work() as session:
            segment_id = service.create_segment(
                session, system, SegmentCreate(name="Gold vip visitors", rule=RULE)
            ).id

        def materialise() -> float:
            """Seconds to materialise the segment from an empty membership, commit included."""
            with database.unit_of_work() as session:
                session.execute(
                    delete(SegmentMember).where(
                        SegmentMember.brand_id == brand_id, SegmentMember.segment_id == segment_id
                    )
                )
                session.commit()
                started = time.perf_counter()
                service.refresh_segment(session, system, segment_id, now=now)
                session.commit()
                return time.perf_counter() - started

        def refresh_unchanged() -> int:
            with database.unit_of_work() as session:
                _, difference = service.refresh_segment(session, system, segment_id, now=now)
                return difference.added + difference.removed

        def preview() -> int:
            with database.unit_of_work() as session:
                return service.preview_segment(session, system, RULE, now=now).count

        def naive() -> int:
            with database.sessions() as session:
                return int(
                    session.execute(
                        text(NAIVE_SQL),
                        {"brand": brand_id, "since": since, "tag": seeded["tags"]["vip"]},
                    ).scalar_one()
                )

        with database.sessions() as session:
            statement = matching_statement(session, node, brand_id=brand_id, owner=system, now=now)
            sql = str(
                statement.compile(
                    dialect=session.get_bind().dialect, compile_kwargs={"literal_binds": True}
                )
            )
            plan = [row[0] for row in session.execute(text("EXPLAIN " + sql))]
        with console.status("Counting..."):
            count_median, count_times, member_count = _median_seconds(count, repeats)
        with console.status("Materialising..."):
            materialise()
            materialise_times = [materialise() for _ in range(repeats)]
            materialise_median = statistics.median(materialise_times)
        with console.status("Refreshing with no change and previewing..."):
            unchanged_median, _, changed = _median_seconds(refresh_unchanged, repeats)
            preview_median, _, previewed = _median_seconds(preview, repeats)
        with console.status("Naive baseline..."):
            # a full scan needs no warm-up: two runs
            naive_times = []
            for _ in range(2):
                started = time.perf_counter()
                naive_count = naive()
                naive_times.append(time.perf_counter() - started)
            naive_median = statistics.median(naive_times)
        if naive_count != member_count or previewed != member_count or changed != 0:
            raise RuntimeError(
                f"counts disagree: compiler {member_count}, naive {naive_count}, "
                f"preview {previewed}, unchanged refresh changed {changed}"
            )
        with database.sessions() as session:
            stored = session.execute(
                text("SELECT count(*) FROM segment_member WHERE segment_id = :s"),
                {"s": segment_id},
            ).scalar_one()
        if stored != member_count:
            raise RuntimeError(f"materialised {stored} members, counted {member_count}")
        proposed: dict[str, Any] = {}
        if os.environ.get("SIYU_BENCH_PROPOSED_INDEX") == "1":
            with console.status("Replacing the member index of tracking_event (proposal)..."):
                with database.engine.begin() as connection:
                    connection.execute(text("SET LOCAL maintenance_work_mem = '512MB'"))
                    connection.execute(text(PROPOSED_INDEX))
                    connection.execute(text("DROP INDEX ix_tracking_event_member"))
                proposed_count, _, _ = _median_seconds(count, repeats)
                materialise()
                proposed_materialise = statistics.median([materialise() for _ in range(repeats)])
            proposed = {
                "proposed_index": PROPOSED_INDEX,
                "proposed_count_seconds": round(proposed_count, 3),
                "proposed_materialise_seconds": round(proposed_materialise, 3),
                "proposed_count_and_materialise_seconds": round(
                    proposed_count + proposed_materialise, 3
                ),
            }
    finally:
        if database is not None:
            database.dispose()
        drop_database(server_db, name)
        stop_embedded_servers()

    total = count_median + materialise_median
    table = Table(title=f"segment: {members:,} members, {events:,} events ({repeats} runs)")
    for column in ("phase", "median s", "runs s"):
        table.add_column(column, justify="left" if column == "phase" else "right")
    table.add_row("count (compiler)", f"{count_median:.3f}", _runs(count_times))
    table.add_row(
        "materialise (refresh from empty)", f"{materialise_median:.3f}", _runs(materialise_times)
    )
    table.add_row("refresh, nothing changed", f"{unchanged_median:.3f}", "")
    table.add_row("preview (count + 20 sample)", f"{preview_median:.3f}", "")
    table.add_row(
        "naive GROUP BY over all events (baseline)", f"{naive_median:.3f}", _runs(naive_times)
    )
    console.print(table)
    console.print("Plan of the count's statement:")
    console.print("\n".join(plan), highlight=False, markup=False)
    return {
        "benchmark": "segment",
        "count_seconds": round(count_median, 3),
        "materialise_seconds": round(materialise_median, 3),
        "count_and_materialise_seconds": round(total, 3),
        "goal_seconds": 1.0,
        "goal_met": total < 1.0,
        "member_count": member_count,
        "baseline_naive_seconds": round(naive_median, 3),
        "ratio_naive_to_count": round(naive_median / count_median, 1) if count_median else 0.0,
        "refresh_unchanged_seconds": round(unchanged_median, 3),
        "preview_seconds": round(preview_median, 3),
        "members": members,
        "events": events,
        "rule": RULE,
        "repeats": repeats,
        "seed_seconds": seeded["timings"],
        **proposed,
        "load_average_1m_before": round(load_before, 2),
        "cpus": os.cpu_count(),
    }


def _runs(times: list[float]) -> str:
    return " ".join(f"{t:.3f}" for t in times)


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(main(), ensure_ascii=False, default=str))
    sys.exit(0)
