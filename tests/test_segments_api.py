"""Segments and tags over HTTP: saving, preview, refresh, bulk tagging, CSV export, scope."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from siyu.audit.models import AuditEntry
from siyu.core.clock import utc_now
from siyu.members.models import Member
from siyu.outbox.models import OutboxEvent
from siyu.segments import membership
from siyu.segments.compiler import Strategy
from siyu.segments.jobs import refresh_due
from siyu.segments.models import Segment, SegmentMember
from siyu.segments.rules import Schedule
from tests.factories import World, build_world
from tests.factories_segments import make_event, make_member, make_segment, make_tag
from tests.helpers import assert_problem, row_counts

GOLD = {"tier": {"in": ["gold"]}}


@dataclass
class Club:
    world: World
    ann: int  # gold, home: direct store (region A), acquired by the guide
    bob: int  # gold, home: other store (region B)
    cat: int  # silver, home: franchise store (region A)
    vip: int  # a manual tag

    def headers(self, who: str) -> dict[str, str]:
        return self.world.headers(who)


@pytest.fixture
def club(session: Session) -> Club:
    w = build_world(session)
    ann = make_member(
        session,
        w.brand.id,
        name="Ann",
        phone="13800000001",
        home_store_id=w.direct_store.id,
        source_guide_staff_id=w.staff["guide"].id,
        tier_code="gold",
    )
    bob = make_member(
        session,
        w.brand.id,
        name="=Bob",
        phone="13800000002",
        home_store_id=w.other_store.id,
        tier_code="gold",
    )
    cat = make_member(
        session,
        w.brand.id,
        name="Cat",
        phone="13800000003",
        home_store_id=w.franchise_store.id,
        tier_code="silver",
    )
    vip = make_tag(session, w.system, "vip", group="value")
    session.commit()
    return Club(w, ann.id, bob.id, cat.id, vip.id)


def members_of(session: Session, segment_id: int) -> set[int]:
    session.expire_all()
    return set(
        session.scalars(
            select(SegmentMember.member_id).where(SegmentMember.segment_id == segment_id)
        )
    )


def events(session: Session, event_type: str) -> list[dict[str, Any]]:
    return [
        e.payload
        for e in session.scalars(
            select(OutboxEvent).where(OutboxEvent.event_type == event_type).order_by(OutboxEvent.id)
        )
    ]


# ---------------------------------------------------------------- saving and refreshing


def test_hq_saves_a_segment_and_it_is_materialised(
    session: Session, client: TestClient, club: Club
) -> None:
    # when HQ saves a segment of gold members
    response = client.post(
        "/api/segments",
        json={"name": "Gold", "rule": {"all": [GOLD]}, "schedule": "hourly"},
        headers=club.headers("hq_operator"),
    )
    # then it is saved normalised, its members are computed, audited and published
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["rule"] == GOLD
    assert body["rule_description"] == "tier in (gold)"
    assert (body["member_count"], body["schedule"], body["scope"]) == (2, "hourly", "brand")
    assert members_of(session, body["id"]) == {club.ann, club.bob}
    assert events(session, "SegmentRefreshed") == [
        {"segment_id": body["id"], "added": 2, "removed": 0, "member_count": 2}
    ]
    assert events(session, "SegmentCreated")[0]["name"] == "Gold"
    actions = set(session.scalars(select(AuditEntry.action)))
    assert "segment.create" in actions


def test_a_bad_rule_is_refused_at_its_json_path_and_nothing_is_written(
    session: Session, client: TestClient, club: Club
) -> None:
    before = row_counts(session)
    rule = {"all": [GOLD, {"events": {"kind": "visit", "within_days": 0}}, {"tag": {"has": "x"}}]}
    # when a segment, a preview and a rule tag are sent with a bad rule
    saved = client.post(
        "/api/segments", json={"name": "Bad", "rule": rule}, headers=club.headers("hq_operator")
    )
    previewed = client.post(
        "/api/segments/preview", json={"rule": rule}, headers=club.headers("hq_operator")
    )
    tagged = client.post(
        "/api/tags",
        json={"code": "bad", "name": "Bad", "kind": "rule", "rule": {"tag": {"has": "nope"}}},
        headers=club.headers("hq_operator"),
    )
    # then each is refused with the path of the problem, and nothing is written
    for response in (saved, previewed):
        body = assert_problem(response, 422, "segment_rule_invalid")
        assert body["field"] == "rule.all[1].events.within_days"
        assert body["errors"] == [
            {
                "path": "rule.all[1].events.within_days",
                "message": "Input should be greater than or equal to 1",
            }
        ]
    body = assert_problem(tagged, 422, "segment_rule_invalid")
    assert body["errors"] == [{"path": "rule.tag.has", "message": "there is no tag 'nope'"}]
    assert row_counts(session) == before


def test_a_rule_may_not_name_what_the_actor_cannot_see(
    session: Session, client: TestClient, club: Club
) -> None:
    w = club.world
    before = row_counts(session)
    response = client.post(
        "/api/segments",
        json={
            "name": "Elsewhere",
            "rule": {"any": [{"home_store": {"in": [w.direct_store.id, w.other_store.id]}}]},
        },
        headers=club.headers("region_manager"),
    )
    body = assert_problem(response, 422, "segment_rule_invalid")
    assert body["errors"] == [
        {"path": "rule.any[0].home_store.in[1]", "message": f"there is no store {w.other_store.id}"}
    ]
    assert row_counts(session) == before


def test_preview_counts_and_shows_a_masked_sample_without_writing(
    session: Session, client: TestClient, club: Club
) -> None:
    before = row_counts(session)
    response = client.post(
        "/api/segments/preview", json={"rule": GOLD}, headers=club.headers("brand_admin")
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == 2
    assert [(m["member_id"], m["phone"]) for m in body["sample"]] == [
        (club.ann, "138****0001"),
        (club.bob, "138****0002"),
    ]
    assert body["sample"][0]["home_store_name"] == club.world.direct_store.name
    assert row_counts(session) == before


def test_a_region_managers_segment_only_holds_their_region(
    session: Session, client: TestClient, club: Club
) -> None:
    # given a brand-wide segment by HQ
    brand_wide = make_segment(session, club.world.system, GOLD, name="All gold")
    session.commit()
    # when the region A manager saves a segment of gold and silver members
    response = client.post(
        "/api/segments",
        json={"name": "A gold and silver", "rule": {"tier": {"in": ["gold", "silver"]}}},
        headers=club.headers("region_manager"),
    )
    # then only region A's members are in it, even when the job recomputes it
    assert response.status_code == 201, response.text
    segment_id = response.json()["id"]
    assert response.json()["scope"] == f"region:{club.world.region_a.id}"
    assert members_of(session, segment_id) == {club.ann, club.cat}
    session.execute(
        update(Segment).values(last_refreshed_at=Segment.last_refreshed_at - timedelta(days=2))
    )
    session.commit()
    assert refresh_due() == 2
    assert members_of(session, segment_id) == {club.ann, club.cat}
    # and the region manager does not see HQ's segment; HQ sees both
    hidden = client.get(f"/api/segments/{brand_wide.id}", headers=club.headers("region_manager"))
    assert_problem(hidden, 404, "segment_not_found")
    listed = client.get("/api/segments", headers=club.headers("region_manager")).json()
    assert [s["id"] for s in listed["items"]] == [segment_id]
    all_listed = client.get("/api/segments", headers=club.headers("hq_operator")).json()
    assert all_listed["total"] == 2


def test_refresh_adds_and_removes_and_reports_the_counts(
    session: Session, client: TestClient, club: Club
) -> None:
    # given a segment of gold members (ann, bob)
    segment = make_segment(session, club.world.system, GOLD, schedule=Schedule.MANUAL)
    session.commit()
    # and then bob drops to silver while cat rises to gold
    session.execute(update(Member).where(Member.id == club.bob).values(tier_code="silver"))
    session.execute(update(Member).where(Member.id == club.cat).values(tier_code="gold"))
    session.commit()
    # when the segment is refreshed
    response = client.post(
        f"/api/segments/{segment.id}/refresh", headers=club.headers("region_manager")
    )
    assert_problem(response, 404, "segment_not_found")
    response = client.post(
        f"/api/segments/{segment.id}/refresh", headers=club.headers("hq_operator")
    )
    # then one joined and one left
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["added"], body["removed"], body["member_count"]) == (1, 1, 2)
    assert members_of(session, segment.id) == {club.ann, club.cat}
    assert events(session, "SegmentRefreshed")[-1] == {
        "segment_id": segment.id,
        "added": 1,
        "removed": 1,
        "member_count": 2,
    }
    # and a refresh with no change reports none
    again = client.post(f"/api/segments/{segment.id}/refresh", headers=club.headers("hq_operator"))
    assert (again.json()["added"], again.json()["removed"]) == (0, 0)


def test_changing_the_rule_rematerialises(session: Session, client: TestClient, club: Club) -> None:
    segment = make_segment(session, club.world.system, GOLD)
    session.commit()
    response = client.patch(
        f"/api/segments/{segment.id}",
        json={"rule": {"tier": {"in": ["silver"]}}, "name": "Silver"},
        headers=club.headers("hq_operator"),
    )
    assert response.status_code == 200, response.text
    assert (response.json()["name"], response.json()["member_count"]) == ("Silver", 1)
    assert members_of(session, segment.id) == {club.cat}
    deleted = client.delete(f"/api/segments/{segment.id}", headers=club.headers("hq_operator"))
    assert deleted.status_code == 204
    assert members_of(session, segment.id) == set()


# ---------------------------------------------------------------- tags


def test_bulk_tagging_from_a_segment(session: Session, client: TestClient, club: Club) -> None:
    # given ann already tagged vip by hand, and a segment of gold members
    client.post(
        f"/api/members/{club.ann}/tags",
        json={"tag_id": club.vip},
        headers=club.headers("hq_operator"),
    )
    segment = make_segment(session, club.world.system, GOLD)
    session.commit()
    # when HQ tags the segment's members vip
    response = client.post(
        f"/api/segments/{segment.id}/tagging",
        json={"tag_id": club.vip},
        headers=club.headers("hq_operator"),
    )
    # then bob is tagged from the segment and ann keeps her manual tag
    assert response.status_code == 200, response.text
    assert response.json() == {
        "tag_id": club.vip,
        "segment_id": segment.id,
        "tagged": 1,
        "member_count": 2,
    }
    ann = client.get(f"/api/members/{club.ann}/tags", headers=club.headers("hq_operator")).json()
    bob = client.get(f"/api/members/{club.bob}/tags", headers=club.headers("hq_operator")).json()
    assert [(t["code"], t["source"]) for t in ann["tags"]] == [("vip", "manual")]
    assert [(t["code"], t["source"]) for t in bob["tags"]] == [("vip", "segment")]
    assert events(session, "MembersTaggedFromSegment") == [
        {"tag_id": club.vip, "segment_id": segment.id, "tagged": 1}
    ]


def test_a_rule_tag_is_computed_and_cannot_be_put_on_by_hand(
    session: Session, client: TestClient, club: Club
) -> None:
    response = client.post(
        "/api/tags",
        json={"code": "gold_club", "name": "Gold club", "kind": "rule", "rule": GOLD},
        headers=club.headers("hq_operator"),
    )
    assert response.status_code == 201, response.text
    tag = response.json()
    assert (tag["kind"], tag["schedule"], tag["rule_description"]) == (
        "rule",
        "daily",
        "tier in (gold)",
    )
    bob = client.get(f"/api/members/{club.bob}/tags", headers=club.headers("hq_operator")).json()
    assert [(t["code"], t["source"]) for t in bob["tags"]] == [("gold_club", "rule")]
    before = row_counts(session)
    refused = client.post(
        f"/api/members/{club.cat}/tags",
        json={"tag_id": tag["id"]},
        headers=club.headers("hq_operator"),
    )
    body = assert_problem(refused, 422, "rule_tag_not_taggable")
    assert body["field"] == "tag_id"
    assert row_counts(session) == before
    # when bob leaves gold and the tag is recomputed by hand
    session.execute(update(Member).where(Member.id == club.bob).values(tier_code="silver"))
    session.commit()
    recomputed = client.post(
        f"/api/tags/{tag['id']}/recompute", headers=club.headers("hq_operator")
    )
    assert recomputed.status_code == 200, recomputed.text
    assert events(session, "RuleTagRecomputed")[-1] == {
        "tag_id": tag["id"],
        "added": 0,
        "removed": 1,
        "member_count": 1,
    }
    bob = client.get(f"/api/members/{club.bob}/tags", headers=club.headers("hq_operator")).json()
    assert bob["tags"] == []


def test_tag_definitions_refuse_duplicates_and_deleting_a_tag_in_use(
    session: Session, client: TestClient, club: Club
) -> None:
    duplicate = client.post(
        "/api/tags", json={"code": "vip", "name": "VIP"}, headers=club.headers("hq_operator")
    )
    assert_problem(duplicate, 409, "duplicate_tag_code")
    make_segment(session, club.world.system, {"tag": {"has": "vip"}}, name="VIPs")
    session.commit()
    in_use = client.delete(f"/api/tags/{club.vip}", headers=club.headers("hq_operator"))
    body = assert_problem(in_use, 409, "tag_in_use")
    assert body["used_by"] == ["segment 'VIPs'"]
    # an unused tag is deleted and taken off everyone
    spare = make_tag(session, club.world.system, "spare")
    session.commit()
    client.post(
        f"/api/members/{club.ann}/tags",
        json={"tag_id": spare.id},
        headers=club.headers("hq_operator"),
    )
    deleted = client.delete(f"/api/tags/{spare.id}", headers=club.headers("hq_operator"))
    assert deleted.status_code == 204
    ann = client.get(f"/api/members/{club.ann}/tags", headers=club.headers("hq_operator")).json()
    assert ann["tags"] == []
    assert events(session, "TagDeleted")[-1]["untagged_members"] == 1


def test_tagging_a_member_follows_member_scope(
    session: Session, client: TestClient, club: Club
) -> None:
    # a store manager tags a member of their store, and cannot reach another store's
    tagged = client.post(
        f"/api/members/{club.ann}/tags",
        json={"tag_id": club.vip},
        headers=club.headers("store_manager"),
    )
    assert tagged.status_code == 201, tagged.text
    assert (tagged.json()["code"], tagged.json()["source"]) == ("vip", "manual")
    assert tagged.json()["tagged_by_staff_id"] == club.world.staff["store_manager"].id
    before = row_counts(session)
    elsewhere = client.post(
        f"/api/members/{club.bob}/tags",
        json={"tag_id": club.vip},
        headers=club.headers("store_manager"),
    )
    assert_problem(elsewhere, 404, "member_not_found")
    assert row_counts(session) == before
    untagged = client.delete(
        f"/api/members/{club.ann}/tags/{club.vip}", headers=club.headers("store_manager")
    )
    assert untagged.status_code == 204
    assert [e["tag_id"] for e in events(session, "MemberUntagged")] == [club.vip]
    actions = list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
    assert actions[-2:] == ["member_tag.create", "member_tag.delete"]


def test_guide_tags_are_seen_only_by_their_guide_and_managers_in_scope(
    session: Session, client: TestClient, club: Club
) -> None:
    w = club.world
    # when the guide tags their own customer ann, and HQ keeps a tag on her for the other guide
    own = client.post(
        f"/api/members/{club.ann}/guide-tags",
        json={"tag_id": club.vip},
        headers=club.headers("guide"),
    )
    assert own.status_code == 201, own.text
    assert own.json()["guide_staff_id"] == w.staff["guide"].id
    other = client.post(
        f"/api/members/{club.ann}/guide-tags",
        json={"tag_id": club.vip, "guide_staff_id": w.staff["other_guide"].id},
        headers=club.headers("hq_operator"),
    )
    assert other.status_code == 201, other.text

    # then the guide sees only their own guide tag, the store manager both
    def guide_tags(who: str) -> list[int]:
        response = client.get(f"/api/members/{club.ann}/tags", headers=club.headers(who))
        assert response.status_code == 200, response.text
        return [t["guide_staff_id"] for t in response.json()["guide_tags"]]

    assert guide_tags("guide") == [w.staff["guide"].id]
    assert sorted(guide_tags("store_manager")) == sorted(
        [w.staff["guide"].id, w.staff["other_guide"].id]
    )
    # and the other guide cannot see ann at all (not their customer)
    hidden = client.get(f"/api/members/{club.ann}/tags", headers=club.headers("other_guide"))
    assert_problem(hidden, 404, "member_not_found")
    before = row_counts(session)
    # a guide keeps only guide tags, only their own, only on their customers
    brand_tag = client.post(
        f"/api/members/{club.ann}/tags", json={"tag_id": club.vip}, headers=club.headers("guide")
    )
    assert_problem(brand_tag, 403, "guide_tags_only")
    someone_elses = client.post(
        f"/api/members/{club.ann}/guide-tags",
        json={"tag_id": club.vip, "guide_staff_id": w.staff["other_guide"].id},
        headers=club.headers("guide"),
    )
    assert_problem(someone_elses, 403, "guide_tags_only")
    not_theirs = client.post(
        f"/api/members/{club.bob}/guide-tags",
        json={"tag_id": club.vip},
        headers=club.headers("guide"),
    )
    assert_problem(not_theirs, 404, "member_not_found")
    # a store manager may only name a guide of their store
    outside = client.post(
        f"/api/members/{club.ann}/guide-tags",
        json={"tag_id": club.vip, "guide_staff_id": w.staff["other_guide"].id},
        headers=club.headers("store_manager"),
    )
    assert_problem(outside, 404, "staff_not_found")
    nameless = client.post(
        f"/api/members/{club.ann}/guide-tags",
        json={"tag_id": club.vip},
        headers=club.headers("store_manager"),
    )
    assert_problem(nameless, 422, "guide_required")
    assert row_counts(session) == before
    # the guide removes their tag
    removed = client.delete(
        f"/api/members/{club.ann}/guide-tags/{club.vip}", headers=club.headers("guide")
    )
    assert removed.status_code == 204
    assert guide_tags("guide") == []
    assert guide_tags("store_manager") == [w.staff["other_guide"].id]


# ---------------------------------------------------------------- export


def test_the_csv_export_masks_phones_unless_the_actor_has_member_pii(
    session: Session, client: TestClient, club: Club
) -> None:
    segment = make_segment(session, club.world.system, GOLD)
    session.commit()
    w = club.world
    # brand admins hold member:pii; HQ operators do not
    full = client.get(f"/api/segments/{segment.id}/export.csv", headers=club.headers("brand_admin"))
    masked = client.get(
        f"/api/segments/{segment.id}/export.csv", headers=club.headers("hq_operator")
    )
    assert full.status_code == 200, full.text
    assert full.headers["content-type"] == "text/csv; charset=utf-8"
    assert full.text.splitlines() == [
        "member_id,name,phone,tier,lifecycle_stage,store",
        f"{club.ann},Ann,13800000001,gold,prospect,{w.direct_store.name}",
        f"{club.bob},'=Bob,13800000002,gold,prospect,{w.other_store.name}",
    ]
    assert masked.text.splitlines()[1:] == [
        f"{club.ann},Ann,138****0001,gold,prospect,{w.direct_store.name}",
        f"{club.bob},'=Bob,138****0002,gold,prospect,{w.other_store.name}",
    ]


# ---------------------------------------------------------------- permissions


@pytest.mark.parametrize("who", ["store_manager", "franchisee_owner", "guide"])
def test_roles_without_segment_write_cannot_define_segments_or_tags(
    session: Session, client: TestClient, club: Club, who: str
) -> None:
    segment = make_segment(session, club.world.system, GOLD)
    session.commit()
    before = row_counts(session)
    calls = [
        client.post("/api/segments", json={"name": "X", "rule": GOLD}, headers=club.headers(who)),
        client.post("/api/segments/preview", json={"rule": GOLD}, headers=club.headers(who)),
        client.post("/api/tags", json={"code": "x", "name": "X"}, headers=club.headers(who)),
        client.patch(f"/api/tags/{club.vip}", json={"name": "X"}, headers=club.headers(who)),
        client.delete(f"/api/tags/{club.vip}", headers=club.headers(who)),
    ]
    for response in calls:
        assert_problem(response, 403, "permission_denied")
    # they do not see HQ's segment (outside their scope), so cannot refresh or tag from it
    for response in (
        client.post(f"/api/segments/{segment.id}/refresh", headers=club.headers(who)),
        client.post(
            f"/api/segments/{segment.id}/tagging",
            json={"tag_id": club.vip},
            headers=club.headers(who),
        ),
    ):
        assert response.status_code in (403, 404), response.text
    assert row_counts(session) == before


def test_a_franchisee_owner_cannot_tag_members(
    session: Session, client: TestClient, club: Club
) -> None:
    before = row_counts(session)
    response = client.post(
        f"/api/members/{club.cat}/tags",
        json={"tag_id": club.vip},
        headers=club.headers("franchisee_owner"),
    )
    assert_problem(response, 403, "permission_denied")
    guide_tag = client.post(
        f"/api/members/{club.cat}/guide-tags",
        json={"tag_id": club.vip, "guide_staff_id": club.world.staff["guide"].id},
        headers=club.headers("franchisee_owner"),
    )
    assert_problem(guide_tag, 403, "permission_denied")
    assert row_counts(session) == before


def test_an_integration_without_member_read_sees_no_segments_or_tags(
    client: TestClient, club: Club
) -> None:
    for path in ("/api/segments", "/api/tags", f"/api/members/{club.ann}/tags"):
        assert_problem(
            client.get(path, headers=club.headers("integration")), 403, "permission_denied"
        )


# ---------------------------------------------------------------- the member 360


def test_member_360_reads_tags_and_segments(session: Session, club: Club) -> None:
    from siyu.segments.service import member_segments, member_tags
    from siyu.segments.tags import add_guide_tag, tag_member

    system = club.world.system
    tag_member(session, system, club.ann, club.vip)
    add_guide_tag(session, system, club.ann, club.vip, club.world.staff["guide"].id)
    gold = make_segment(session, system, GOLD, name="Gold")
    make_segment(session, system, {"tier": {"in": ["silver"]}}, name="Silver")
    tags = member_tags(session, club.world.brand.id, club.ann)
    assert [(t.code, t.group, t.source.value) for t in tags.tags] == [("vip", "value", "manual")]
    assert tags.guide_tags == []  # private to the guide and managers: no viewer, none shown
    segments = member_segments(session, club.world.brand.id, club.ann)
    assert [(s.segment_id, s.name) for s in segments] == [(gold.id, "Gold")]
    assert member_segments(session, club.world.brand.id, club.cat)[0].name == "Silver"


@pytest.mark.parametrize("strategy", list(Strategy))
def test_preview_and_refresh_agree_under_either_strategy(
    session: Session,
    client: TestClient,
    club: Club,
    monkeypatch: pytest.MonkeyPatch,
    strategy: Strategy,
) -> None:
    # given gold members of whom ann and cat visited twice this month (cat is silver)
    for member_id in (club.ann, club.ann, club.cat, club.cat, club.bob):
        make_event(
            session,
            club.world.brand.id,
            session.get(Member, (club.world.brand.id, member_id)),
            "visit",
            utc_now(),
        )
    session.commit()
    monkeypatch.setattr(membership, "choose_strategy", lambda *args, **kwargs: strategy)
    rule = {"all": [GOLD, {"events": {"kind": "visit", "within_days": 30, "at_least": 2}}]}
    # when the rule is previewed and saved
    preview = client.post(
        "/api/segments/preview", json={"rule": rule}, headers=club.headers("hq_operator")
    )
    saved = client.post(
        "/api/segments",
        json={"name": "Busy gold", "rule": rule},
        headers=club.headers("hq_operator"),
    )
    # then both find ann alone
    assert preview.status_code == 200, preview.text
    assert (preview.json()["count"], [m["member_id"] for m in preview.json()["sample"]]) == (
        1,
        [club.ann],
    )
    assert saved.json()["member_count"] == 1
    assert members_of(session, saved.json()["id"]) == {club.ann}


def test_merging_members_keeps_one_of_each_tag_and_segment_membership(
    session: Session, club: Club
) -> None:
    from siyu.members.merging import merge_members
    from siyu.segments.models import MemberGuideTag, MemberTag
    from siyu.segments.tags import add_guide_tag, tag_member

    # given ann and a second profile of hers, both tagged vip and both in the gold segment
    w = club.world
    twin = make_member(session, w.brand.id, name="Ann again", tier_code="gold")
    for member_id in (club.ann, twin.id):
        tag_member(session, w.system, member_id, club.vip)
    add_guide_tag(session, w.system, twin.id, club.vip, w.staff["guide"].id)
    segment = make_segment(session, w.system, GOLD)
    assert members_of(session, segment.id) == {club.ann, club.bob, twin.id}
    # when the twin is merged into ann
    merge_members(session, w.brand.id, club.ann, twin.id, reason="same person")
    session.flush()
    # then ann holds the tag once, keeps the guide's tag, and is in the segment once
    tags = session.scalars(select(MemberTag.member_id).where(MemberTag.tag_id == club.vip)).all()
    assert tags == [club.ann]
    guide_tags = session.scalars(select(MemberGuideTag.member_id)).all()
    assert guide_tags == [club.ann]
    assert members_of(session, segment.id) == {club.ann, club.bob}


def test_changing_a_segment_audits_only_what_changed(
    session: Session, client: TestClient, club: Club
) -> None:
    segment = make_segment(session, club.world.system, GOLD, name="Gold")
    session.commit()
    client.patch(
        f"/api/segments/{segment.id}",
        json={"schedule": "hourly", "rule": {"tier": {"in": ["silver"]}}},
        headers=club.headers("hq_operator"),
    )
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "segment.update")).one()
    assert entry.after == {"schedule": "hourly", "rule": {"tier": {"in": ["silver"]}}}
    assert events(session, "SegmentChanged")[0]["changes"] == entry.after
