"""Every login has a member; scanning a code makes a prospect join (扫码即会员); a phone
number from WeChat binds and merges profiles."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.consumers.models import Consumer, ConsumerSession
from siyu.members.identity import register_member
from siyu.members.models import Member
from siyu.outbox.models import OutboxEvent
from siyu.wechat.sandbox import SANDBOX_MINI_PROGRAM, issue_phone_code
from siyu.wechat.service import sandbox_app_id
from tests.factories import World, build_world
from tests.factories_consumers import login_code
from tests.factories_members import identities_of, log_in, member_of, pos_member, shelf_code
from tests.helpers import assert_problem, row_counts


@pytest.fixture(autouse=True)
def fresh_sandbox() -> Iterator[None]:
    SANDBOX_MINI_PROGRAM.reset()
    yield
    SANDBOX_MINI_PROGRAM.reset()


@pytest.fixture
def world(session: Session) -> World:
    built = build_world(session)
    session.commit()
    return built


def events_of(session: Session, event_type: str) -> list[dict[str, Any]]:
    return [
        row.payload
        for row in session.scalars(
            select(OutboxEvent).where(OutboxEvent.event_type == event_type).order_by(OutboxEvent.id)
        )
    ]


def openid(world: World, user: str) -> str:
    return SANDBOX_MINI_PROGRAM.openid_for(sandbox_app_id(world.brand.id), user)


def test_a_first_login_registers_a_prospect_member(
    session: Session, client: TestClient, world: World
) -> None:
    # when alice logs in for the first time, with the visitor id she browsed with
    response = client.post(
        "/api/storefront/login",
        json={
            "brand": world.brand.slug,
            "code": login_code(session, world.brand, "alice"),
            "anonymous_id": "anon-42",
        },
    )
    # then her consumer points to a new prospect member holding her openid
    assert response.status_code == 200, response.text
    consumer = session.scalars(select(Consumer)).one()
    member = session.scalars(select(Member)).one()
    assert consumer.member_id == member.id
    assert (member.lifecycle_stage, member.joined_at, member.source_touchpoint_id) == (
        "prospect",
        None,
        None,
    )
    assert identities_of(session, member.id) == [("mini_program_openid", openid(world, "alice"))]
    assert events_of(session, "ConsumerLoggedIn") == [
        {
            "consumer_id": consumer.id,
            "consumer_session_id": session.scalars(select(ConsumerSession.id)).one(),
            "member_id": member.id,
            "anonymous_id": "anon-42",
            "scene_key": None,
            "scene_known": None,
        }
    ]


def test_scanning_a_shelf_code_and_logging_in_makes_a_member_of_that_store(
    session: Session, client: TestClient, world: World
) -> None:
    # given a shelf code placed with the direct store's guide
    code = shelf_code(session, world)
    session.commit()
    scene_key = code.codes[0].scene_key
    # when bob scans it and logs in
    response = client.post(
        "/api/storefront/login",
        json={
            "brand": world.brand.slug,
            "code": login_code(session, world.brand, "bob"),
            "scene_key": scene_key,
        },
    )
    # then bob is a member acquired by that touchpoint, store and guide
    assert response.status_code == 200, response.text
    member = session.scalars(select(Member)).one()
    assert member.joined_at is not None
    assert (
        member.join_channel,
        member.source_touchpoint_id,
        member.source_store_id,
        member.source_guide_staff_id,
        member.home_store_id,
        member.lifecycle_stage,
    ) == (
        "scan",
        code.touchpoint.id,
        world.direct_store.id,
        world.staff["guide"].id,
        world.direct_store.id,
        "new",
    )
    assert events_of(session, "MemberJoined") == [
        {
            "member_id": member.id,
            "join_channel": "scan",
            "source_touchpoint_id": code.touchpoint.id,
            "source_store_id": world.direct_store.id,
            "source_guide_staff_id": world.staff["guide"].id,
            "unknown_scene_key": None,
        }
    ]
    assert events_of(session, "MemberLifecycleChanged") == [
        {"member_id": member.id, "from_stage": "prospect", "to_stage": "new"}
    ]
    assert events_of(session, "ConsumerLoggedIn")[0]["scene_known"] is True


def test_an_unknown_scene_key_logs_in_and_stays_a_prospect(
    session: Session, client: TestClient, world: World
) -> None:
    # when carol logs in from a code the brand never issued (and from a malformed one)
    first = client.post(
        "/api/storefront/login",
        json={
            "brand": world.brand.slug,
            "code": login_code(session, world.brand, "carol"),
            "scene_key": "tNOSUCHKEY0000",
        },
    )
    second = client.post(
        "/api/storefront/login",
        json={
            "brand": world.brand.slug,
            "code": login_code(session, world.brand, "carol"),
            "scene_key": "not a key at all ✗",
        },
    )
    # then both logins succeed, she stays a prospect, and the unknown source is on the events
    assert first.status_code == 200, first.text
    assert second.status_code == 200, second.text
    member = session.scalars(select(Member)).one()
    assert (member.lifecycle_stage, member.joined_at) == ("prospect", None)
    assert events_of(session, "MemberJoined") == []
    logged = events_of(session, "ConsumerLoggedIn")
    assert [(e["scene_key"], e["scene_known"]) for e in logged] == [
        ("tNOSUCHKEY0000", False),
        ("not a key at all ✗", False),
    ]


def test_a_member_who_joined_keeps_the_first_source(session: Session, world: World) -> None:
    # given dan joined by scanning one shelf code
    first = shelf_code(session, world)
    second = shelf_code(session, world)
    log_in(session, world.brand, "dan", scene_key=first.codes[0].scene_key)
    # when he scans another later
    shopper = log_in(session, world.brand, "dan", scene_key=second.codes[0].scene_key)
    # then his acquisition is still the first code
    member = member_of(session, shopper)
    assert member.source_touchpoint_id == first.touchpoint.id
    assert len(events_of(session, "MemberJoined")) == 1


def test_a_second_login_with_a_unionid_links_it_to_the_same_member(
    session: Session, world: World
) -> None:
    # given erin logged in before the mini program was bound to an open platform
    first = log_in(session, world.brand, "erin")
    app_id = sandbox_app_id(world.brand.id)
    SANDBOX_MINI_PROGRAM.bind_open_platform(app_id, "open-1")
    # when she logs in again and WeChat now sends her unionid
    second = log_in(session, world.brand, "erin")
    # then the unionid joins her one member
    member = member_of(session, second)
    assert member.id == member_of(session, first).id
    assert session.scalar(select(func.count()).select_from(Member)) == 1
    assert identities_of(session, member.id) == [
        ("mini_program_openid", openid(world, "erin")),
        ("unionid", SANDBOX_MINI_PROGRAM.unionid_for(app_id, "erin")),
    ]


def test_a_login_finds_the_member_already_known_by_unionid(session: Session, world: World) -> None:
    # given a member known from the official account by frank's unionid
    app_id = sandbox_app_id(world.brand.id)
    SANDBOX_MINI_PROGRAM.bind_open_platform(app_id, "open-1")
    unionid = SANDBOX_MINI_PROGRAM.unionid_for(app_id, "frank")
    assert unionid is not None
    follower = register_member(
        session, world.brand.id, identities=[("unionid", unionid)], source="official_account"
    )
    # when frank logs in to the mini program
    shopper = log_in(session, world.brand, "frank")
    # then his consumer is that member, now with his openid too
    assert member_of(session, shopper).id == follower.id
    assert session.scalar(select(func.count()).select_from(Member)) == 1
    assert ("mini_program_openid", openid(world, "frank")) in identities_of(session, follower.id)


# ---------------------------------------------------------------- joining from a page


def test_joining_from_a_page_is_idempotent_and_records_the_touchpoint(
    session: Session, client: TestClient, world: World
) -> None:
    # given a prospect and a shelf code
    shopper = log_in(session, world.brand, "gina")
    code = shelf_code(session, world)
    session.commit()
    # when she joins from a page opened by that code, twice
    first = client.post(
        "/api/storefront/membership",
        json={"scene_key": code.codes[0].scene_key},
        headers=shopper.headers,
    )
    again = client.post("/api/storefront/membership", json={}, headers=shopper.headers)
    # then she joined once, with the touchpoint as source
    assert first.status_code == 200, first.text
    assert first.json()["joined_now"] is True
    assert first.json()["source_touchpoint_id"] == code.touchpoint.id
    assert first.json()["lifecycle_stage"] == "new"
    assert again.json()["joined_now"] is False
    assert again.json()["joined_at"] == first.json()["joined_at"]
    assert len(events_of(session, "MemberJoined")) == 1


def test_joining_from_a_page_with_an_unknown_scene_records_an_unknown_source(
    session: Session, client: TestClient, world: World
) -> None:
    # given a prospect
    shopper = log_in(session, world.brand, "hana")
    session.commit()
    # when she joins with a key the brand never issued
    response = client.post(
        "/api/storefront/membership", json={"scene_key": "tUNKNOWN"}, headers=shopper.headers
    )
    # then she is a member with no source, and the unknown key is on the event
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["joined"], body["join_channel"], body["source_touchpoint_id"]) == (
        True,
        "mini_program",
        None,
    )
    assert events_of(session, "MemberJoined")[0]["unknown_scene_key"] == "tUNKNOWN"


# ---------------------------------------------------------------- phone binding


def test_binding_a_phone_merges_the_consumer_into_the_pos_member_with_that_number(
    session: Session, client: TestClient, world: World
) -> None:
    # given a member imported from the POS with phone 13900001111, and then ivy's login
    pos = pos_member(session, world.brand.id, "13900001111")
    shopper = log_in(session, world.brand, "ivy")
    online = member_of(session, shopper)
    session.commit()
    code = issue_phone_code(sandbox_app_id(world.brand.id), "13900001111")
    # when ivy binds her phone number
    response = client.post(
        "/api/storefront/membership/phone", json={"code": code}, headers=shopper.headers
    )
    # then she is the POS member (the older survives), and her online profile is merged into it
    assert response.status_code == 200, response.text
    assert response.json()["member_id"] == pos.id
    assert response.json()["phone"] == "139****1111"
    session.expire_all()
    consumer = session.get(Consumer, (world.brand.id, shopper.consumer.id))
    assert consumer is not None and consumer.member_id == pos.id
    assert consumer.phone == "13900001111"
    survivor = session.get(Member, (world.brand.id, pos.id))
    merged = session.get(Member, (world.brand.id, online.id))
    assert survivor is not None and merged is not None
    assert survivor.phone == "13900001111"
    assert (merged.status, merged.merged_into_id) == ("merged", pos.id)
    assert sorted(identities_of(session, pos.id)) == [
        ("mini_program_openid", openid(world, "ivy")),
        ("phone", "13900001111"),
    ]
    assert events_of(session, "MembersMerged") == [
        {"member_id": pos.id, "merged_member_id": online.id, "reason": "identity:wechat_phone"}
    ]
    # and her next login finds the survivor
    assert member_of(session, log_in(session, world.brand, "ivy")).id == pos.id


def test_binding_a_phone_nobody_has_sets_it_on_the_member(
    session: Session, client: TestClient, world: World
) -> None:
    # given a prospect
    shopper = log_in(session, world.brand, "jade")
    session.commit()
    code = issue_phone_code(sandbox_app_id(world.brand.id), "13700002222")
    # when she binds a phone
    response = client.post(
        "/api/storefront/membership/phone", json={"code": code}, headers=shopper.headers
    )
    # then it is her member's phone and identifier
    assert response.status_code == 200, response.text
    member = member_of(session, shopper)
    assert member.phone == "13700002222"
    assert ("phone", "13700002222") in identities_of(session, member.id)


def test_a_phone_code_is_good_once_and_a_login_code_is_not_one(
    session: Session, client: TestClient, world: World
) -> None:
    # given a prospect who bound her phone with a code
    shopper = log_in(session, world.brand, "kim")
    session.commit()
    code = issue_phone_code(sandbox_app_id(world.brand.id), "13700003333")
    used = client.post(
        "/api/storefront/membership/phone", json={"code": code}, headers=shopper.headers
    )
    assert used.status_code == 200, used.text
    before = row_counts(session)
    # when the code is sent again, and a wx.login code is sent as a phone code
    again = client.post(
        "/api/storefront/membership/phone", json={"code": code}, headers=shopper.headers
    )
    wrong = client.post(
        "/api/storefront/membership/phone",
        json={"code": login_code(session, world.brand, "kim")},
        headers=shopper.headers,
    )
    # then both are refused as WeChat refuses them, and nothing is written
    assert_problem(again, 422, "invalid_phone_code")
    assert_problem(wrong, 422, "invalid_phone_code")
    assert row_counts(session) == before


def test_a_foreign_number_is_refused(session: Session, client: TestClient, world: World) -> None:
    # given a consumer whose WeChat phone is American
    shopper = log_in(session, world.brand, "lee")
    session.commit()
    code = issue_phone_code(sandbox_app_id(world.brand.id), "4155550100", country_code="1")
    before = row_counts(session)
    # when he binds it
    response = client.post(
        "/api/storefront/membership/phone", json={"code": code}, headers=shopper.headers
    )
    # then it is refused and nothing is written
    assert_problem(response, 422, "unsupported_phone")
    assert row_counts(session) == before


def test_the_phone_exchange_is_rate_limited_like_the_platform(
    session: Session, client: TestClient, world: World
) -> None:
    # given WeChat allows no more exchanges this minute
    shopper = log_in(session, world.brand, "max")
    session.commit()
    SANDBOX_MINI_PROGRAM.rate_limit_per_minute = 0
    code = issue_phone_code(sandbox_app_id(world.brand.id), "13700004444")
    # when he binds his phone
    response = client.post(
        "/api/storefront/membership/phone", json={"code": code}, headers=shopper.headers
    )
    # then he is told to retry later
    assert_problem(response, 429, "wechat_rate_limited")


def test_binding_a_phone_of_another_member_with_a_different_phone_is_refused(
    session: Session, client: TestClient, world: World
) -> None:
    # given nina's member already has phone 13600001111, and a POS member has 13600002222
    shopper = log_in(session, world.brand, "nina")
    session.commit()
    first = issue_phone_code(sandbox_app_id(world.brand.id), "13600001111")
    bound = client.post(
        "/api/storefront/membership/phone", json={"code": first}, headers=shopper.headers
    )
    assert bound.status_code == 200, bound.text
    pos_member(session, world.brand.id, "13600002222")
    session.commit()
    before = row_counts(session)
    code = issue_phone_code(sandbox_app_id(world.brand.id), "13600002222")
    # when she binds the POS member's number
    response = client.post(
        "/api/storefront/membership/phone", json={"code": code}, headers=shopper.headers
    )
    # then the merge is refused: two phones are two people; nothing is written
    assert_problem(response, 409, "member_merge_phone_conflict")
    assert row_counts(session) == before
