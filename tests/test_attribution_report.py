"""The touchpoint report: exact figures on a fixture, every grouping, scope and refusals, and
the console pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from siyu.attribution.rules import AttributionModel
from siyu.attribution.schemas import AttributionSettingsIn
from siyu.attribution.service import change_settings, credit_order
from tests.factories import World, build_world
from tests.factories_attribution import add_event, make_buyer, make_member, make_paid_order
from tests.factories_touchpoints import make_touchpoint
from tests.helpers import assert_problem
from tests.test_console_pages import log_in

T = datetime(2026, 3, 10, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
MARCH = "period_start=2026-03-01&period_end=2026-04-01"


@dataclass
class Fixture:
    world: World
    a: int  # shelf code at the direct store, cost 100.00
    b: int  # poster at the franchised store, no cost
    c: int  # shelf code at the other store, cost 50.00


@pytest.fixture
def fixture(session: Session) -> Fixture:
    """March 2026 (Asia/Shanghai), linear model. See each comment for what must count."""
    world = build_world(session)
    brand_id = world.brand.id
    direct, franchise, other = world.direct_store.id, world.franchise_store.id, world.other_store.id
    change_settings(session, world.system, AttributionSettingsIn(model=AttributionModel.LINEAR))
    a = make_touchpoint(
        session, world.system, store_id=direct, cost_fen=10_000, code="A"
    ).touchpoint.id
    b = make_touchpoint(
        session, world.system, store_id=franchise, kind="poster", code="B"
    ).touchpoint.id
    c = make_touchpoint(
        session, world.system, store_id=other, cost_fen=5_000, code="C"
    ).touchpoint.id
    # members: m1 (A), m2 (unknown source) and m4 (B) join in March; m3 and m5 earlier
    m1 = make_member(session, brand_id, joined_at=T, source_touchpoint_id=a, home_store_id=direct)
    m2 = make_member(session, brand_id, joined_at=T + timedelta(days=1), home_store_id=direct)
    make_member(
        session, brand_id, joined_at=datetime(2026, 2, 1, tzinfo=UTC), source_touchpoint_id=a
    )
    m4 = make_member(
        session, brand_id, joined_at=T, source_touchpoint_id=b, home_store_id=franchise
    )
    buyer5 = make_buyer(session, brand_id, joined_at=datetime(2025, 12, 1, tzinfo=UTC))
    assert buyer5.member is not None
    m5 = buyer5.member

    # scans of A: 4 in March (one at 00:30 on 1 March in Shanghai), 2 outside
    def event(kind: str, at: datetime, **where: Any) -> None:
        add_event(session, brand_id, kind=kind, at=at, **where)

    event("scan", T - timedelta(hours=1), member_id=m1.id, touchpoint_id=a, store_id=direct)
    event("scan", T, anonymous_id="a1", touchpoint_id=a, store_id=direct)
    event("scan", T, member_id=m5.id, touchpoint_id=a, store_id=direct)
    event("scan", datetime(2026, 2, 28, 16, 30, tzinfo=UTC), member_id=m1.id, touchpoint_id=a)
    event("scan", datetime(2026, 3, 31, 16, 30, tzinfo=UTC), member_id=m1.id, touchpoint_id=a)
    event("scan", datetime(2026, 2, 20, tzinfo=UTC), member_id=m1.id, touchpoint_id=a)
    # scans of unknown scene keys: two at the direct store, one at the franchised store
    event("scan", T, anonymous_id="a3", store_id=direct)
    event("scan", T + timedelta(hours=1), anonymous_id="a3", store_id=direct)
    event("scan", T, anonymous_id="a4", store_id=franchise)
    event("scan", T, member_id=m4.id, touchpoint_id=b, store_id=franchise)
    # visitors: A has m1 (twice) and a1; C has m2; a2 visited without a touchpoint
    event("visit", T + timedelta(hours=1), member_id=m1.id, touchpoint_id=a, store_id=direct)
    event("visit", T + timedelta(hours=2), member_id=m1.id, touchpoint_id=a, store_id=direct)
    event("visit", T + timedelta(hours=1), anonymous_id="a1", touchpoint_id=a, store_id=direct)
    event("visit", T, anonymous_id="a2", store_id=direct)
    event("visit", T, member_id=m2.id, touchpoint_id=c, store_id=other)
    event("view_item", T, member_id=m1.id, touchpoint_id=a, store_id=direct)
    # orders: o1 (m5 scanned A, ordered from B) splits 50.00 / 50.00; o2 has no touch;
    # o3 was paid in February; o4 (C) was refunded in full; o5 (A) 10.00 less 4.00 refunded
    guest = make_buyer(session, brand_id, with_member=False)
    orders = [
        make_paid_order(
            session,
            buyer5,
            direct,
            amount_fen=10_000,
            placed_at=T + timedelta(days=1),
            touchpoint_id=b,
        ),
        make_paid_order(session, guest, direct, amount_fen=3_000, placed_at=T),
        make_paid_order(
            session,
            guest,
            direct,
            amount_fen=9_000,
            placed_at=datetime(2026, 2, 15, tzinfo=UTC),
            touchpoint_id=a,
        ),
        make_paid_order(
            session,
            guest,
            other,
            amount_fen=2_000,
            placed_at=T,
            touchpoint_id=c,
            refunded_fen=2_000,
        ),
        make_paid_order(
            session, guest, direct, amount_fen=1_000, placed_at=T, touchpoint_id=a, refunded_fen=400
        ),
    ]
    for order in orders:
        credit_order(session, brand_id, order.id)
    session.commit()
    return Fixture(world, a, b, c)


def row(
    label: str,
    *,
    attributed: bool = True,
    scans: int = 0,
    visitors: int = 0,
    new_members: int = 0,
    orders: int = 0,
    credited_orders: float = 0.0,
    gmv_fen: int = 0,
    cost_fen: int | None = None,
    roi: float | None = None,
    **details: Any,
) -> dict[str, Any]:
    return {
        "attributed": attributed,
        "label": label,
        "touchpoint_id": None,
        "touchpoint_code": None,
        "kind": None,
        "store_id": None,
        "period_start": None,
        **details,
        "scans": scans,
        "visitors": visitors,
        "new_members": new_members,
        "orders": orders,
        "credited_orders": credited_orders,
        "gmv_fen": gmv_fen,
        "cost_fen": cost_fen,
        "roi": roi,
    }


UNKNOWN = "Unknown source 未知来源"


def report(client: TestClient, fixture: Fixture, who: str, query: str) -> dict[str, Any]:
    response = client.get(f"/api/reports/touchpoints?{query}", headers=fixture.world.headers(who))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_figures_by_touchpoint_are_exact(client: TestClient, fixture: Fixture) -> None:
    # when HQ reads March by touchpoint
    body = report(client, fixture, "hq_operator", MARCH)
    # then every figure is exact, the unknown source has its own row
    world = fixture.world
    assert body["rows"] == [
        row(
            body["rows"][0]["label"],
            touchpoint_id=fixture.a,
            touchpoint_code="A",
            kind="shelf_code",
            store_id=world.direct_store.id,
            scans=4,
            visitors=2,
            new_members=1,
            orders=2,
            credited_orders=1.5,
            gmv_fen=5_600,
            cost_fen=10_000,
            roi=-0.44,
        ),
        row(
            body["rows"][1]["label"],
            touchpoint_id=fixture.b,
            touchpoint_code="B",
            kind="poster",
            store_id=world.franchise_store.id,
            scans=1,
            new_members=1,
            orders=1,
            credited_orders=0.5,
            gmv_fen=5_000,
        ),
        row(
            body["rows"][2]["label"],
            touchpoint_id=fixture.c,
            touchpoint_code="C",
            kind="shelf_code",
            store_id=world.other_store.id,
            visitors=1,
            cost_fen=5_000,
            roi=-1.0,
        ),
        row(
            UNKNOWN,
            attributed=False,
            scans=3,
            visitors=1,
            new_members=1,
            orders=1,
            credited_orders=1.0,
            gmv_fen=3_000,
        ),
    ]
    assert body["totals"] == row(
        "Total 合计",
        scans=8,
        visitors=4,
        new_members=3,
        orders=3,
        credited_orders=3.0,
        gmv_fen=13_600,
        cost_fen=15_000,
        roi=-0.2933,
    )
    assert (body["model"], body["total_rows"], body["group_by"]) == ("linear", 4, "touchpoint")
    assert [r["label"][:4] for r in body["rows"][:3]] == ["A · ", "B · ", "C · "]


def test_figures_by_kind_and_by_store(client: TestClient, fixture: Fixture) -> None:
    by_kind = report(client, fixture, "brand_admin", MARCH + "&group_by=kind")["rows"]
    assert [
        (r["kind"], r["scans"], r["visitors"], r["orders"], r["gmv_fen"], r["cost_fen"], r["roi"])
        for r in by_kind
    ] == [
        ("shelf_code", 4, 3, 2, 5_600, 15_000, -0.6267),
        ("poster", 1, 0, 1, 5_000, None, None),
        (None, 3, 1, 1, 3_000, None, None),
    ]
    world = fixture.world
    by_store = report(client, fixture, "brand_admin", MARCH + "&group_by=store")["rows"]
    assert [
        (r["store_id"], r["attributed"], r["new_members"], r["gmv_fen"], r["cost_fen"])
        for r in by_store
    ] == [
        (world.direct_store.id, True, 1, 5_600, 10_000),
        (world.franchise_store.id, True, 1, 5_000, None),
        (world.other_store.id, True, 0, 0, 5_000),
        (None, False, 1, 3_000, None),
    ]
    assert by_store[0]["label"] == world.direct_store.name


def test_figures_by_day_use_shanghai_dates(client: TestClient, fixture: Fixture) -> None:
    rows = report(client, fixture, "brand_admin", MARCH + "&group_by=day")["rows"]
    assert [
        (r["period_start"], r["attributed"], r["scans"], r["new_members"], r["gmv_fen"])
        for r in rows
    ] == [
        ("2026-03-01", True, 1, 0, 0),
        ("2026-03-10", True, 4, 2, 600),
        ("2026-03-10", False, 3, 0, 3_000),
        ("2026-03-11", True, 0, 0, 10_000),
        ("2026-03-11", False, 0, 1, 0),
    ]
    assert all(r["cost_fen"] is None and r["roi"] is None for r in rows)
    months = report(client, fixture, "brand_admin", MARCH + "&group_by=month")["rows"]
    assert [(r["period_start"], r["attributed"], r["gmv_fen"]) for r in months] == [
        ("2026-03-01", True, 10_600),
        ("2026-03-01", False, 3_000),
    ]


def test_a_franchisee_sees_only_its_stores(client: TestClient, fixture: Fixture) -> None:
    body = report(client, fixture, "franchisee_owner", MARCH)
    assert [
        (r["touchpoint_id"], r["scans"], r["new_members"], r["gmv_fen"]) for r in body["rows"]
    ] == [
        (fixture.b, 1, 1, 5_000),
        (None, 1, 0, 0),
    ]
    assert (body["totals"]["scans"], body["totals"]["gmv_fen"]) == (2, 5_000)


def test_filters_narrow_the_rows(client: TestClient, fixture: Fixture) -> None:
    world = fixture.world
    by_store = report(client, fixture, "brand_admin", f"{MARCH}&store_id={world.direct_store.id}")
    assert [(r["touchpoint_id"], r["scans"], r["gmv_fen"]) for r in by_store["rows"]] == [
        (fixture.a, 4, 5_600),
        (None, 2, 3_000),
    ]
    one = report(client, fixture, "brand_admin", f"{MARCH}&touchpoint_id={fixture.c}")
    assert [(r["touchpoint_id"], r["visitors"]) for r in one["rows"]] == [(fixture.c, 1)]


def test_a_guide_may_not_read_reports(client: TestClient, fixture: Fixture) -> None:
    response = client.get(
        f"/api/reports/touchpoints?{MARCH}", headers=fixture.world.headers("guide")
    )
    assert_problem(response, 403, "permission_denied")


def test_stores_and_touchpoints_outside_scope_are_not_found(
    session: Session, client: TestClient, fixture: Fixture
) -> None:
    world = fixture.world
    headers = world.headers("franchisee_owner")
    response = client.get(
        f"/api/reports/touchpoints?store_id={world.direct_store.id}", headers=headers
    )
    assert_problem(response, 404, "store_not_found")
    response = client.get(f"/api/reports/touchpoints?touchpoint_id={fixture.a}", headers=headers)
    assert_problem(response, 404, "touchpoint_not_found")
    other = build_world(session)
    session.commit()
    response = client.get(
        f"/api/reports/touchpoints?store_id={other.direct_store.id}",
        headers=world.headers("brand_admin"),
    )
    assert_problem(response, 404, "store_not_found")


@pytest.mark.parametrize(
    "query",
    [
        "period_start=2026-03-10&period_end=2026-03-10",
        "period_start=2025-01-01&period_end=2026-03-10",
    ],
)
def test_bad_periods_are_refused(client: TestClient, fixture: Fixture, query: str) -> None:
    response = client.get(
        f"/api/reports/touchpoints?{query}", headers=fixture.world.headers("brand_admin")
    )
    assert assert_problem(response, 422, "invalid_report_period")["field"] == "period_end"


def test_the_console_shows_the_report_and_the_model_form(
    client: TestClient, fixture: Fixture
) -> None:
    csrf = log_in(client, fixture.world, "brand_admin")
    page = client.get(f"/console/reports/touchpoints?{MARCH}&group_by=kind")
    assert page.status_code == 200
    assert "Touchpoint report" in page.text and UNKNOWN in page.text and "136.00" in page.text
    form = client.get("/console/attribution")
    assert form.status_code == 200 and "Linear 线性" in form.text
    refused = client.post(
        "/console/attribution",
        data={
            "csrf_token": csrf,
            "model": "position_based",
            "lookback_days": "30",
            "position_first_percent": "50",
            "position_middle_percent": "20",
            "position_last_percent": "40",
            "half_life_days": "7",
        },
    )
    assert refused.status_code == 422 and "must add up to 100" in refused.text
    saved = client.post(
        "/console/attribution",
        data={
            "csrf_token": csrf,
            "model": "time_decay",
            "lookback_days": "14",
            "position_first_percent": "40",
            "position_middle_percent": "20",
            "position_last_percent": "40",
            "half_life_days": "3",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303
    assert (
        client.get(
            "/api/attribution/settings", headers=fixture.world.headers("brand_admin")
        ).json()["model"]
        == "time_decay"
    )
