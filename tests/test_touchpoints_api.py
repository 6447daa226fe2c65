"""The touchpoint registry over HTTP: kinds, scoped create/list, codes and scene resolution."""

from __future__ import annotations

from xml.etree import ElementTree

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.audit.models import AuditEntry
from siyu.outbox.models import OutboxEvent
from siyu.touchpoints.models import Touchpoint
from tests.factories import World, build_world
from tests.factories_consumers import make_consumer
from tests.factories_touchpoints import make_touchpoint
from tests.helpers import assert_problem, row_counts


@pytest.fixture
def world(session: Session) -> World:
    w = build_world(session)
    session.commit()
    return w


def test_kinds_list_built_ins_grouped_by_carrier(client: TestClient, world: World) -> None:
    # when a guide lists the kinds
    response = client.get("/api/touchpoint-kinds", headers=world.headers("guide"))
    # then the 33 built-in kinds come back in carrier groups with Chinese labels
    assert response.status_code == 200
    kinds = response.json()
    assert len(kinds) == 33
    carriers = [k["carrier"] for k in kinds]
    assert carriers == sorted(carriers, key=carriers.index)  # each carrier in one run
    assert kinds[0] == {
        "code": "oa_menu",
        "name": "公众号菜单",
        "carrier": "official_account",
        "carrier_label": "公众号",
        "built_in": True,
    }


def test_hq_adds_a_brand_kind_and_uses_it(client: TestClient, world: World) -> None:
    # when HQ defines a kind and places a touchpoint of it
    created = client.post(
        "/api/touchpoint-kinds",
        json={"code": "tea_coaster", "name": "杯垫码", "carrier": "store"},
        headers=world.headers("hq_operator"),
    )
    touchpoint = client.post(
        "/api/touchpoints",
        json={"code": "C1", "name": "Coaster", "kind": "tea_coaster", "campaign": "Spring"},
        headers=world.headers("hq_operator"),
    )
    # then both exist and the kind is listed with the store group
    assert created.status_code == 201, created.text
    assert touchpoint.status_code == 201, touchpoint.text
    kinds = client.get("/api/touchpoint-kinds", headers=world.headers("guide")).json()
    codes = [k["code"] for k in kinds]
    assert len(kinds) == 34
    assert codes.index("tea_coaster") == codes.index("package_insert") + 1


def test_a_store_manager_creates_a_shelf_code_at_their_store(
    session: Session, client: TestClient, world: World
) -> None:
    # when the store manager creates a touchpoint at their store
    response = client.post(
        "/api/touchpoints",
        json={
            "code": "SHELF-1",
            "name": "Shelf A",
            "kind": "shelf_code",
            "store_id": world.direct_store.id,
            "cost_fen": 500,
        },
        headers=world.headers("store_manager"),
    )
    # then it is created with one code, audited and published
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["store_id"] == world.direct_store.id
    assert body["cost_fen"] == 500
    assert body["active"] is True
    [code] = body["codes"]
    assert code["wecom_state"] == "tp_" + code["scene_key"]
    assert (
        session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "touchpoint.create")
        )
        == 1
    )
    assert (
        session.scalar(
            select(OutboxEvent.event_type).where(OutboxEvent.aggregate_type == "touchpoint")
        )
        == "TouchpointCreated"
    )


def test_a_guide_placement_brings_the_guide_store(client: TestClient, world: World) -> None:
    response = client.post(
        "/api/touchpoints",
        json={
            "code": "G1",
            "name": "Guide code",
            "kind": "guide_code",
            "staff_id": world.staff["guide"].id,
        },
        headers=world.headers("region_manager"),
    )
    assert response.status_code == 201, response.text
    assert response.json()["store_id"] == world.direct_store.id


def test_a_guide_may_not_create(session: Session, client: TestClient, world: World) -> None:
    before = row_counts(session)
    response = client.post(
        "/api/touchpoints",
        json={"code": "X", "name": "X", "kind": "poster", "store_id": world.direct_store.id},
        headers=world.headers("guide"),
    )
    assert_problem(response, 403, "permission_denied")
    assert row_counts(session) == before


@pytest.mark.parametrize("who", ["store_manager", "region_manager"])
def test_a_store_outside_scope_is_not_found(
    session: Session, client: TestClient, world: World, who: str
) -> None:
    before = row_counts(session)
    response = client.post(
        "/api/touchpoints",
        json={"code": "X", "name": "X", "kind": "poster", "store_id": world.other_store.id},
        headers=world.headers(who),
    )
    body = assert_problem(response, 404, "store_not_found")
    assert body["field"] == "store_id"
    assert row_counts(session) == before


def test_a_touchpoint_at_another_store_is_not_found_for_a_store_manager(
    session: Session, client: TestClient, world: World
) -> None:
    other = make_touchpoint(session, world.system, store_id=world.other_store.id)
    session.commit()
    before = row_counts(session)
    url = f"/api/touchpoints/{other.touchpoint.id}"
    got = client.get(url, headers=world.headers("store_manager"))
    patched = client.patch(url, json={"name": "X"}, headers=world.headers("store_manager"))
    png = client.get(url + "/code.png", headers=world.headers("store_manager"))
    for response in (got, patched, png):
        assert_problem(response, 404, "touchpoint_not_found")
    assert row_counts(session) == before


