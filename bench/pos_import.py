"""pos-import: importing a POS sales export of 100,000 order rows (issue 4, offline data).

Goal: 100,000 order rows import in well under a minute through the real import
(``siyu.offline.order_imports.import_pos_orders``: the file read and checked through its column
mapping, receipts grouped, members matched by POS member number or phone, SKUs by code, every
receipt and line written, each member's purchase summary updated once per receipt), in one
transaction as ``siyu import pos-orders`` runs it. Also measured: importing the same file again
(nothing changes) and the POS member file that comes first.

Baseline, in the same run: a row-at-a-time import of part of another file (per receipt: look up
the order number, the member by identifier and each SKU, insert the receipt and its lines with
the ORM and flush, update the member's summary), the way an import without set-based writes
would do it; its rows/s against the real import's is the ratio.

Seeding: a brand with 50 stores (services) and 2,000 SKUs (the catalog CSV import). The member
file has SIYU_BENCH_MEMBERS members (default 5,000; half with a POS number and a phone, a
quarter each with only one). The order file has SIYU_BENCH_ROWS rows (default 100,000): receipts
of 1-5 lines, 60% naming a member (by POS number, else phone), 5% of lines an SKU code the
catalog does not know, 3% returned items; SIYU_BENCH_BASELINE_ROWS (default 3,000) rows for the
baseline. New members are created in one set-based call of ``register_members`` (the members
domain's API); their figure is members/s, reported but without a goal.
"""

from __future__ import annotations

import os
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from _harness import env_float, throwaway_database

STORES = 50
SKUS = 2000
ORDER_HEADER = "小票号,门店编码,销售时间,会员卡号,手机号,商品编码,数量,金额,整单金额"
ORDER_MAPPING = {
    "小票号": "order_number",
    "门店编码": "store_code",
    "销售时间": "placed_at",
    "会员卡号": "pos_member_number",
    "手机号": "phone",
    "商品编码": "sku_code",
    "数量": "quantity",
    "金额": "amount_yuan",
    "整单金额": "order_total",
}
MEMBER_HEADER = "会员卡号,手机号,姓名,门店编码,入会时间"
MEMBER_MAPPING = {
    "会员卡号": "pos_member_number",
    "手机号": "phone",
    "姓名": "name",
    "门店编码": "store_code",
    "入会时间": "joined_at",
}


def _members_file(count: int, rng: random.Random) -> tuple[bytes, list[tuple[str, str]]]:
    """The member file, and (POS number, phone) of each member ('' where the file has none)."""
    lines = [MEMBER_HEADER]
    people: list[tuple[str, str]] = []
    for n in range(count):
        number, phone = f"VIP{n:07d}", f"139{n:08d}"
        kind = n % 4
        if kind == 2:
            phone = ""
        elif kind == 3:
            number = ""
        people.append((number, phone))
        store = f"B{rng.randrange(STORES):03d}"
        lines.append(f"{number},{phone},会员{n},{store},2025-{1 + n % 12:02d}-15 10:00")
    return ("\n".join(lines) + "\n").encode(), people


def _orders_file(
    rows: int, prefix: str, people: list[tuple[str, str]], rng: random.Random
) -> bytes:
    lines = [ORDER_HEADER]
    start = datetime(2026, 10, 1, 10, 0, tzinfo=UTC)
    receipt = 0
    while len(lines) - 1 < rows:
        receipt += 1
        count = min(rng.randint(1, 5), rows - (len(lines) - 1))
        number, phone = "", ""
        if rng.random() < 0.6:
            number, phone = rng.choice(people)
            if number and phone and rng.random() < 0.5:
                phone = ""
        store = f"B{rng.randrange(STORES):03d}"
        placed = (start + timedelta(minutes=receipt)).strftime("%Y-%m-%d %H:%M:%S")
        body = []
        for _ in range(count):
            sku = f"SKU{rng.randrange(SKUS):05d}" if rng.random() >= 0.05 else "OLD-999"
            quantity = rng.randint(1, 3) * (-1 if rng.random() < 0.03 else 1)
            fen = quantity * rng.randrange(1000, 60000)
            body.append((sku, quantity, fen))
        total = sum(fen for _, _, fen in body)
        for sku, quantity, fen in body:
            lines.append(
                f"{prefix}{receipt:08d},{store},{placed},{number},{phone},{sku},{quantity},"
                f"{_yuan(fen)},{_yuan(total)}"
            )
    return ("\n".join(lines) + "\n").encode()


