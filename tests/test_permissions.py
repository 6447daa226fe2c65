"""Authorization by role and scope: what each role may see and change, and every refusal.

Each refusal also asserts that nothing was written (rows in every table unchanged).
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import World, build_world
from tests.helpers import assert_problem, row_counts

ROLES = [
    "brand_admin",
    "hq_operator",
    "region_manager",
    "franchisee_owner",
    "store_manager",
    "guide",
]


@pytest.fixture
def world(session: Session) -> World:
    built = build_world(session)
    session.commit()
    return built


def _store_codes(world: World, *names: str) -> list[str]:
    return sorted(getattr(world, n).code for n in names)


@pytest.mark.parametrize(
    ("who", "visible"),
    [
        ("brand_admin", ("direct_store", "franchise_store", "other_store")),
        ("hq_operator", ("direct_store", "franchise_store", "other_store")),
        ("integration", ("direct_store", "franchise_store", "other_store")),
        ("region_manager", ("direct_store", "franchise_store")),
        ("franchisee_owner", ("franchise_store",)),
        ("store_manager", ("direct_store",)),
        ("guide", ("direct_store",)),
    ],
)
def test_each_role_lists_exactly_the_stores_of_its_scope(
    client: TestClient, world: World, who: str, visible: tuple[str, ...]
) -> None:
    # when
    response = client.get("/api/stores", headers=world.headers(who))
    # then
    assert response.status_code == 200
    assert [s["code"] for s in response.json()["items"]] == _store_codes(world, *visible)
    assert response.json()["total"] == len(visible)


@pytest.mark.parametrize("who", ["region_manager", "franchisee_owner", "store_manager", "guide"])
def test_a_store_outside_scope_is_not_found(client: TestClient, world: World, who: str) -> None:
    # when
    response = client.get(f"/api/stores/{world.other_store.id}", headers=world.headers(who))
    # then
    assert_problem(response, 404, "store_not_found")


@pytest.mark.parametrize(
    ("who", "visible"),
    [
        (
            "brand_admin",
            {
                "brand_admin",
                "hq_operator",
                "region_manager",
                "franchisee_owner",
                "store_manager",
                "guide",
                "other_guide",
            },
        ),
        ("region_manager", {"region_manager", "store_manager", "guide"}),
        ("franchisee_owner", {"franchisee_owner"}),
        ("store_manager", {"store_manager", "guide"}),
        ("guide", {"guide"}),
    ],
)
def test_each_role_lists_exactly_the_staff_of_its_scope(
    client: TestClient, world: World, who: str, visible: set[str]
) -> None:
    # when
    response = client.get("/api/staff", headers=world.headers(who))
    # then
    assert response.status_code == 200
    assert {s["id"] for s in response.json()["items"]} == {world.staff[v].id for v in visible}


def test_a_guide_cannot_see_a_colleague(client: TestClient, world: World) -> None:
    # when
    response = client.get(
        f"/api/staff/{world.staff['store_manager'].id}", headers=world.headers("guide")
    )
    # then
    assert_problem(response, 404, "staff_not_found")


@pytest.mark.parametrize("who", [*ROLES, "integration"])
def test_only_hq_creates_regions(
    session: Session, client: TestClient, world: World, who: str
) -> None:
    # given
    before = row_counts(session)
    # when
    response = client.post(
        "/api/regions", json={"code": "WEST", "name": "West"}, headers=world.headers(who)
    )
    # then
    if who in {"brand_admin", "hq_operator"}:
        assert response.status_code == 201
        assert response.json()["code"] == "WEST"
        after = row_counts(session)
        assert after["region"] == before["region"] + 1
        assert after["audit_entry"] == before["audit_entry"] + 1
        assert after["outbox_event"] == before["outbox_event"] + 1
    else:
        assert_problem(response, 403, "permission_denied")
        assert row_counts(session) == before


@pytest.mark.parametrize(
    ("who", "store", "status"),
    [
        ("region_manager", "direct_store", 200),
        ("region_manager", "other_store", 404),
        ("franchisee_owner", "franchise_store", 200),
        ("franchisee_owner", "direct_store", 404),
        ("store_manager", "direct_store", 403),
        ("guide", "direct_store", 403),
        ("integration", "direct_store", 403),
    ],
)
def test_store_details_are_changed_only_within_scope_and_with_store_write(
    session: Session, client: TestClient, world: World, who: str, store: str, status: int
) -> None:
    # given
    before = row_counts(session)
    store_id = getattr(world, store).id
    # when
    response = client.patch(
        f"/api/stores/{store_id}",
        json={"opening_hours": "09:00-21:00"},
        headers=world.headers(who),
    )
    # then
    assert response.status_code == status, response.text
    if status == 200:
        assert response.json()["opening_hours_text"] == "09:00-21:00"
        assert row_counts(session)["audit_entry"] == before["audit_entry"] + 1
    else:
        assert row_counts(session) == before


def test_a_region_manager_cannot_move_a_store_to_another_region(
    session: Session, client: TestClient, world: World
) -> None:
    # given
    before = row_counts(session)
    # when
    response = client.patch(
        f"/api/stores/{world.direct_store.id}",
        json={"region_id": world.region_b.id},
        headers=world.headers("region_manager"),
    )
    # then
    body = assert_problem(response, 403, "permission_denied")
    assert body["field"] == "region_id"
    assert row_counts(session) == before


@pytest.mark.parametrize(
    ("who", "role", "place", "status"),
    [
        ("store_manager", "guide", {"store_id": "direct_store"}, 201),
        ("store_manager", "guide", {"store_id": "other_store"}, 403),
        ("store_manager", "store_manager", {"store_id": "direct_store"}, 403),
        ("store_manager", "region_manager", {"region_id": "region_a"}, 403),
        ("region_manager", "store_manager", {"store_id": "franchise_store"}, 201),
        ("region_manager", "guide", {"store_id": "other_store"}, 403),
        ("region_manager", "region_manager", {"region_id": "region_a"}, 403),
        ("franchisee_owner", "guide", {"store_id": "franchise_store"}, 201),
        ("franchisee_owner", "guide", {"store_id": "direct_store"}, 403),
        ("hq_operator", "region_manager", {"region_id": "region_b"}, 201),
        ("hq_operator", "brand_admin", {}, 403),
        ("hq_operator", "hq_operator", {}, 403),
        ("brand_admin", "brand_admin", {}, 201),
        ("guide", "guide", {"store_id": "direct_store"}, 403),
        ("integration", "guide", {"store_id": "direct_store"}, 403),
    ],
)
def test_hiring_is_limited_to_junior_roles_inside_the_scope(
    session: Session,
    client: TestClient,
    world: World,
    who: str,
    role: str,
    place: dict[str, str],
    status: int,
) -> None:
    # given
    before = row_counts(session)
    body = {"code": "NEW1", "name": "New Person", "role": role}
    body.update({key: getattr(world, value).id for key, value in place.items()})
    # when
    response = client.post("/api/staff", json=body, headers=world.headers(who))
    # then
    assert response.status_code == status, response.text
    after = row_counts(session)
    if status == 201:
        assert response.json()["role"] == role
        assert after["staff"] == before["staff"] + 1
    else:
        assert response.json()["code"] == "permission_denied"
        assert after == before


def test_nobody_changes_their_own_role(session: Session, client: TestClient, world: World) -> None:
    # given
    before = row_counts(session)
    me = world.staff["region_manager"]
    # when
    response = client.patch(
        f"/api/staff/{me.id}",
        json={"role": "hq_operator", "region_id": None},
        headers=world.headers("region_manager"),
    )
    # then
    assert_problem(response, 403, "permission_denied")
    assert row_counts(session) == before


@pytest.mark.parametrize("who", [r for r in ROLES if r != "brand_admin"] + ["integration"])
def test_only_brand_admins_read_the_audit_log(client: TestClient, world: World, who: str) -> None:
    # when
    response = client.get("/api/audit", headers=world.headers(who))
    # then
    assert_problem(response, 403, "permission_denied")


def test_brand_admin_reads_who_changed_what(client: TestClient, world: World) -> None:
    # given an HQ operator renames a store
    client.patch(
        f"/api/stores/{world.direct_store.id}",
        json={"name": "Flagship"},
        headers=world.headers("hq_operator"),
    )
    # when
    response = client.get(
        f"/api/audit?object_type=store&object_id={world.direct_store.id}",
        headers=world.headers("brand_admin"),
    )
    # then
    entry = response.json()["items"][0]
    assert entry["action"] == "store.update"
    assert entry["actor_staff_id"] == world.staff["hq_operator"].id
    assert entry["before"] == {"name": f"Store {world.direct_store.code}"}
    assert entry["after"] == {"name": "Flagship"}
    assert entry["request_id"] is not None


def test_a_token_narrowed_to_org_read_cannot_write(
    session: Session, client: TestClient, world: World
) -> None:
    # given an admin's token carrying only org:read
    from tests.factories import token_for

    token = token_for(session, world.staff["brand_admin"], scopes=["org:read"])
    session.commit()
    before = row_counts(session)
    # when
    response = client.post(
        "/api/regions",
        json={"code": "WEST", "name": "West"},
        headers={"Authorization": f"Bearer {token}"},
    )
    # then
    assert_problem(response, 403, "permission_denied")
    assert row_counts(session) == before
