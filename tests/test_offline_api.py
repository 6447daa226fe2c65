"""Offline data over HTTP, in the console and the CLI: POS uploads, the private-domain share,
a member's offline orders, and the demo's POS files."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from siyu.access.rules import system_actor
from siyu.catalog.demo import seed_demo_categories
from siyu.catalog.imports import import_products
from siyu.cli.main import app as cli_app
from siyu.config import get_settings
from siyu.core.clock import SHANGHAI, utc_now
from siyu.db.session import Database, set_database
from siyu.demo.mall import EXAMPLE_PRODUCTS, MORE_PRODUCTS
from siyu.demo.offline import MEMBERS_FILE, ORDERS_FILE, OfflineResult, seed_offline
from siyu.demo.seed import REGIONS
from siyu.members.models import Member
from siyu.offline.models import OfflineOrder
from siyu.offline.order_imports import import_pos_orders
from siyu.offline.service import member_offline_orders
from tests.factories import World, build_world, make_brand, make_region, make_store
from tests.factories_catalog import make_category, make_product
from tests.factories_consumers import make_consumer
from tests.factories_offline import (
    MEMBER_HEADER,
    MEMBER_MAPPING,
    ORDER_HEADER,
    ORDER_MAPPING,
    csv_text,
    make_member,
    make_paid_order,
)
from tests.helpers import assert_problem, row_counts
from tests.test_console_pages import log_in

JOINED = datetime(2024, 1, 2, 2, 0, tzinfo=UTC)


@pytest.fixture
def world(session: Session) -> World:
    w = build_world(session)
    category = make_category(session, w.system)
    make_product(session, w.system, category, "TEE")
    session.commit()
    return w


def _upload(
    client: TestClient,
    world: World,
    who: str,
    path: str,
    body: bytes,
    mapping: dict[str, str] | str | None,
    **form: str,
) -> Any:
    data = dict(form)
    if mapping is not None:
        data["mapping"] = mapping if isinstance(mapping, str) else json.dumps(mapping)
    return client.post(
        path,
        files={"file": ("export.csv", body, "text/csv")},
        data=data,
        headers=world.headers(who),
    )


# ---------------------------------------------------------------- imports over HTTP


def test_hq_uploads_a_pos_sales_export(client: TestClient, session: Session, world: World) -> None:
    member = make_member(session, world.brand.id, pos_number="P001", joined_at=JOINED)
    session.commit()
    s = world.direct_store.code
    body = csv_text(
        ORDER_HEADER,
        f"R1,{s},2026-11-01 10:00,P001,,TEE-S,1,199.00,",
        f"R1,{s},2026-11-01 10:00,P001,,GIFT,1,0.00,",
        f"R2,{s},2026-11-01 11:00,,,TEE-M,1,199.00,",
    )
    response = _upload(client, world, "hq_operator", "/api/imports/pos-orders", body, ORDER_MAPPING)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result == {
        "kind": "pos_orders",
        "import_id": result["import_id"],
        "rows": 3,
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "lines": 3,
        "member_orders": 1,
        "anonymous_orders": 1,
        "unknown_sku_lines": 1,
        "dry_run": False,
    }
    assert isinstance(result["import_id"], int)
    session.expire_all()
    counted = session.get(Member, (world.brand.id, member.id))
    assert counted is not None and counted.order_count == 1
    # and the same file again creates nothing
    again = _upload(client, world, "hq_operator", "/api/imports/pos-orders", body, ORDER_MAPPING)
    assert (again.json()["created"], again.json()["unchanged"]) == (0, 2)


def test_a_rejected_upload_lists_every_bad_line_and_writes_nothing(
    client: TestClient, session: Session, world: World
) -> None:
    before = row_counts(session)
    body = csv_text(
        ORDER_HEADER,
        f"R1,{world.direct_store.code},2026-11-01 10:00,,,TEE-S,1,199.00,",
        "R2,NOPE,2026-11-01 10:00,,,TEE-S,one,199.00,",
    )
    response = _upload(client, world, "hq_operator", "/api/imports/pos-orders", body, ORDER_MAPPING)
    problem = assert_problem(response, 422, "import_rejected")
    assert problem["errors"] == [
        {"line": 3, "column": "数量", "reason": "'one' is not a whole number of items"},
        {"line": 3, "column": "门店", "reason": "no store with code 'NOPE' in this brand"},
    ]
    assert row_counts(session) == before


def test_a_mapping_that_is_not_json_or_names_unknown_fields_is_refused(
    client: TestClient, session: Session, world: World
) -> None:
    body = csv_text(MEMBER_HEADER, "P1,,,,,,,")
    not_json = _upload(client, world, "hq_operator", "/api/imports/pos-members", body, "{oops")
    assert assert_problem(not_json, 422, "invalid_mapping")["field"] == "mapping"
    unknown = _upload(
        client, world, "hq_operator", "/api/imports/pos-members", body, {"会员卡号": "card"}
    )
    problem = assert_problem(unknown, 422, "invalid_mapping")
    assert problem["reasons"] == [
        "unknown field 'card' (for column '会员卡号'); the fields are: pos_member_number, "
        "phone, name, gender, birthday, store_code, joined_at"
    ]


def test_a_dry_run_checks_and_writes_nothing(
    client: TestClient, session: Session, world: World
) -> None:
    before = row_counts(session)
    body = csv_text(MEMBER_HEADER, f"P1,13800000001,王丽,女,,{world.direct_store.code},,")
    response = _upload(
        client,
        world,
        "store_manager",
        "/api/imports/pos-members",
        body,
        MEMBER_MAPPING,
        dry_run="true",
    )
    assert response.status_code == 200, response.text
    assert (response.json()["created"], response.json()["dry_run"]) == (1, True)
    assert response.json()["import_id"] is None
    assert row_counts(session) == before


def test_a_store_manager_uploading_another_stores_rows_is_refused(
    client: TestClient, session: Session, world: World
) -> None:
    before = row_counts(session)
    body = csv_text(
        MEMBER_HEADER,
        f"P1,13800000001,王丽,女,,{world.direct_store.code},,",
        f"P2,13800000002,李娜,女,,{world.other_store.code},,",
    )
    response = _upload(
        client, world, "store_manager", "/api/imports/pos-members", body, MEMBER_MAPPING
    )
    problem = assert_problem(response, 422, "import_rejected")
    assert problem["errors"] == [
        {
            "line": 3,
            "column": "门店编码",
            "reason": f"no store with code '{world.other_store.code}' among the stores you "
            "may import for",
        }
    ]
    assert row_counts(session) == before


@pytest.mark.parametrize("who", ["guide", "region_manager", "integration"])
def test_roles_without_imports_are_refused(
    client: TestClient, session: Session, world: World, who: str
) -> None:
    before = row_counts(session)
    body = csv_text(MEMBER_HEADER, f"P1,,,,,{world.direct_store.code},,")
    response = _upload(client, world, who, "/api/imports/pos-members", body, "{oops")
    assert assert_problem(response, 403, "permission_denied")["permission"] == "import:run"
    assert row_counts(session) == before


# ---------------------------------------------------------------- the private-domain share


@pytest.fixture
def sales(session: Session, world: World) -> World:
    """Online: 300.00 paid at the direct store on 11-10 with 50.00 refunded, 100.00 at the
    other store on 11-11, 999.00 paid the evening before the period. Offline: 200.00 at the
    direct store on 11-10; 150.00 sold and 50.00 returned at the other store on 11-11."""
    shopper = make_consumer(session, world.brand, "alice")
    make_paid_order(
        session,
        shopper,
        world.direct_store.id,
        paid_at=datetime(2026, 11, 10, 2, 0, tzinfo=UTC),
        paid_fen=30000,
        refunded_fen=5000,
    )
    make_paid_order(
        session,
        shopper,
        world.other_store.id,
        paid_at=datetime(2026, 11, 11, 8, 0, tzinfo=UTC),
        paid_fen=10000,
    )
    make_paid_order(
        session,
        shopper,
        world.direct_store.id,
        paid_at=datetime(2026, 11, 9, 15, 30, tzinfo=UTC),  # 11-09 23:30 in Shanghai
        paid_fen=99900,
    )
    import_pos_orders(
        session,
        world.system,
        csv_text(
            ORDER_HEADER,
            f"R1,{world.direct_store.code},2026-11-10 12:00,,,TEE-S,1,200.00,",
            f"R2,{world.other_store.code},2026-11-11 09:00,,,TEE-M,1,150.00,",
            f"R2,{world.other_store.code},2026-11-11 09:00,,,TEE-S,-1,-50.00,",
        ),
        mapping=ORDER_MAPPING,
    )
    session.commit()
    return world


SHARE_URL = "/api/reports/private-domain-share?from=2026-11-10&to=2026-11-12"


def test_the_private_domain_share_of_a_period(client: TestClient, sales: World) -> None:
    response = client.get(SHARE_URL, headers=sales.headers("hq_operator"))
    assert response.status_code == 200, response.text
    assert response.json() == {
        "date_from": "2026-11-10",
        "date_to": "2026-11-12",
        "store_id": None,
        "region_id": None,
        "online_gmv_fen": 35000,
        "offline_gmv_fen": 30000,
        "all_gmv_fen": 65000,
        "share": "0.5385",
        "share_permille": 538,
        "days": None,
    }


def test_the_share_by_day(client: TestClient, sales: World) -> None:
    response = client.get(SHARE_URL + "&by_day=true", headers=sales.headers("brand_admin"))
    days = response.json()["days"]
    assert [(d["day"], d["online_gmv_fen"], d["offline_gmv_fen"], d["share"]) for d in days] == [
        ("2026-11-10", 25000, 20000, "0.5556"),
        ("2026-11-11", 10000, 10000, "0.5000"),
    ]


def test_the_share_of_one_store_one_region_and_a_managers_scope(
    client: TestClient, sales: World
) -> None:
    def figures(url: str, who: str) -> tuple[int, int, int | None]:
        body = client.get(url, headers=sales.headers(who)).json()
        return body["online_gmv_fen"], body["offline_gmv_fen"], body["share_permille"]

    assert figures(f"{SHARE_URL}&store_id={sales.direct_store.id}", "hq_operator") == (
        25000,
        20000,
        556,
    )
    assert figures(f"{SHARE_URL}&region_id={sales.region_b.id}", "hq_operator") == (
        10000,
        10000,
        500,
    )
    assert figures(SHARE_URL, "store_manager") == (25000, 20000, 556)
    assert figures(SHARE_URL, "franchisee_owner") == (0, 0, None)


def test_the_share_refuses_what_is_out_of_scope(client: TestClient, sales: World) -> None:
    other = client.get(
        f"{SHARE_URL}&store_id={sales.other_store.id}", headers=sales.headers("store_manager")
    )
    assert_problem(other, 404, "store_not_found")
    region = client.get(
        f"{SHARE_URL}&region_id={sales.region_b.id}", headers=sales.headers("region_manager")
    )
    assert_problem(region, 404, "region_not_found")
    guide = client.get(SHARE_URL, headers=sales.headers("guide"))
    assert assert_problem(guide, 403, "permission_denied")["permission"] == "report:read"
    backwards = client.get(
        "/api/reports/private-domain-share?from=2026-11-12&to=2026-11-10",
        headers=sales.headers("hq_operator"),
    )
    assert_problem(backwards, 422, "invalid_report_period")


# ---------------------------------------------------------------- the member 360


def test_a_members_offline_orders_newest_first_with_store_and_lines(
    session: Session, world: World
) -> None:
    member = make_member(session, world.brand.id, pos_number="P001", joined_at=JOINED)
    s = world.direct_store.code
    import_pos_orders(
        session,
        world.system,
        csv_text(
            ORDER_HEADER,
            f"R1,{s},2026-11-01 10:00,P001,,TEE-S,1,199.00,",
            f"R2,{s},2026-11-03 10:00,P001,,TEE-M,1,199.00,",
            f"R2,{s},2026-11-03 10:00,P001,,TEE-S,-1,-199.00,",
            f"R3,{s},2026-11-02 10:00,,,TEE-M,1,199.00,",
        ),
        mapping=ORDER_MAPPING,
    )
    orders = member_offline_orders(session, world.brand.id, member.id, limit=50)
    assert [(o.order_number, o.total_fen, o.refunded_fen, o.net_fen) for o in orders] == [
        ("R2", 19900, 19900, 0),
        ("R1", 19900, 0, 19900),
    ]
    assert (orders[0].store_name, orders[0].store_code) == (world.direct_store.name, s)
    assert orders[0].placed_at == datetime(2026, 11, 3, 2, 0, tzinfo=UTC)
    assert [(x.sku_code, x.product_name, x.quantity, x.amount_fen) for x in orders[0].lines] == [
        ("TEE-M", "Product TEE", 1, 19900),
        ("TEE-S", "Product TEE", -1, -19900),
    ]
    assert len(member_offline_orders(session, world.brand.id, member.id, limit=1)) == 1


# ---------------------------------------------------------------- console


def test_the_console_uploads_a_file_and_shows_bad_lines(
    client: TestClient, session: Session, world: World
) -> None:
    csrf = log_in(client, world, "hq_operator")
    page = client.get("/console/offline")
    assert page.status_code == 200
    assert 'action="/console/offline/pos-orders"' in page.text
    assert "Private-domain share" in page.text
    good = csv_text(ORDER_HEADER, f"R1,{world.direct_store.code},2026-11-01,,,TEE-S,1,9.90,")
    done = client.post(
        "/console/offline/pos-orders",
        files={"file": ("pos.csv", good, "text/csv")},
        data={"csrf_token": csrf, "mapping": json.dumps(ORDER_MAPPING)},
    )
    assert done.status_code == 200, done.text
    assert "Imported POS orders 销售小票:" in done.text
    assert "pos.csv" in done.text  # in the latest imports
    bad = csv_text(ORDER_HEADER, "R9,NOPE,2026-11-01,,,TEE-S,1,9.90,")
    refused = client.post(
        "/console/offline/pos-orders",
        files={"file": ("bad.csv", bad, "text/csv")},
        data={"csrf_token": csrf, "mapping": json.dumps(ORDER_MAPPING)},
    )
    assert refused.status_code == 422
    assert "no store with code &#39;NOPE&#39; in this brand" in refused.text
    assert session.scalar(select(func.count()).select_from(OfflineOrder)) == 1


def test_the_console_page_is_refused_to_a_guide(client: TestClient, world: World) -> None:
    log_in(client, world, "guide")
    assert client.get("/console/offline").status_code == 403


# ---------------------------------------------------------------- CLI and demo


@pytest.fixture
def cli(db: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("SIYU_DATABASE_URL", db.url)
    get_settings.cache_clear()
    set_database(db)
    try:
        yield CliRunner()
    finally:
        get_settings.cache_clear()


def test_the_cli_imports_pos_files_with_a_mapping_file_and_pairs(
    cli: CliRunner, session: Session, world: World, tmp_path: Path
) -> None:
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps({"卡号": "pos_member_number"}), encoding="utf-8")
    members = tmp_path / "members.csv"
    members.write_bytes(csv_text("卡号,Mobile,门店", f"P1,13800000001,{world.direct_store.code}"))
    result = cli.invoke(
        cli_app,
        [
            "import",
            "pos-members",
            str(members),
            "--brand",
            world.brand.slug,
            "--mapping",
            str(mapping),
            "--map",
            "Mobile=phone",
            "--map",
            "门店=store_code",
        ],
    )
    assert result.exit_code == 0, result.output + result.stderr
    assert f"Imported pos-members into brand '{world.brand.slug}': 1 created" in result.stdout
    bad = cli.invoke(
        cli_app,
        ["import", "pos-orders", str(members), "--brand", world.brand.slug, "--map", "x"],
    )
    assert bad.exit_code == 2
    assert "invalid_mapping" in bad.stderr


def _demo_store_codes() -> list[str]:
    return [store[0] for _, _, stores in REGIONS for store in stores]


def test_the_demo_pos_files_name_the_demo_brands_stores_and_skus() -> None:
    members = list(csv.DictReader(io.StringIO(MEMBERS_FILE.read_text(encoding="utf-8"))))
    orders = list(csv.DictReader(io.StringIO(ORDERS_FILE.read_text(encoding="utf-8"))))
    catalog = EXAMPLE_PRODUCTS.read_text(encoding="utf-8") + MORE_PRODUCTS
    skus = {row["sku_code"] for row in csv.DictReader(io.StringIO(catalog))}
    stores = set(_demo_store_codes())
    assert {row["开卡门店"] for row in members} <= stores
    assert {row["门店编码"] for row in orders} <= stores
    assert {row["商品编码"] for row in orders} - skus == {"JX-GIFTCARD-200"}


def test_the_demo_pos_files_import_through_the_real_imports(session: Session) -> None:
    # given a brand with the demo's store codes and catalog
    brand = make_brand(session)
    actor = system_actor(brand.id, "test")
    region = make_region(session, actor)
    for code in _demo_store_codes():
        make_store(session, actor, region, code=code)
    seed_demo_categories(session, actor)
    import_products(session, actor, EXAMPLE_PRODUCTS.read_bytes())
    import_products(session, actor, MORE_PRODUCTS)
    # when the demo's POS data is seeded, twice
    result = seed_offline(session, brand)
    again = seed_offline(session, brand)
    # then every member and receipt is imported once, the last sale dated yesterday
    assert result == OfflineResult(
        members_created=12, members_updated=0, orders_created=20, order_lines=27
    )
    assert again == OfflineResult(0, 0, 0, 0)
    wang_fang = session.scalars(
        select(Member).where(Member.brand_id == brand.id, Member.phone == "13900003333")
    ).one()
    orders = member_offline_orders(session, brand.id, wang_fang.id)
    assert [o.net_fen for o in orders] == [155890]
    assert "JX-GIFTCARD-200" in [line.sku_code for line in orders[0].lines]
    last = session.scalar(
        select(func.max(OfflineOrder.placed_at)).where(OfflineOrder.brand_id == brand.id)
    )
    assert last is not None
    yesterday = utc_now().astimezone(SHANGHAI).date() - timedelta(days=1)
    assert last.astimezone(SHANGHAI).date() == yesterday


def test_another_brands_stores_and_members_are_out_of_reach(
    client: TestClient, session: Session, world: World
) -> None:
    # given brand B, with a store and a member known by POS number P001
    other = build_world(session)
    make_member(session, other.brand.id, pos_number="P001", joined_at=JOINED)
    session.commit()
    before = row_counts(session)
    # when brand A's admin names brand B's store in a report and in an upload
    report = client.get(
        f"{SHARE_URL}&store_id={other.direct_store.id}", headers=world.headers("brand_admin")
    )
    upload = _upload(
        client,
        world,
        "brand_admin",
        "/api/imports/pos-orders",
        csv_text(ORDER_HEADER, f"R1,{other.direct_store.code},2026-11-01,P001,,TEE-S,1,1.00,"),
        ORDER_MAPPING,
    )
    # then brand B's store does not exist for brand A, and nothing is written
    assert_problem(report, 404, "store_not_found")
    assert assert_problem(upload, 422, "import_rejected")["errors"] == [
        {
            "line": 2,
            "column": "门店",
            "reason": f"no store with code '{other.direct_store.code}' in this brand",
        }
    ]
    assert row_counts(session) == before
    # and brand B's POS number names nobody in brand A: an upload makes a new member of A
    members = _upload(
        client,
        world,
        "brand_admin",
        "/api/imports/pos-members",
        csv_text(MEMBER_HEADER, f"P001,,王丽,,,{world.direct_store.code},,"),
        MEMBER_MAPPING,
    )
    assert (members.json()["created"], members.json()["updated"]) == (1, 0)