def _yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def _seed(database: Any) -> int:
    from siyu.access.rules import system_actor
    from siyu.brands.service import create_brand
    from siyu.catalog.imports import import_products
    from siyu.catalog.schemas import CategoryCreate
    from siyu.catalog.service import create_category
    from siyu.org.schemas import RegionCreate, StoreCreate
    from siyu.org.service import create_region, create_store

    with database.unit_of_work() as session:
        brand = create_brand(session, slug="bench-pos", name="Bench POS")
        actor = system_actor(brand.id, "bench")
        region = create_region(session, actor, RegionCreate(code="R1", name="Region"))
        for n in range(STORES):
            create_store(
                session,
                actor,
                StoreCreate(code=f"B{n:03d}", name=f"门店 {n}", region_id=region.id),
            )
        create_category(session, actor, CategoryCreate(code="TOPS", name="Tops"))
        catalog = ["category,product_code,product_name,sku_code,list_price"]
        catalog += [f"TOPS,P{n // 4:05d},商品 {n // 4},SKU{n:05d},99.00" for n in range(SKUS)]
        import_products(session, actor, "\n".join(catalog) + "\n")
        brand_id: int = brand.id
    return brand_id


def _row_at_a_time(session: Any, brand_id: int, data: bytes) -> int:
    """The baseline: the same work, one receipt and one row at a time."""
    import csv
    import io

    from sqlalchemy import select

    from siyu.catalog.models import Sku
    from siyu.members.identity import find_member, normalize_phone
    from siyu.members.stats import record_purchase
    from siyu.offline.models import OfflineOrder, OfflineOrderLine
    from siyu.offline.rules import parse_moment, parse_yuan
    from siyu.org.models import Store

    reader = csv.reader(io.StringIO(data.decode()))
    next(reader)
    receipts: dict[str, list[list[str]]] = {}
    for row in reader:
        receipts.setdefault(row[0], []).append(row)
    for number, rows in receipts.items():
        first = rows[0]
        taken = session.scalar(
            select(OfflineOrder.id).where(
                OfflineOrder.brand_id == brand_id, OfflineOrder.order_number == number
            )
        )
        if taken is not None:
            continue
        store_id = session.scalar(
            select(Store.id).where(Store.brand_id == brand_id, Store.code == first[1])
        )
        member = find_member(session, brand_id, "pos_member_number", first[3]) if first[3] else None
        if member is None and first[4]:
            member = find_member(session, brand_id, "phone", normalize_phone(first[4]) or "")
        amounts = [parse_yuan(row[7]) for row in rows]
        order = OfflineOrder(
            brand_id=brand_id,
            order_number=number,
            store_id=store_id,
            member_id=member.id if member else None,
            placed_at=parse_moment(first[2]),
            total_fen=sum(a for a in amounts if a > 0),
            refunded_fen=-sum(a for a in amounts if a < 0),
        )
        session.add(order)
        session.flush()
        for row, amount in zip(rows, amounts, strict=True):
            sku = session.execute(
                select(Sku.id, Sku.product_id).where(Sku.brand_id == brand_id, Sku.code == row[5])
            ).first()
            session.add(
                OfflineOrderLine(
                    brand_id=brand_id,
                    offline_order_id=order.id,
                    sku_id=sku[0] if sku else None,
                    sku_code=row[5],
                    product_id=sku[1] if sku else None,
                    quantity=int(row[6]),
                    amount_fen=amount,
                )
            )
        session.flush()
        if member is not None and sum(amounts) > 0:
            record_purchase(
                session, brand_id, member.id, amount_fen=sum(amounts), at=order.placed_at
            )
    return sum(len(rows) for rows in receipts.values())


