"""Franchise settlement through the HTTP API, the console and the CLI: who may set rules and
run settlements, who sees which statement and ledger, CSV export, and every refusal."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from siyu.cli.main import app as cli_app
from siyu.config import get_settings
from siyu.db.session import Database, set_database
from siyu.settlement.models import LedgerEntry, SettlementRule, Statement
from siyu.settlement.service import run_settlement
from tests.factories_settlement import (
    TEE_PRICE_FEN,
    Franchise,
    build_franchise,
    dispatch_all,
    paid_order,
    refunded,
    set_rule,
)
from tests.helpers import assert_problem, row_counts
from tests.test_console_pages import log_in

OCT_15 = datetime(2026, 10, 15, 4, tzinfo=UTC)
OCTOBER = {"period_start": "2026-10-01", "period_end": "2026-11-01"}


@pytest.fixture
def franchise(session: Session) -> Franchise:
    return build_franchise(session)


@pytest.fixture
def settled(session: Session, db: Database, franchise: Franchise) -> Franchise:
    """October settled: franchisee A sold 2 tees (one refunded in part), B one tee."""
    set_rule(session, franchise, 500, 10000)
    order = paid_order(
        session, db, franchise, franchise.world.franchise_store, tees=2, paid_at=OCT_15
    )
    refunded(session, db, order, 1234, succeeded_at=OCT_15)
    paid_order(session, db, franchise, franchise.other_franchise_store, paid_at=OCT_15)
    dispatch_all(db)
    run_settlement(
        session,
        franchise.world.system,
        period_start=date(2026, 10, 1),
        period_end=date(2026, 11, 1),
    )
    session.commit()
    return franchise


def statement_id(session: Session, franchisee_id: int) -> int:
    found = session.scalar(select(Statement.id).where(Statement.franchisee_id == franchisee_id))
    assert found is not None
    return found


# ---------------------------------------------------------------- rules


def test_hq_sets_a_franchisee_rule_and_the_franchisee_reads_it(
    session: Session, client: TestClient, franchise: Franchise
) -> None:
    world = franchise.world
    url = f"/api/franchisees/{world.franchisee.id}/settlement-rule"
    # given a brand default
    default = client.put(
        "/api/settlement-rules/default",
        json={"commission_bps": 500, "fixed_fee_fen": 10000},
        headers=world.headers("brand_admin"),
    )
    assert default.status_code == 200, default.text
    # when the franchisee reads theirs, then it is the default
    inherited = client.get(url, headers=world.headers("franchisee_owner")).json()
    assert (inherited["commission_bps"], inherited["source"]) == (500, "brand_default")
    # when HQ sets the franchisee's own
    own = client.put(
        url, json={"commission_bps": 650, "fixed_fee_fen": 0}, headers=world.headers("hq_operator")
    )
    # then it applies to them
    assert own.status_code == 200, own.text
    read = client.get(url, headers=world.headers("franchisee_owner")).json()
    assert (
        read["franchisee_id"],
        read["commission_bps"],
        read["fixed_fee_fen"],
        read["source"],
    ) == (
        world.franchisee.id,
        650,
        0,
        "franchisee",
    )
    # and setting it again updates the same rule
    client.put(url, json={"commission_bps": 700}, headers=world.headers("hq_operator"))
    assert session.scalars(
        select(SettlementRule.commission_bps).order_by(SettlementRule.id)
    ).all() == [
        500,
        700,
    ]
    # and the other franchisee's owner cannot see it
    hidden = client.get(url, headers=world.headers("other_owner"))
    assert_problem(hidden, 404, "franchisee_not_found")


@pytest.mark.parametrize("who", ["region_manager", "franchisee_owner", "store_manager", "guide"])
def test_only_hq_sets_rules(
    session: Session, client: TestClient, franchise: Franchise, who: str
) -> None:
    world = franchise.world
    session.commit()
    before = row_counts(session)
    response = client.put(
        f"/api/franchisees/{world.franchisee.id}/settlement-rule",
        json={"commission_bps": 1},
        headers=world.headers(who),
    )
    assert_problem(response, 403, "permission_denied")
    assert row_counts(session) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"commission_bps": 10001}, "commission_bps"),
        ({"commission_bps": -1}, "commission_bps"),
        ({"commission_bps": 500, "fixed_fee_fen": -1}, "fixed_fee_fen"),
    ],
)
def test_a_bad_rule_is_refused(
    session: Session, client: TestClient, franchise: Franchise, body: dict[str, int], field: str
) -> None:
    session.commit()
    before = row_counts(session)
    response = client.put(
        "/api/settlement-rules/default", json=body, headers=franchise.world.headers("brand_admin")
    )
    problem = assert_problem(response, 422, "validation_error")
    assert problem["field"] == field
    assert row_counts(session) == before


# ---------------------------------------------------------------- runs


def test_hq_runs_a_settlement_over_the_api(
    session: Session, db: Database, client: TestClient, franchise: Franchise
) -> None:
    # given a rule and an October sale
    set_rule(session, franchise, 500)
    paid_order(session, db, franchise, franchise.world.franchise_store, paid_at=OCT_15)
    dispatch_all(db)
    # when HQ settles October
    response = client.post(
        "/api/settlement-runs", json=OCTOBER, headers=franchise.world.headers("hq_operator")
    )
    # then one run with a statement per franchisee
    assert response.status_code == 201, response.text
    run = response.json()
    assert (run["period_start"], run["period_end"], run["statement_count"]) == (
        "2026-10-01",
        "2026-11-01",
        2,
    )
    assert run["period_start_at"] == "2026-09-30T16:00:00Z"
    listed = client.get("/api/settlement-runs", headers=franchise.world.headers("brand_admin"))
    assert [r["id"] for r in listed.json()["items"]] == [run["id"]]
    # and the franchisee's owner sees the run with their one statement
    mine = client.get("/api/settlement-runs", headers=franchise.world.headers("franchisee_owner"))
    assert [r["statement_count"] for r in mine.json()["items"]] == [1]
    # and the same period again is refused
    again = client.post(
        "/api/settlement-runs", json=OCTOBER, headers=franchise.world.headers("hq_operator")
    )
    assert assert_problem(again, 409, "settlement_period_overlaps")["field"] == "period_start"


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        (
            {"period_start": "2026-11-01", "period_end": "2026-10-01"},
            "invalid_settlement_period",
            "period_end",
        ),
        (
            {"period_start": "2026-11-01", "period_end": "2099-12-01"},
            "invalid_settlement_period",
            "period_end",
        ),
        (
            {"period_start": "2026-13-01", "period_end": "2026-12-01"},
            "validation_error",
            "period_start",
        ),
        ({"period_start": "2026-10-01"}, "validation_error", "period_end"),
    ],
)
def test_a_bad_period_is_refused_with_its_field(
    session: Session,
    client: TestClient,
    franchise: Franchise,
    body: dict[str, str],
    code: str,
    field: str,
) -> None:
    set_rule(session, franchise, 500)
    before = row_counts(session)
    response = client.post(
        "/api/settlement-runs", json=body, headers=franchise.world.headers("brand_admin")
    )
    problem = assert_problem(response, 422, code)
    assert problem["field"] == field
    assert row_counts(session) == before


@pytest.mark.parametrize("who", ["region_manager", "franchisee_owner", "store_manager", "guide"])
def test_only_hq_runs_a_settlement_over_the_api(
    session: Session, client: TestClient, franchise: Franchise, who: str
) -> None:
    set_rule(session, franchise, 500)
    before = row_counts(session)
    response = client.post(
        "/api/settlement-runs", json=OCTOBER, headers=franchise.world.headers(who)
    )
    assert_problem(response, 403, "permission_denied")
    assert row_counts(session) == before


# ---------------------------------------------------------------- statements


def test_a_franchisee_sees_only_their_statements(
    session: Session, client: TestClient, settled: Franchise
) -> None:
    world = settled.world
    mine = statement_id(session, world.franchisee.id)
    theirs = statement_id(session, settled.other_franchisee.id)
    # when the owner lists statements, then only theirs
    listed = client.get("/api/settlement-statements", headers=world.headers("franchisee_owner"))
    assert [s["id"] for s in listed.json()["items"]] == [mine]
    # and reads it with its lines: 2 tees sold, 12.34 refunded, 5% and a ¥100 fee
    statement = client.get(
        f"/api/settlement-statements/{mine}", headers=world.headers("franchisee_owner")
    ).json()
    sales = 2 * TEE_PRICE_FEN
    commission = 1173  # (24690 - 1234) × 5% = 1172.8
    assert (
        statement["sales_fen"],
        statement["refunds_fen"],
        statement["net_sales_fen"],
        statement["commission_fen"],
        statement["fees_fen"],
        statement["net_payable_fen"],
    ) == (sales, 1234, sales - 1234, commission, 10000, sales - 1234 - commission - 10000)
    assert [
        (line["store_id"], line["sales_fen"], line["refunds_fen"], line["order_count"])
        for line in statement["lines"]
    ] == [(world.franchise_store.id, sales, 1234, 1)]
    # and the other franchisee's statement does not exist for them
    for url in (
        f"/api/settlement-statements/{theirs}",
        f"/api/settlement-statements/{theirs}.csv",
        f"/api/settlement-statements/{theirs}?format=csv",
    ):
        assert_problem(
            client.get(url, headers=world.headers("franchisee_owner")), 404, "statement_not_found"
        )


def test_a_region_manager_sees_the_franchisees_with_stores_in_their_region(
    session: Session, client: TestClient, settled: Franchise
) -> None:
    world = settled.world
    in_region = statement_id(session, world.franchisee.id)
    elsewhere = statement_id(session, settled.other_franchisee.id)
    listed = client.get("/api/settlement-statements", headers=world.headers("region_manager"))
    assert [s["id"] for s in listed.json()["items"]] == [in_region]
    assert_problem(
        client.get(
            f"/api/settlement-statements/{elsewhere}", headers=world.headers("region_manager")
        ),
        404,
        "statement_not_found",
    )
    everything = client.get("/api/settlement-statements", headers=world.headers("hq_operator"))
    assert everything.json()["total"] == 2


@pytest.mark.parametrize("who", ["store_manager", "guide"])
def test_store_staff_read_no_settlement(
    session: Session, client: TestClient, settled: Franchise, who: str
) -> None:
    world = settled.world
    mine = statement_id(session, world.franchisee.id)
    for url in (
        "/api/settlement-statements",
        "/api/settlement-runs",
        f"/api/settlement-statements/{mine}",
        f"/api/stores/{world.direct_store.id}/ledger",
    ):
        assert_problem(client.get(url, headers=world.headers(who)), 403, "permission_denied")


def test_a_statement_exports_as_csv(
    session: Session, client: TestClient, settled: Franchise
) -> None:
    world = settled.world
    mine = statement_id(session, world.franchisee.id)
    # when exported both ways
    by_suffix = client.get(
        f"/api/settlement-statements/{mine}.csv", headers=world.headers("franchisee_owner")
    )
    by_query = client.get(
        f"/api/settlement-statements/{mine}?format=csv", headers=world.headers("franchisee_owner")
    )
    # then a row per store and a total row, amounts in fen
    assert by_suffix.status_code == 200, by_suffix.text
    assert by_suffix.headers["content-type"] == "text/csv; charset=utf-8"
    assert by_suffix.text == by_query.text
    rows = [line.split(",") for line in by_suffix.text.strip().split("\n")]
    store, code = world.franchise_store, world.franchisee.code
    assert rows[0][:6] == [
        "franchisee_code",
        "period_start",
        "period_end",
        "store_code",
        "store_name",
        "sales_fen",
    ]
    assert rows[1] == [
        code,
        "2026-10-01",
        "2026-11-01",
        store.code,
        store.name,
        "24690",
        "1234",
        "23456",
        "",
        "",
        "",
        "1",
        "",
    ]
    assert rows[2] == [
        code,
        "2026-10-01",
        "2026-11-01",
        "TOTAL",
        world.franchisee.name,
        "24690",
        "1234",
        "23456",
        "1173",
        "10000",
        "12283",
        "1",
        "122.83",
    ]


# ---------------------------------------------------------------- ledgers


def test_a_store_ledger_is_paginated_filtered_by_date_and_scoped(
    session: Session, db: Database, client: TestClient, settled: Franchise
) -> None:
    world = settled.world
    url = f"/api/stores/{world.franchise_store.id}/ledger"
    # when the owner reads the store's ledger
    page = client.get(f"{url}?limit=1", headers=world.headers("franchisee_owner")).json()
    # then newest first, one at a time
    assert (page["total"], len(page["items"])) == (2, 1)
    assert {
        e["kind"]
        for e in client.get(url, headers=world.headers("franchisee_owner")).json()["items"]
    } == {
        "sale",
        "refund",
    }
    # and a date filter in Shanghai days
    october = client.get(
        f"{url}?from=2026-10-15&to=2026-10-16", headers=world.headers("hq_operator")
    )
    november = client.get(f"{url}?from=2026-11-01", headers=world.headers("hq_operator"))
    assert (october.json()["total"], november.json()["total"]) == (2, 0)
    # and another franchisee's owner, or a direct store's ledger, is not theirs
    assert_problem(client.get(url, headers=world.headers("other_owner")), 404, "store_not_found")
    direct = f"/api/stores/{world.direct_store.id}/ledger"
    assert_problem(
        client.get(direct, headers=world.headers("franchisee_owner")), 404, "store_not_found"
    )
    assert client.get(direct, headers=world.headers("brand_admin")).status_code == 200


# ---------------------------------------------------------------- console


def test_hq_runs_a_settlement_from_the_console_and_the_franchisee_reads_it(
    session: Session, db: Database, client: TestClient, franchise: Franchise
) -> None:
    world = franchise.world
    set_rule(session, franchise, 500, 10000)
    paid_order(session, db, franchise, world.franchise_store, paid_at=OCT_15)
    dispatch_all(db)
    # given HQ logged in: the form is there
    csrf = log_in(client, world, "hq_operator")
    page = client.get("/console/settlement")
    assert 'id="run-form"' in page.text and 'href="/console/settlement"' in page.text
    # when a period that has not ended is submitted, then the form says so
    refused = client.post(
        "/console/settlement/runs",
        data={"period_start": "2026-11-01", "period_end": "2099-01-01", "csrf_token": csrf},
    )
    assert refused.status_code == 422
    assert "has not ended yet" in refused.text
    # when October is submitted
    done = client.post(
        "/console/settlement/runs",
        data={**OCTOBER, "csrf_token": csrf},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    # then the franchisee's owner sees their statement only, in yuan, with no form
    log_in(client, world, "franchisee_owner")
    listing = client.get("/console/settlement").text
    assert 'id="run-form"' not in listing
    assert world.franchisee.code in listing and franchise.other_franchisee.code not in listing
    assert "123.45" in listing and "100.00" in listing and "17.28" in listing
    mine = statement_id(session, world.franchisee.id)
    statement = client.get(f"/console/settlement/statements/{mine}")
    assert statement.status_code == 200
    assert world.franchise_store.code in statement.text
    assert 'id="net-payable"><strong>¥17.28' in statement.text
    csv = client.get(f"/console/settlement/statements/{mine}/csv")
    assert csv.text.strip().endswith("17.28")
    theirs = statement_id(session, franchise.other_franchisee.id)
    assert client.get(f"/console/settlement/statements/{theirs}").status_code == 404


def test_the_console_run_form_needs_its_csrf_token(
    session: Session, client: TestClient, franchise: Franchise
) -> None:
    set_rule(session, franchise, 500)
    log_in(client, franchise.world, "brand_admin")
    before = row_counts(session)
    response = client.post("/console/settlement/runs", data=OCTOBER)
    assert response.status_code == 403
    assert row_counts(session) == before


def test_a_guide_has_no_settlement_in_the_console(client: TestClient, franchise: Franchise) -> None:
    log_in(client, franchise.world, "guide")
    home = client.get("/console")
    assert "/console/settlement" not in home.text
    assert client.get("/console/settlement").status_code == 403


# ---------------------------------------------------------------- CLI


@pytest.fixture
def cli(db: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("SIYU_DATABASE_URL", db.url)
    get_settings.cache_clear()
    set_database(db)
    try:
        yield CliRunner()
    finally:
        get_settings.cache_clear()


def test_siyu_settlement_backfill_and_run(
    session: Session, db: Database, cli: CliRunner, franchise: Franchise
) -> None:
    # given an October sale the ledger subscriber never saw, and a rule
    world = franchise.world
    set_rule(session, franchise, 500)
    paid_order(session, db, franchise, world.franchise_store, paid_at=OCT_15)
    slug = world.brand.slug
    # when the ledger is backfilled, twice
    first = cli.invoke(cli_app, ["settlement", "backfill", "--brand", slug])
    second = cli.invoke(cli_app, ["settlement", "backfill", "--brand", slug])
    # then the sale was posted once
    assert first.exit_code == 0, first.output
    assert "1 paid order(s) checked, 1 ledger entry posted" in first.output
    assert "0 ledger entries posted" in second.output
    session.expire_all()
    assert session.scalars(select(LedgerEntry.amount_fen)).all() == [TEE_PRICE_FEN]
    # when October is settled
    ran = cli.invoke(
        cli_app,
        ["settlement", "run", "--brand", slug, "--from", "2026-10-01", "--to", "2026-11-01"],
    )
    # then a statement per franchisee
    assert ran.exit_code == 0, ran.output
    assert "2 statement(s)" in ran.output
    assert "123.45" in ran.output
    assert (
        session.scalar(
            select(Statement.sales_fen).where(Statement.franchisee_id == world.franchisee.id)
        )
        == TEE_PRICE_FEN
    )
    # and the same period again, or an unknown brand, exits 2 with the code
    again = cli.invoke(
        cli_app,
        ["settlement", "run", "--brand", slug, "--from", "2026-10-01", "--to", "2026-11-01"],
    )
    assert again.exit_code == 2
    assert "settlement_period_overlaps" in again.output
    unknown = cli.invoke(cli_app, ["settlement", "backfill", "--brand", "nope"])
    assert unknown.exit_code == 2
