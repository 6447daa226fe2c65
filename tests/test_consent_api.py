"""Consent over HTTP: the consumer's own consent and subscriptions (storefront), the policy,
a member's consent, staff opt-outs, decisions and dry runs (staff), the console pages."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from siyu.audit.models import AuditEntry
from siyu.consent.models import ConsentChange
from siyu.consent.rules import ChangedBy, Channel, Purpose
from siyu.consent.sending import request_send
from siyu.consent.service import change_consent
from siyu.consumers.models import Consumer
from siyu.members.merging import merge_members
from siyu.members.models import Member
from tests.factories import World, build_world
from tests.factories_consent import NOON, make_member, member_of, subscribe
from tests.factories_consumers import make_consumer
from tests.helpers import assert_problem, row_counts
from tests.test_console_pages import CSRF_INPUT, log_in

TEMPLATE = "tmpl-pickup-ready"


@pytest.fixture
def world(session: Session) -> World:
    w = build_world(session)
    session.commit()
    return w


def channels_of(body: dict[str, Any]) -> dict[str, tuple[bool, bool | None]]:
    return {c["channel"]: (c["opted_in"], c["chosen"]) for c in body["channels"]}


# ---------------------------------------------------------------- storefront


def test_a_consumer_reads_and_changes_their_own_consent_only(
    session: Session, client: TestClient, world: World
) -> None:
    # given two logged-in members
    alice, bob = (
        make_consumer(session, world.brand, "alice"),
        make_consumer(session, world.brand, "bob"),
    )
    alice_member, bob_member = member_of(session, alice), member_of(session, bob)
    session.commit()
    # when alice reads her consent: the brand defaults
    before = client.get("/api/storefront/consent", headers=alice.headers)
    assert before.status_code == 200, before.text
    assert channels_of(before.json()) == {
        "subscribe_message": (True, None),
        "official_account": (False, None),
        "wecom": (True, None),
        "community": (True, None),
        "sms": (False, None),
    }
    # when she opts in to SMS and out of WeCom
    changed = client.put(
        "/api/storefront/consent",
        json={"channels": {"sms": True, "wecom": False}},
        headers=alice.headers,
    )
    # then her consent says so, recorded as hers; bob's is untouched
    assert changed.status_code == 200, changed.text
    assert channels_of(changed.json())["sms"] == (True, True)
    assert channels_of(changed.json())["wecom"] == (False, False)
    rows = session.scalars(select(ConsentChange).order_by(ConsentChange.channel)).all()
    assert [
        (r.member_id, r.channel, r.opted_in, r.changed_by, r.source, r.consumer_id) for r in rows
    ] == [
        (alice_member, "sms", True, "consumer", "storefront", alice.consumer.id),
        (alice_member, "wecom", False, "consumer", "storefront", alice.consumer.id),
    ]
    bobs = client.get("/api/storefront/consent", headers=bob.headers).json()
    assert channels_of(bobs)["sms"] == (False, None)
    assert bob_member != alice_member
    # and the same choice again records nothing new
    client.put("/api/storefront/consent", json={"channels": {"sms": True}}, headers=alice.headers)
    assert session.scalar(select(ConsentChange.id).where(ConsentChange.id > rows[-1].id)) is None


def test_a_consumer_reports_subscribe_answers(
    session: Session, client: TestClient, world: World
) -> None:
    # given a logged-in member
    shopper = make_consumer(session, world.brand, "alice")
    member_id = member_of(session, shopper)
    session.commit()
    # when the mini program reports wx.requestSubscribeMessage's answers, twice
    first = client.post(
        "/api/storefront/subscriptions",
        json={"results": {TEMPLATE: "accept", "tmpl-promo": "reject"}},
        headers=shopper.headers,
    )
    second = client.post(
        "/api/storefront/subscriptions",
        json={"results": {TEMPLATE: "accept"}},
        headers=shopper.headers,
    )
    # then each accept is one credit; the reject is a refusal without credit
    assert first.status_code == 200, first.text
    assert [(c["template_id"], c["available"], c["refused"]) for c in first.json()] == [
        ("tmpl-pickup-ready", 1, 0),
        ("tmpl-promo", 0, 1),
    ]
    assert [(c["template_id"], c["available"]) for c in second.json()] == [(TEMPLATE, 2)]
    mine = client.get("/api/storefront/consent", headers=shopper.headers).json()
    assert {c["template_id"]: c["available"] for c in mine["credits"]} == {
        TEMPLATE: 2,
        "tmpl-promo": 0,
    }
    # and two pickup notices can go out, not three
    reasons = [
        request_send(
            session,
            world.brand.id,
            member_id,
            channel=Channel.SUBSCRIBE_MESSAGE,
            purpose=Purpose.TRANSACTIONAL,
            template_id=TEMPLATE,
            at=NOON,
        ).reason.value
        for _ in range(3)
    ]
    assert reasons == ["allowed", "allowed", "no_subscription_credit"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "/api/storefront/consent", {"channels": {"fax": True}}),
        ("PUT", "/api/storefront/consent", {"channels": {}}),
        ("POST", "/api/storefront/subscriptions", {"results": {TEMPLATE: "maybe"}}),
        ("POST", "/api/storefront/subscriptions", {"results": {"bad template!": "accept"}}),
        ("POST", "/api/storefront/subscriptions", {"results": {}}),
    ],
)
def test_bad_storefront_input_is_refused_and_writes_nothing(
    session: Session, client: TestClient, world: World, method: str, path: str, body: dict[str, Any]
) -> None:
    shopper = make_consumer(session, world.brand, "alice")
    member_of(session, shopper)
    session.commit()
    before = row_counts(session)
    response = client.request(method, path, json=body, headers=shopper.headers)
    assert_problem(response, 422, "validation_error")
    assert row_counts(session) == before


def test_a_consumer_without_a_member_has_no_consent(
    session: Session, client: TestClient, world: World
) -> None:
    # given a consumer whose profile has no member
    shopper = make_consumer(session, world.brand, "alice")
    session.execute(
        update(Consumer).where(Consumer.id == shopper.consumer.id).values(member_id=None)
    )
    session.commit()
    before = row_counts(session)
    # then neither reading, changing nor subscribing works, and nothing is written
    assert_problem(
        client.get("/api/storefront/consent", headers=shopper.headers), 404, "not_a_member"
    )
    assert_problem(
        client.put(
            "/api/storefront/consent", json={"channels": {"sms": True}}, headers=shopper.headers
        ),
        404,
        "not_a_member",
    )
    assert_problem(
        client.post(
            "/api/storefront/subscriptions",
            json={"results": {TEMPLATE: "accept"}},
            headers=shopper.headers,
        ),
        404,
        "not_a_member",
    )
    assert row_counts(session) == before


def test_the_storefront_needs_a_consumer_token(client: TestClient, world: World) -> None:
    assert_problem(client.get("/api/storefront/consent"), 401, "not_authenticated")
    staff = client.put(
        "/api/storefront/consent",
        json={"channels": {"sms": True}},
        headers=world.headers("brand_admin"),
    )
    assert staff.status_code == 401


# ---------------------------------------------------------------- the policy


POLICY = {
    "quiet_hours": {"start": "22:00", "end": "08:30"},
    "channels": {"sms": {"opt_out_based": False, "daily_cap": 2, "weekly_cap": 3}},
    "purposes": {
        "service": {"bypass_opt_out": True, "bypass_caps": False, "bypass_quiet_hours": False}
    },
}


def test_hq_reads_and_replaces_the_policy_with_audit(
    session: Session, client: TestClient, world: World
) -> None:
    # given the default policy
    default = client.get("/api/consent/policy", headers=world.headers("hq_operator"))
    assert default.status_code == 200, default.text
    assert default.json()["customized"] is False
    assert default.json()["timezone"] == "Asia/Shanghai"
    assert default.json()["quiet_hours"] == {"start": "21:00:00", "end": "09:00:00"}
    # when HQ replaces it
    saved = client.put("/api/consent/policy", json=POLICY, headers=world.headers("hq_operator"))
    # then the policy is theirs, with the rest filled from the defaults
    assert saved.status_code == 200, saved.text
    body = saved.json()
    assert body["customized"] is True
    assert body["quiet_hours"] == {"start": "22:00:00", "end": "08:30:00"}
    assert body["channels"]["sms"] == {"opt_out_based": False, "daily_cap": 2, "weekly_cap": 3}
    assert body["channels"]["wecom"] == {"opt_out_based": True, "daily_cap": 1, "weekly_cap": 7}
    assert body["purposes"]["service"]["bypass_caps"] is False
    assert body["purposes"]["marketing"] == {
        "bypass_opt_out": False,
        "bypass_caps": False,
        "bypass_quiet_hours": False,
    }
    # when it is saved again with another quiet window
    client.put(
        "/api/consent/policy",
        json=POLICY | {"quiet_hours": None},
        headers=world.headers("brand_admin"),
    )
    # then each save is audited with what changed
    entries = session.scalars(
        select(AuditEntry).where(AuditEntry.object_type == "consent_policy").order_by(AuditEntry.id)
    ).all()
    assert [e.action for e in entries] == ["consent_policy.create", "consent_policy.update"]
    assert entries[1].before == {"quiet_hours_start": "22:00", "quiet_hours_end": "08:30"}
    assert entries[1].after == {"quiet_hours_start": None, "quiet_hours_end": None}


@pytest.mark.parametrize(
    "body",
    [
        POLICY | {"quiet_hours": {"start": "09:00", "end": "09:00"}},
        POLICY | {"purposes": {"marketing": {"bypass_opt_out": True}}},
        POLICY | {"channels": {"sms": {"daily_cap": -1}}},
        POLICY | {"channels": {"fax": {"daily_cap": 1}}},
    ],
)
def test_a_bad_policy_is_refused_and_writes_nothing(
    session: Session, client: TestClient, world: World, body: dict[str, Any]
) -> None:
    before = row_counts(session)
    response = client.put("/api/consent/policy", json=body, headers=world.headers("hq_operator"))
    assert_problem(response, 422, "validation_error")
    assert row_counts(session) == before


@pytest.mark.parametrize(
    "who", ["region_manager", "franchisee_owner", "store_manager", "guide", "integration"]
)
def test_only_consent_writers_see_or_change_the_policy(
    session: Session, client: TestClient, world: World, who: str
) -> None:
    before = row_counts(session)
    assert_problem(
        client.get("/api/consent/policy", headers=world.headers(who)), 403, "permission_denied"
    )
    response = client.put("/api/consent/policy", json=POLICY, headers=world.headers(who))
    assert_problem(response, 403, "permission_denied")
    assert row_counts(session) == before


# ---------------------------------------------------------------- a member's consent


def test_staff_read_a_members_consent_within_scope(
    session: Session, client: TestClient, world: World
) -> None:
    # given a member of the direct store acquired by its guide, with a credit and a decision
    member = make_member(session, world, guide=world.staff["guide"])
    subscribe(session, world.brand.id, member.id, TEMPLATE)
    request_send(
        session, world.brand.id, member.id, channel=Channel.SMS, purpose=Purpose.MARKETING, at=NOON
    )
    session.commit()
    # when staff who can see the member read their consent
    for who in ("brand_admin", "hq_operator", "region_manager", "store_manager", "guide"):
        response = client.get(f"/api/members/{member.id}/consent", headers=world.headers(who))
        # then they get every channel, the credits and the decision
        assert response.status_code == 200, (who, response.text)
        body = response.json()
        assert body["member_id"] == member.id
        assert [c["channel"] for c in body["channels"]] == [c.value for c in Channel]
        assert [(c["template_id"], c["available"]) for c in body["credits"]] == [(TEMPLATE, 1)]
        assert [(d["channel"], d["reason"]) for d in body["decisions"]] == [("sms", "opted_out")]
    # and staff who cannot see the member are told it does not exist
    for who in ("franchisee_owner", "other_guide"):
        response = client.get(f"/api/members/{member.id}/consent", headers=world.headers(who))
        assert_problem(response, 404, "member_not_found")
    assert_problem(
        client.get(f"/api/members/{member.id}/consent", headers=world.headers("integration")),
        403,
        "permission_denied",
    )


def test_hq_records_an_opt_out_on_a_members_behalf(
    session: Session, client: TestClient, world: World
) -> None:
    # given a member who opted in to SMS
    member = make_member(session, world)
    change_consent(
        session,
        world.brand.id,
        member.id,
        channel=Channel.SMS,
        opted_in=True,
        changed_by=ChangedBy.CONSUMER,
        source="storefront",
    )
    session.commit()
    # when HQ records their opt-out of SMS and WeCom after a phone call
    response = client.post(
        f"/api/members/{member.id}/consent/opt-outs",
        json={"channels": ["sms", "wecom"], "note": "Asked on the hotline"},
        headers=world.headers("hq_operator"),
    )
    # then both are opted out, recorded as the staff member's, and audited
    assert response.status_code == 200, response.text
    assert channels_of(response.json())["sms"] == (False, False)
    assert channels_of(response.json())["wecom"] == (False, False)
    staff_id = world.staff["hq_operator"].id
    assert [
        (c["channel"], c["opted_in"], c["changed_by"], c["staff_id"], c["note"])
        for c in response.json()["changes"]
        if c["changed_by"] == "staff"
    ] == [
        ("wecom", False, "staff", staff_id, "Asked on the hotline"),
        ("sms", False, "staff", staff_id, "Asked on the hotline"),
    ]
    entry = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "member_consent.opt_out")
    ).one()
    assert (entry.object_type, entry.object_id, entry.actor_staff_id) == (
        "member",
        str(member.id),
        staff_id,
    )
    assert entry.before == {"sms": True, "wecom": None}
    assert entry.after == {"sms": False, "wecom": False, "note": "Asked on the hotline"}
    # and marketing SMS is refused from now on
    decision = request_send(
        session, world.brand.id, member.id, channel=Channel.SMS, purpose=Purpose.MARKETING, at=NOON
    )
    assert decision.reason.value == "opted_out"


@pytest.mark.parametrize(
    "who", ["region_manager", "franchisee_owner", "store_manager", "guide", "integration"]
)
def test_staff_without_consent_write_cannot_record_an_opt_out(
    session: Session, client: TestClient, world: World, who: str
) -> None:
    member = make_member(session, world, guide=world.staff["guide"])
    session.commit()
    before = row_counts(session)
    response = client.post(
        f"/api/members/{member.id}/consent/opt-outs",
        json={"channels": ["sms"]},
        headers=world.headers(who),
    )
    assert_problem(response, 403, "permission_denied")
    assert row_counts(session) == before


def test_an_opt_out_for_a_merged_member_goes_to_the_survivor(
    session: Session, client: TestClient, world: World
) -> None:
    # given two profiles of one person, merged
    survivor = make_member(session, world, with_phone=False)
    merged = make_member(session, world, with_phone=False)
    merge_members(session, world.brand.id, survivor.id, merged.id, reason="test")
    session.commit()
    # when HQ records an opt-out naming the merged profile
    response = client.post(
        f"/api/members/{merged.id}/consent/opt-outs",
        json={"channels": ["community"]},
        headers=world.headers("hq_operator"),
    )
    # then the person (the survivor) is opted out
    assert response.status_code == 200, response.text
    assert response.json()["member_id"] == survivor.id
    assert channels_of(response.json())["community"] == (False, False)
    assert session.scalars(select(ConsentChange.member_id)).all() == [survivor.id]


def test_an_opt_out_for_a_member_of_another_brand_is_not_found(
    session: Session, client: TestClient, world: World
) -> None:
    other = build_world(session)
    stranger = make_member(session, other)
    session.commit()
    before = row_counts(session)
    response = client.post(
        f"/api/members/{stranger.id}/consent/opt-outs",
        json={"channels": ["sms"]},
        headers=world.headers("hq_operator"),
    )
    assert_problem(response, 404, "member_not_found")
    assert row_counts(session) == before


# ---------------------------------------------------------------- decisions and dry runs


def _decide(session: Session, world: World, member: Member, channel: Channel, hour: int) -> None:
    request_send(
        session,
        world.brand.id,
        member.id,
        channel=channel,
        purpose=Purpose.MARKETING,
        at=NOON.replace(hour=hour),
    )


def test_decisions_are_listed_filtered_and_paginated(
    session: Session, client: TestClient, world: World
) -> None:
    # given decisions about a member of the direct store and one of the other store
    here = make_member(session, world)
    there = make_member(session, world, home_store=world.other_store)
    _decide(session, world, here, Channel.SMS, 12)  # opted_out
    _decide(session, world, here, Channel.WECOM, 12)  # allowed (opt-out based)
    _decide(session, world, here, Channel.WECOM, 23)  # quiet_hours
    _decide(session, world, there, Channel.WECOM, 12)  # allowed
    session.commit()
    headers = world.headers("hq_operator")
    # when HQ lists them
    everything = client.get("/api/consent/decisions", headers=headers).json()
    refused = client.get("/api/consent/decisions?allowed=false", headers=headers).json()
    quiet = client.get(
        "/api/consent/decisions?reason=quiet_hours&channel=wecom&day=2026-11-18", headers=headers
    ).json()
    other_day = client.get("/api/consent/decisions?day=2026-11-19", headers=headers).json()
    page = client.get("/api/consent/decisions?limit=2&offset=2", headers=headers).json()
    # then the filters and pages hold exactly what they should, newest first
    assert everything["total"] == 4
    assert [(d["member_id"], d["reason"]) for d in everything["items"]] == [
        (here.id, "quiet_hours"),
        (there.id, "allowed"),
        (here.id, "allowed"),
        (here.id, "opted_out"),
    ]
    assert {d["reason"] for d in refused["items"]} == {"opted_out", "quiet_hours"}
    assert [(d["member_id"], d["local_day"]) for d in quiet["items"]] == [(here.id, "2026-11-18")]
    assert other_day["total"] == 0
    assert (page["total"], len(page["items"]), page["offset"]) == (4, 2, 2)
    # and a store manager sees only decisions about the members of their store
    mine = client.get("/api/consent/decisions", headers=world.headers("store_manager")).json()
    assert {d["member_id"] for d in mine["items"]} == {here.id}
    # and a guide may not read reports
    assert_problem(
        client.get("/api/consent/decisions", headers=world.headers("guide")),
        403,
        "permission_denied",
    )


def test_a_send_check_is_a_dry_run(session: Session, client: TestClient, world: World) -> None:
    # given an opted-in member, one who never chose, and a member of another brand
    keen = make_member(session, world)
    change_consent(
        session,
        world.brand.id,
        keen.id,
        channel=Channel.SMS,
        opted_in=True,
        changed_by=ChangedBy.CONSUMER,
        source="storefront",
    )
    silent = make_member(session, world)
    stranger = make_member(session, build_world(session))
    session.commit()
    before = row_counts(session)
    # when HQ checks a marketing SMS for the three at noon and at night
    ask = {
        "member_ids": [keen.id, silent.id, stranger.id],
        "channel": "sms",
        "purpose": "marketing",
    }
    noon = client.post(
        "/api/consent/send-checks",
        json=ask | {"at": NOON.isoformat()},
        headers=world.headers("hq_operator"),
    )
    night = client.post(
        "/api/consent/send-checks",
        json=ask | {"at": NOON.replace(hour=22).isoformat()},
        headers=world.headers("hq_operator"),
    )
    # then each gets its decision, the stranger is unknown, and nothing was written
    assert noon.status_code == 200, noon.text
    assert [(d["member_id"], d["reason"]) for d in noon.json()["decisions"]] == [
        (keen.id, "allowed"),
        (silent.id, "opted_out"),
        (stranger.id, "member_merged_or_missing"),
    ]
    assert noon.json()["counts"] == {"allowed": 1, "opted_out": 1, "member_merged_or_missing": 1}
    assert night.json()["decisions"][0]["reason"] == "quiet_hours"
    assert night.json()["decisions"][0]["next_allowed_at"] == "2026-11-19T01:00:00Z"
    assert row_counts(session) == before
    # and a subscribe-message check needs its template
    refused = client.post(
        "/api/consent/send-checks",
        json=ask | {"channel": "subscribe_message"},
        headers=world.headers("hq_operator"),
    )
    assert_problem(refused, 422, "template_required")


# ---------------------------------------------------------------- console


def test_hq_edits_the_policy_and_reads_decisions_in_the_console(
    session: Session, client: TestClient, world: World
) -> None:
    member = make_member(session, world)
    _decide(session, world, member, Channel.SMS, 12)
    session.commit()
    csrf = log_in(client, world, "hq_operator")
    # when HQ opens the policy page and saves a change
    page = client.get("/console/consent")
    assert page.status_code == 200
    assert 'id="policy-form"' in page.text and 'name="sms.daily_cap" value="1"' in page.text
    form = {
        "csrf_token": csrf,
        "quiet_start": "22:00",
        "quiet_end": "08:00",
        "sms.daily_cap": "3",
        "sms.weekly_cap": "",
        "wecom.opt_out_based": "on",
        "transactional.bypass_opt_out": "on",
        "transactional.bypass_caps": "on",
        "transactional.bypass_quiet_hours": "on",
    }
    saved = client.post("/console/consent/policy", data=form, follow_redirects=False)
    # then the policy is saved as submitted
    assert saved.status_code == 303, saved.text
    assert saved.headers["location"] == "/console/consent?saved=1"
    body = client.get("/api/consent/policy", headers=world.headers("hq_operator")).json()
    assert body["quiet_hours"] == {"start": "22:00:00", "end": "08:00:00"}
    assert body["channels"]["sms"] == {"opt_out_based": False, "daily_cap": 3, "weekly_cap": None}
    assert body["channels"]["community"] == {
        "opt_out_based": False,
        "daily_cap": None,
        "weekly_cap": None,
    }
    assert body["purposes"]["service"] == {
        "bypass_opt_out": False,
        "bypass_caps": False,
        "bypass_quiet_hours": False,
    }
    # when a half-filled quiet window is submitted, it is refused on the form
    before = row_counts(session)
    refused = client.post("/console/consent/policy", data=form | {"quiet_end": ""})
    assert refused.status_code == 422
    assert "Quiet hours need both a start and an end." in refused.text
    assert row_counts(session) == before
    # and the decisions page lists the refusal, filterable by reason
    decisions = client.get("/console/consent/decisions", params={"reason": "opted_out"})
    assert decisions.status_code == 200
    assert "opted_out" in decisions.text and "1 decision(s)" in decisions.text
    assert (
        "0 decision(s)"
        in client.get("/console/consent/decisions", params={"reason": "quiet_hours"}).text
    )
    assert CSRF_INPUT.search(page.text) is not None


def test_a_guide_cannot_open_the_consent_pages(client: TestClient, world: World) -> None:
    log_in(client, world, "guide")
    assert client.get("/console/consent").status_code == 403
    assert client.get("/console/consent/decisions").status_code == 403