def test_lists_follow_scope(session: Session, client: TestClient, world: World) -> None:
    # given touchpoints at two stores, at region A only and at a campaign only
    at_direct = make_touchpoint(session, world.system, store_id=world.direct_store.id)
    at_other = make_touchpoint(session, world.system, store_id=world.other_store.id)
    at_region = make_touchpoint(session, world.system, region_id=world.region_a.id)
    at_campaign = make_touchpoint(session, world.system, campaign="Double 11")
    session.commit()

    def ids(who: str) -> set[int]:
        body = client.get("/api/touchpoints", headers=world.headers(who)).json()
        return {item["id"] for item in body["items"]}

    everything = {t.touchpoint.id for t in (at_direct, at_other, at_region, at_campaign)}
    assert ids("brand_admin") == everything
    assert ids("region_manager") == {at_direct.touchpoint.id, at_region.touchpoint.id}
    assert ids("store_manager") == {at_direct.touchpoint.id}
    assert ids("guide") == {at_direct.touchpoint.id}


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"kind": "nonexistent"}, 422, "unknown_touchpoint_kind", "kind"),
        ({"store_id": None}, 422, "placement_required", "store_id"),
        ({"cost_fen": -1}, 422, "validation_error", "cost_fen"),
        ({"code": ""}, 422, "validation_error", "code"),
        ({"page": "pages/store/index"}, 422, "page_not_applicable", "page"),
    ],
)
def test_invalid_input_is_refused_with_its_field(
    session: Session,
    client: TestClient,
    world: World,
    body: dict[str, object],
    status: int,
    code: str,
    field: str,
) -> None:
    before = row_counts(session)
    payload = {"code": "X1", "name": "X", "kind": "poster", "store_id": world.direct_store.id}
    response = client.post(
        "/api/touchpoints", json=payload | body, headers=world.headers("hq_operator")
    )
    problem = assert_problem(response, status, code)
    assert field in str(problem)
    assert row_counts(session) == before


def test_a_duplicate_code_conflicts(session: Session, client: TestClient, world: World) -> None:
    make_touchpoint(session, world.system, store_id=world.direct_store.id, code="DUP")
    session.commit()
    before = row_counts(session)
    response = client.post(
        "/api/touchpoints",
        json={"code": "DUP", "name": "X", "kind": "poster", "store_id": world.direct_store.id},
        headers=world.headers("brand_admin"),
    )
    assert assert_problem(response, 409, "duplicate_code")["field"] == "code"
    assert row_counts(session) == before


def test_patch_changes_and_audits(session: Session, client: TestClient, world: World) -> None:
    made = make_touchpoint(session, world.system, store_id=world.direct_store.id)
    session.commit()
    response = client.patch(
        f"/api/touchpoints/{made.touchpoint.id}",
        json={"active": False, "cost_fen": 1200},
        headers=world.headers("store_manager"),
    )
    assert response.status_code == 200, response.text
    assert response.json()["active"] is False
    assert response.json()["cost_fen"] == 1200
    assert (
        session.scalar(
            select(OutboxEvent.event_type).where(OutboxEvent.event_type == "TouchpointChanged")
        )
        == "TouchpointChanged"
    )


def test_codes_render_as_png_and_svg(session: Session, client: TestClient, world: World) -> None:
    made = make_touchpoint(session, world.system, store_id=world.direct_store.id)
    session.commit()
    url = f"/api/touchpoints/{made.touchpoint.id}/code"
    png = client.get(url + ".png", headers=world.headers("guide"))
    svg = client.get(url + ".svg", headers=world.headers("guide"))
    assert png.status_code == 200
    assert png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert svg.status_code == 200
    assert svg.headers["content-type"].startswith("image/svg+xml")
    root = ElementTree.fromstring(svg.content)  # noqa: S314 - our own output
    assert root.tag == "{http://www.w3.org/2000/svg}svg"


def test_a_scene_key_resolves_for_the_brand_consumer(
    session: Session, client: TestClient, world: World
) -> None:
    made = make_touchpoint(
        session, world.system, kind="guide_code", staff_id=world.staff["guide"].id
    )
    shopper = make_consumer(session, world.brand, "alice")
    session.commit()
    key = made.codes[0].scene_key
    response = client.get(f"/api/storefront/scenes/{key}", headers=shopper.headers)
    assert response.status_code == 200
    assert response.json() == {
        "scene_key": key,
        "known": True,
        "touchpoint_id": made.touchpoint.id,
        "kind": "guide_code",
        "carrier": "wecom",
        "store_id": world.direct_store.id,
        "region_id": None,
        "guide_staff_id": world.staff["guide"].id,
        "campaign": None,
        "active": True,
        "code_id": made.codes[0].id,
        "medium": "link_qr",
    }


@pytest.mark.parametrize("key", ["tunknown12345", "a" * 40, "bad%20key"])
def test_an_unknown_scene_key_is_unknown_not_an_error(
    session: Session, client: TestClient, world: World, key: str
) -> None:
    shopper = make_consumer(session, world.brand, "alice")
    session.commit()
    before = row_counts(session)
    response = client.get(f"/api/storefront/scenes/{key}", headers=shopper.headers)
    assert response.status_code == 200
    assert response.json()["known"] is False
    assert row_counts(session) == before


def test_another_brands_key_is_unknown(session: Session, client: TestClient, world: World) -> None:
    other = build_world(session)
    made = make_touchpoint(session, other.system, store_id=other.direct_store.id)
    shopper = make_consumer(session, world.brand, "alice")
    session.commit()
    response = client.get(
        f"/api/storefront/scenes/{made.codes[0].scene_key}", headers=shopper.headers
    )
    assert response.json()["known"] is False
    assert session.scalar(select(func.count()).select_from(Touchpoint)) == 1
