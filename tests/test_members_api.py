"""Members over HTTP and in the console: the list and its filters, scope, the member 360."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy.orm import Session

from siyu.members.identity import register_member
from siyu.wechat.sandbox import SANDBOX_MINI_PROGRAM
from tests.factories import World, build_world
from tests.factories_consumers import make_payment
from tests.factories_members import log_in, member_of, pos_member, shelf_code
from tests.helpers import assert_problem
from tests.test_console_pages import HX
from tests.test_console_pages import log_in as console_log_in

MAR = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
APR = datetime(2026, 4, 10, 2, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fresh_sandbox() -> Iterator[None]:
    SANDBOX_MINI_PROGRAM.reset()
    yield
    SANDBOX_MINI_PROGRAM.reset()


class People:
    """Members of build_world's brand: one acquired by the direct store's guide (with an
    order), one of the franchise store, one of the other store, and a prospect."""

    def __init__(self, session: Session, world: World) -> None:
        code = shelf_code(session, world)
        self.scanner = log_in(session, world.brand, "scanner", scene_key=code.codes[0].scene_key)
        self.scanned = member_of(session, self.scanner)
        self.scanned.display_name, self.scanned.phone = "Zhang Wei", "13812340001"
        self.scanned.joined_at, self.scanned.tier_code = MAR, "gold"
        self.touchpoint_id = code.touchpoint.id
        make_payment(session, self.scanner, world.direct_store.id, number="WEB-1")
        self.franchised = register_member(
            session,
            world.brand.id,
            identities=[],
            source="pos",
            joined_at=APR,
            join_channel="pos",
            display_name="Li Na",
            home_store_id=world.franchise_store.id,
        )
        self.elsewhere = pos_member(session, world.brand.id, "13912340002", with_phone_column=True)
        self.elsewhere.home_store_id = world.other_store.id
        self.elsewhere.display_name = "Wang Fang"
        self.prospect = member_of(session, log_in(session, world.brand, "browser"))
        session.commit()


@pytest.fixture
def world(session: Session) -> World:
    built = build_world(session)
    session.commit()
    return built


@pytest.fixture
def people(session: Session, world: World) -> People:
    return People(session, world)


def ids(response: Response) -> list[int]:
    return [item["id"] for item in response.json()["items"]]


def test_hq_lists_every_member_newest_first_with_phones_masked(
    client: TestClient, world: World, people: People
) -> None:
    response = client.get("/api/members", headers=world.headers("hq_operator"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == 4
    assert ids(response) == sorted(
        [people.scanned.id, people.franchised.id, people.elsewhere.id, people.prospect.id],
        reverse=True,
    )
    scanned = next(item for item in body["items"] if item["id"] == people.scanned.id)
    assert scanned["phone"] == "138****0001"
    assert "13812340001" not in response.text


@pytest.mark.parametrize(
    ("query", "who"),
    [
        ("phone=%2B86%20138-1234-0001", "scanned"),  # normalized, exact
        ("phone=13912340002", "elsewhere"),
        ("name=zhang", "scanned"),
        ("stage=prospect", "prospect"),
        ("tier_code=gold", "scanned"),
        ("store_id={franchise_store}", "franchised"),
        (
            "joined_from=2026-04-01T00:00:00%2B08:00&joined_to=2026-05-01T00:00:00%2B08:00",
            "franchised",
        ),
    ],
)
def test_the_list_filters(
    client: TestClient, world: World, people: People, query: str, who: str
) -> None:
    url = "/api/members?" + query.format(franchise_store=world.franchise_store.id)
    response = client.get(url, headers=world.headers("brand_admin"))
    assert response.status_code == 200, response.text
    assert ids(response) == [getattr(people, who).id]


def test_the_list_pages(client: TestClient, world: World, people: People) -> None:
    first = client.get("/api/members?limit=3", headers=world.headers("brand_admin")).json()
    second = client.get("/api/members?limit=3&offset=3", headers=world.headers("brand_admin"))
    assert (first["total"], len(first["items"]), len(second.json()["items"])) == (4, 3, 1)


def test_a_phone_that_is_not_a_mobile_number_is_refused(
    client: TestClient, world: World, people: People
) -> None:
    response = client.get("/api/members?phone=12345", headers=world.headers("brand_admin"))
    body = assert_problem(response, 422, "invalid_phone")
    assert body["field"] == "phone"


@pytest.mark.parametrize(
    ("who", "visible"),
    [
        ("guide", ["scanned"]),  # the members the guide acquired
        ("other_guide", []),
        ("store_manager", ["scanned"]),  # home store: the direct store
        ("franchisee_owner", ["franchised"]),
        ("region_manager", ["scanned", "franchised"]),  # region A's stores
    ],
)
def test_each_role_lists_only_the_members_in_its_scope(
    client: TestClient, world: World, people: People, who: str, visible: list[str]
) -> None:
    response = client.get("/api/members", headers=world.headers(who))
    assert response.status_code == 200, response.text
    assert sorted(ids(response)) == sorted(getattr(people, name).id for name in visible)


@pytest.mark.parametrize("path", ["", "/360"])
def test_a_member_outside_scope_is_not_found(
    session: Session, client: TestClient, world: World, people: People, path: str
) -> None:
    # when the direct store's manager asks for another store's member, and a guide for a
    # member they did not acquire
    manager_view = client.get(
        f"/api/members/{people.elsewhere.id}{path}", headers=world.headers("store_manager")
    )
    guide_view = client.get(
        f"/api/members/{people.franchised.id}{path}", headers=world.headers("guide")
    )
    # then neither exists for them
    assert_problem(manager_view, 404, "member_not_found")
    assert_problem(guide_view, 404, "member_not_found")


def test_a_token_without_member_read_is_refused(
    client: TestClient, world: World, people: People
) -> None:
    response = client.get("/api/members", headers=world.headers("integration"))
    assert_problem(response, 403, "permission_denied")


def test_the_360_shows_identities_masked_the_order_the_journey_and_what_comes_later(
    client: TestClient, world: World, people: People
) -> None:
    # when the guide who acquired the member opens the 360
    response = client.get(f"/api/members/{people.scanned.id}/360", headers=world.headers("guide"))
    # then it has the profile, masked identifiers, the online order and the acquisition
    assert response.status_code == 200, response.text
    view = response.json()
    assert view["member"]["phone"] == "138****0001"
    assert [i["kind"] for i in view["identities"]] == ["mini_program_openid"]
    openid = view["identities"][0]["value"]
    assert "…" in openid and len(openid) == 7
    assert view["lifecycle"]["stage"] == "new"
    assert [(o["number"], o["store_name"], o["status"]) for o in view["online_orders"]] == [
        ("WEB-1", world.direct_store.name, "awaiting_payment")
    ]
    assert view["journey"]["acquisition"] == {
        "joined_at": "2026-03-10T02:00:00Z",
        "join_channel": "scan",
        "touchpoint_id": people.touchpoint_id,
        "touchpoint_name": view["journey"]["acquisition"]["touchpoint_name"],
        "touchpoint_kind": "shelf_code",
        "store_id": world.direct_store.id,
        "store_name": world.direct_store.name,
        "guide_staff_id": world.staff["guide"].id,
        "guide_name": world.staff["guide"].name,
    }
    assert view["journey"]["acquisition"]["touchpoint_name"].startswith("Touchpoint ")
    # and the sections of later issues are empty and say so
    assert view["bound_guide"] == {
        "items": [],
        "pending_feature": "available with the guides issue",
    }
    assert view["groups"] == {"items": [], "pending_feature": "available with the guides issue"}
    assert view["coupons"] == {"items": [], "pending_feature": "available with the marketing issue"}
    for section in ("loyalty", "tags", "segments", "consent", "offline_orders"):
        assert set(view[section]) == {"available", "data"}
    assert "13812340001" not in response.text


def test_a_prospect_has_no_acquisition(client: TestClient, world: World, people: People) -> None:
    response = client.get(
        f"/api/members/{people.prospect.id}/360", headers=world.headers("brand_admin")
    )
    assert response.status_code == 200, response.text
    assert response.json()["journey"]["acquisition"] is None


def test_a_merged_members_360_is_its_survivors(
    session: Session, client: TestClient, world: World, people: People
) -> None:
    # given the prospect merged into the scanned member
    merged = client.post(
        f"/api/members/{people.scanned.id}/merges",
        json={"other_member_id": people.prospect.id},
        headers=world.headers("brand_admin"),
    )
    assert merged.status_code == 200, merged.text
    # when HQ opens the merged member's profile and 360
    profile = client.get(f"/api/members/{people.prospect.id}", headers=world.headers("brand_admin"))
    view = client.get(
        f"/api/members/{people.prospect.id}/360", headers=world.headers("brand_admin")
    )
    # then the profile says where it went, and the 360 is the survivor's
    assert (profile.json()["status"], profile.json()["merged_into_id"]) == (
        "merged",
        people.scanned.id,
    )
    assert view.json()["member"]["id"] == people.scanned.id


# ---------------------------------------------------------------- console


MEMBER_LINK = re.compile(r'<a href="/console/members/(\d+)">')


def test_the_console_lists_and_searches_members_with_phones_masked(
    client: TestClient, world: World, people: People
) -> None:
    # given HQ logged in to the console
    console_log_in(client, world, "hq_operator")
    # when they open the member list and search by phone
    page = client.get("/console/members")
    found = client.get("/console/members?phone=13812340001", headers=HX)
    # then all members are listed, masked, and the search finds one
    assert page.status_code == 200, page.text
    assert 'href="/console/members"' in page.text  # the nav entry
    assert {int(i) for i in MEMBER_LINK.findall(page.text)} == {
        people.scanned.id,
        people.franchised.id,
        people.elsewhere.id,
        people.prospect.id,
    }
    assert "138****0001" in page.text and "13812340001" not in page.text
    assert found.status_code == 200
    assert "<html" not in found.text
    assert [int(i) for i in MEMBER_LINK.findall(found.text)] == [people.scanned.id]


def test_the_console_360_page(client: TestClient, world: World, people: People) -> None:
    # given the acquiring guide logged in
    console_log_in(client, world, "guide")
    # when they open the member's page
    page = client.get(f"/console/members/{people.scanned.id}")
    # then it shows the masked phone, the acquisition, the order and the pending sections
    assert page.status_code == 200, page.text
    assert "138****0001" in page.text and "13812340001" not in page.text
    assert world.direct_store.name in page.text
    assert world.staff["guide"].name in page.text
    assert "WEB-1" in page.text
    assert "Available with the guides issue." in page.text
    assert "Available with the marketing issue." in page.text


def test_the_console_hides_members_outside_scope(
    client: TestClient, world: World, people: People
) -> None:
    console_log_in(client, world, "store_manager")
    page = client.get(f"/console/members/{people.elsewhere.id}")
    assert page.status_code == 404