def main() -> dict[str, Any]:
    os.environ["SIYU_LOG_LEVEL"] = "WARNING"
    from rich.console import Console
    from rich.table import Table
    from sqlalchemy import func, select

    from siyu.access.rules import system_actor
    from siyu.config import get_settings
    from siyu.core.logging import configure_logging
    from siyu.db import migrate
    from siyu.db.embedded import drop_database, stop_embedded_servers
    from siyu.db.session import make_database
    from siyu.offline.member_imports import import_pos_members
    from siyu.offline.models import OfflineOrder, OfflineOrderLine
    from siyu.offline.order_imports import import_pos_orders

    get_settings.cache_clear()
    configure_logging(get_settings().log_format, "WARNING")
    row_count = int(env_float("SIYU_BENCH_ROWS", 100_000))
    member_count = int(env_float("SIYU_BENCH_MEMBERS", 5_000))
    baseline_rows = int(env_float("SIYU_BENCH_BASELINE_ROWS", 3_000))
    load_before = os.getloadavg()[0]
    console = Console()
    rng = random.Random(20261122)
    members_data, people = _members_file(member_count, rng)
    orders_data = _orders_file(row_count, "R", people, rng)
    baseline_data = _orders_file(baseline_rows, "B", people, rng)

    server_db, name, url = throwaway_database()
    database = None
    try:
        with console.status("Migrating a throwaway database..."):
            migrate.upgrade(url)
        database = make_database(url, pool_size=2)
        with console.status(f"Seeding {STORES} stores and {SKUS} SKUs..."):
            brand_id = _seed(database)
        actor = system_actor(brand_id, "bench")

        with console.status(f"Importing {member_count:,} POS members..."):
            began = time.perf_counter()
            with database.unit_of_work() as session:
                members = import_pos_members(session, actor, members_data, mapping=MEMBER_MAPPING)
            member_seconds = time.perf_counter() - began

        with console.status(f"Importing {row_count:,} POS order rows..."):
            began = time.perf_counter()
            with database.unit_of_work() as session:
                first = import_pos_orders(session, actor, orders_data, mapping=ORDER_MAPPING)
            import_seconds = time.perf_counter() - began

        with console.status("Importing the same file again..."):
            began = time.perf_counter()
            with database.unit_of_work() as session:
                again = import_pos_orders(session, actor, orders_data, mapping=ORDER_MAPPING)
            reimport_seconds = time.perf_counter() - began

        with database.sessions() as session:
            orders = session.scalar(select(func.count()).select_from(OfflineOrder))
            lines = session.scalar(select(func.count()).select_from(OfflineOrderLine))
        if again.created or orders != first.created or lines != row_count:
            raise RuntimeError(f"unexpected counts: {orders} orders, {lines} lines, {again}")

        with console.status(f"Baseline: {baseline_rows:,} rows one at a time..."):
            began = time.perf_counter()
            with database.unit_of_work() as session:
                baseline_done = _row_at_a_time(session, brand_id, baseline_data)
            baseline_seconds = time.perf_counter() - began
    finally:
        if database is not None:
            database.dispose()
        drop_database(server_db, name)
        stop_embedded_servers()

    rows_per_second = row_count / import_seconds
    baseline_rate = baseline_done / baseline_seconds
    table = Table(title=f"pos-import: {row_count:,} order rows, {member_count:,} members")
    for column in ("phase", "rows", "seconds", "rows/s"):
        table.add_column(column, justify="right" if column != "phase" else "left")
    table.add_row("POS members", f"{member_count:,}", f"{member_seconds:.2f}", "")
    table.add_row(
        "POS orders (set-based)",
        f"{row_count:,}",
        f"{import_seconds:.2f}",
        f"{rows_per_second:,.0f}",
    )
    table.add_row("the same file again", f"{row_count:,}", f"{reimport_seconds:.2f}", "")
    table.add_row(
        "baseline: row at a time",
        f"{baseline_done:,}",
        f"{baseline_seconds:.2f}",
        f"{baseline_rate:,.0f}",
    )
    console.print(table)
    console.print(
        f"{first.created:,} receipts ({first.member_orders:,} with a member, "
        f"{first.anonymous_orders:,} anonymous), {first.lines:,} lines, "
        f"{first.unknown_sku_lines:,} with an unknown SKU code; "
        f"{members.created:,} members created. "
        f"Ratio to the row-at-a-time baseline: {rows_per_second / baseline_rate:.1f}x."
    )
    return {
        "benchmark": "pos-import",
        "rows": row_count,
        "import_seconds": round(import_seconds, 2),
        "rows_per_second": round(rows_per_second),
        "reimport_seconds": round(reimport_seconds, 2),
        "members": member_count,
        "member_import_seconds": round(member_seconds, 2),
        "members_per_second": round(member_count / member_seconds),
        "receipts": first.created,
        "baseline_rows_per_second": round(baseline_rate),
        "ratio_to_baseline": round(rows_per_second / baseline_rate, 1),
        "goal_seconds": 60,
        "goal_met": import_seconds < 60,
        "load_average_1m_before": round(load_before, 2),
        "cpus": os.cpu_count(),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(main(), ensure_ascii=False))
