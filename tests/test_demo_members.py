"""The issue's "done when", on the demo brand: a shopper who scanned SH01's shelf code, logged in
and bought is a member whose 360 shows the touchpoint, the store and the order; the touchpoint
report counts them; the POS import shows up beside the online orders."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

import siyu.jobs.runner  # noqa: F401 - registers every outbox subscriber on the default registry
from siyu.core.clock import utc_now
from siyu.db.session import Database
from siyu.demo.members import SHELF_CODE
from siyu.demo.seed import seed_demo
from siyu.outbox.dispatcher import dispatch_pending
from siyu.settlement.rules import shanghai_date
from siyu.staff.models import Staff
from siyu.touchpoints.models import Touchpoint
from tests.factories import token_for


def _seed_and_dispatch(db: Database) -> None:
    with db.unit_of_work() as session:
        seed_demo(session)
    while dispatch_pending(db, batch_size=500).claimed:
        pass


def _admin_headers(db: Database) -> dict[str, str]:
    with db.unit_of_work() as session:
        admin = session.scalars(select(Staff).where(Staff.login == "admin")).one()
        return {"Authorization": f"Bearer {token_for(session, admin)}"}


def test_a_scanned_shopper_is_a_member_whose_360_shows_touchpoint_store_and_order(
    db: Database, client: TestClient
) -> None:
    # given the demo, with its outbox delivered as the in-process worker would
    _seed_and_dispatch(db)
    headers = _admin_headers(db)
    with db.sessions() as session:
        shelf = session.scalars(select(Touchpoint).where(Touchpoint.code == SHELF_CODE)).one()
    # when
    found = client.get("/api/members", params={"name": "林小雨"}, headers=headers)
    member_id = found.json()["items"][0]["id"]
    profile = client.get(f"/api/members/{member_id}/360", headers=headers).json()
    # then: joined by scanning the shelf code, at its store, with the order credited to it
    member = profile["member"]
    assert member["join_channel"] == "scan"
    assert member["source_touchpoint_id"] == shelf.id
    assert member["source_store_id"] == shelf.store_id
    assert member["joined_at"] is not None
    assert profile["journey"]["acquisition"]["touchpoint_id"] == shelf.id
    [order] = profile["online_orders"]
    assert (order["touchpoint_id"], order["store_id"]) == (shelf.id, shelf.store_id)
    assert order["paid_fen"] > 0
    # the anonymous scan and visit were stitched to the member at login
    kinds = sorted(step["kind"] for step in profile["journey"]["steps"]["data"])
    assert kinds == ["scan", "visit"]
    assert profile["lifecycle"]["stage"] == "first_purchase"


def test_the_touchpoint_report_counts_the_scan_the_member_and_the_order(
    db: Database, client: TestClient
) -> None:
    # given
    _seed_and_dispatch(db)
    headers = _admin_headers(db)
    # when
    report = client.get(
        "/api/reports/touchpoints", params={"group_by": "touchpoint"}, headers=headers
    ).json()
    # then
    rows = {row["touchpoint_code"]: row for row in report["rows"]}
    shelf = rows[SHELF_CODE]
    assert (shelf["scans"], shelf["visitors"], shelf["new_members"], shelf["orders"]) == (
        1,
        1,
        1,
        1,
    )
    assert shelf["gmv_fen"] > 0
    ad = rows["AD-AUTUMN"]
    assert (ad["new_members"], ad["orders"], ad["cost_fen"]) == (1, 0, 50000)


def test_pos_orders_show_up_beside_online_orders_and_in_the_private_domain_share(
    db: Database, client: TestClient
) -> None:
    # given
    _seed_and_dispatch(db)
    headers = _admin_headers(db)
    today = shanghai_date(utc_now())
    period = {"from": str(today - timedelta(days=30)), "to": str(today + timedelta(days=1))}
    # when
    share = client.get("/api/reports/private-domain-share", params=period, headers=headers).json()
    # then both channels count, and the share is online over all
    assert share["online_gmv_fen"] > 0
    assert share["offline_gmv_fen"] > 0
    assert share["all_gmv_fen"] == share["online_gmv_fen"] + share["offline_gmv_fen"]
    assert share["share_permille"] == share["online_gmv_fen"] * 1000 // share["all_gmv_fen"]
