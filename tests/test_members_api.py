"""Members over HTTP and in the console: the list and its filters, scope, the member 360."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.consent.rules import ChangedBy, Channel
from siyu.consent.service import change_consent
from siyu.core.clock import format_shanghai, utc_now
from siyu.loyalty.models import PointsLot
from siyu.loyalty.schemas import PointsAdjustmentIn
from siyu.loyalty.service import adjust_points
from siyu.members import profile
from siyu.members.identity import register_member
from siyu.segments.tags import tag_member
from siyu.touchpoints.models import TouchpointCode
from siyu.wechat.sandbox import SANDBOX_MINI_PROGRAM
from tests.factories import World, build_world
from tests.factories_consumers import make_payment
from tests.factories_loyalty import set_ladder
from tests.factories_members import log_in, member_of, pos_member, shelf_code
from tests.factories_segments import make_event, make_offline_order, make_segment, make_tag
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


def part_of(html: str, element_id: str) -> str:
    """The page's text from the element with ``element_id`` to the end of its table or
    section."""
    start = html.index(f'id="{element_id}"')
    ends = [html.find(tag, start) for tag in ("</table>", "</section>")]
    return html[start : min(end for end in ends if end != -1)]


def test_the_console_360_page_renders_every_domains_section(
    session: Session, client: TestClient, world: World, people: People
) -> None:
    # given the scanned member: gold on a three-tier ladder, points given in April and 20 more
    # about to expire, a brand tag, in a segment of gold members, an SMS opt-out taken by
    # staff, a POS receipt with a return, and two tracked steps (one from a shelf code)
    member, system, guide = people.scanned, world.system, world.staff["guide"]
    member.growth_value = 250
    session.commit()
    set_ladder(session, world, ("silver", 0, 1000), ("gold", 200, 1000), ("platinum", 1000, 1000))
    adjust_points(
        session,
        system,
        member.id,
        PointsAdjustmentIn(delta=500, reason="welcome"),
        idempotency_key="welcome",
        now=APR,
    )
    adjust_points(
        session,
        system,
        member.id,
        PointsAdjustmentIn(delta=20, reason="old"),
        idempotency_key="old",
        now=utc_now() - timedelta(days=355),
    )
    vip = make_tag(session, system, "vip", group="Value")
    tag_member(session, system, member.id, vip.id)
    gold = make_segment(session, system, {"tier": {"in": ["gold"]}}, name="Gold members")
    change_consent(
        session,
        world.brand.id,
        member.id,
        channel=Channel.SMS,
        opted_in=False,
        changed_by=ChangedBy.STAFF,
        source="console",
        staff_id=guide.id,
        at=datetime(2026, 4, 12, 2, 0, tzinfo=UTC),
    )
    receipt = make_offline_order(
        session,
        member,
        world.direct_store.id,
        None,
        placed_at=datetime(2026, 4, 11, 3, 30, tzinfo=UTC),
        total_fen=12_900,
        refunded_fen=3_000,
    )
    scene_key = session.scalars(
        select(TouchpointCode.scene_key).where(
            TouchpointCode.brand_id == world.brand.id,
            TouchpointCode.touchpoint_id == people.touchpoint_id,
        )
    ).first()
    scanned = make_event(
        session, world.brand.id, member, "scan", datetime(2026, 4, 13, 1, 0, tzinfo=UTC)
    )
    scanned.touchpoint_id, scanned.scene_key = people.touchpoint_id, scene_key
    make_event(session, world.brand.id, member, "visit", datetime(2026, 4, 14, 1, 0, tzinfo=UTC))
    session.commit()
    soon = session.scalar(
        select(PointsLot.expires_at).where(
            PointsLot.brand_id == world.brand.id,
            PointsLot.member_id == member.id,
            PointsLot.points == 20,
        )
    )
    # when the acquiring guide opens the member's page
    console_log_in(client, world, "guide")
    page = client.get(f"/console/members/{member.id}")
    # then each domain's section is laid out, times in Shanghai and money in yuan
    assert page.status_code == 200, page.text
    html = page.text
    loyalty = part_of(html, "loyalty")
    assert "Gold <code>gold</code>" in loyalty
    assert "250 · 750 to <code>platinum</code>" in loyalty
    assert "520 points" in loyalty
    assert f"20 points · next expiry {format_shanghai(soon)}" in loyalty
    ledger = part_of(html, "loyalty-ledger")
    assert '<td class="nowrap">2026-04-10 10:00</td>' in ledger
    assert '<td class="num">+500</td>' in ledger
    assert "points_adjustment #" in ledger and "· welcome</td>" in ledger
    assert "Value · Tag vip</span>" in part_of(html, "tags")
    assert f'<a href="/console/segments/{gold.id}">Gold members</a>' in part_of(html, "segments")
    sms = part_of(html, "consent-channels").split("<code>sms</code>")[1].split("</tr>")[0]
    assert "No 不接收" in sms
    assert "Opt-in based 需授权" in sms
    assert "2026-04-12 10:00 by staff · console" in sms
    offline = part_of(html, "offline-orders")
    assert f"<code>{receipt.order_number}</code>" in offline
    assert "2026-04-11 11:30" in offline
    assert '<td class="num">129.00</td>' in offline
    assert '<td class="num">30.00</td>' in offline
    assert "POS-SKU × 1" in offline
    steps = part_of(html, "journey-steps")
    assert steps.index("2026-04-14 09:00") < steps.index("2026-04-13 09:00")  # newest first
    assert f"<code>{scene_key}</code>" in steps
    assert "Unknown source 未知来源" in steps
    assert '<span class="tag">shelf_code</span>' in steps
    assert world.direct_store.name in steps
    assert "13812340001" not in html


def test_the_console_360_says_which_domains_are_not_installed(
    client: TestClient, world: World, people: People, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a deployment without the other domains' modules
    for name, read in profile.DOMAIN_SECTIONS.items():
        missing = dataclasses.replace(read, module=f"siyu.not_installed_{name}")
        monkeypatch.setitem(profile.DOMAIN_SECTIONS, name, missing)
    # when HQ opens a member's page
    console_log_in(client, world, "hq_operator")
    page = client.get(f"/console/members/{people.scanned.id}")
    # then each of those sections says so, and the members' own sections are still there
    assert page.status_code == 200, page.text
    for what in ("loyalty", "tagging", "segmentation", "consent", "the POS import", "tracking"):
        assert f'<p class="muted">Not available: {what} is not installed' in page.text
    assert "WEB-1" in page.text


def test_the_console_hides_members_outside_scope(
    client: TestClient, world: World, people: People
) -> None:
    console_log_in(client, world, "store_manager")
    page = client.get(f"/console/members/{people.elsewhere.id}")
    assert page.status_code == 404
