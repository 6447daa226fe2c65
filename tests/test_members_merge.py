"""Merging members: by staff over HTTP and automatically by shared identifiers; nothing lost,
two phones never merged, every member reference repointed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    select,
    text,
)
from sqlalchemy.orm import Session

from siyu.audit.models import AuditEntry
from siyu.consumers.models import Consumer
from siyu.members.errors import MemberMergePhoneConflict
from siyu.members.identity import register_member
from siyu.members.merging import (
    MemberReference,
    _unique_keys,
    link_identities,
    merge_members,
    repoint_references,
)
from siyu.members.models import Member
from siyu.outbox.models import OutboxEvent
from siyu.wechat.sandbox import SANDBOX_MINI_PROGRAM
from tests.factories import World, build_world
from tests.factories_consumers import make_payment
from tests.factories_members import identities_of, log_in, member_of, pos_member, shelf_code
from tests.helpers import assert_problem, row_counts

JAN = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)
FEB = datetime(2026, 2, 5, 2, 0, tzinfo=UTC)
DEC = datetime(2025, 12, 5, 2, 0, tzinfo=UTC)


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


def reload(session: Session, member: Member) -> Member:
    session.expire_all()
    found = session.get(Member, (member.brand_id, member.id))
    assert found is not None
    return found


def test_staff_merge_moves_consumers_identities_and_orders_and_adds_up_the_summary(
    session: Session, client: TestClient, world: World
) -> None:
    # given two profiles of one person, each with a consumer and an order
    older_shopper = log_in(session, world.brand, "olga")
    newer_shopper = log_in(session, world.brand, "olga-on-her-tablet")
    code = shelf_code(session, world)
    older, newer = member_of(session, older_shopper), member_of(session, newer_shopper)
    older.order_count, older.total_spent_fen = 1, 1000
    older.first_order_at = older.last_order_at = JAN
    older.points_balance, older.growth_value, older.phone = 10, 100, "13500001111"
    newer.order_count, newer.total_spent_fen = 2, 5000
    newer.first_order_at, newer.last_order_at = DEC, FEB
    newer.points_balance, newer.growth_value = 20, 200
    newer.joined_at, newer.join_channel = DEC, "scan"
    newer.source_touchpoint_id, newer.source_store_id = code.touchpoint.id, world.direct_store.id
    newer.home_store_id = world.direct_store.id
    older.home_store_id = world.direct_store.id
    make_payment(session, older_shopper, world.direct_store.id, number="ORDER-OLD")
    make_payment(session, newer_shopper, world.direct_store.id, number="ORDER-NEW")
    session.commit()
    # when HQ merges the newer into the older
    response = client.post(
        f"/api/members/{older.id}/merges",
        json={"other_member_id": newer.id},
        headers=world.headers("hq_operator"),
    )
    # then the older holds everything
    assert response.status_code == 200, response.text
    assert response.json()["merged_member_id"] == newer.id
    survivor, merged = reload(session, older), reload(session, newer)
    assert (merged.status, merged.merged_into_id) == ("merged", older.id)
    assert (merged.order_count, merged.points_balance) == (0, 0)
    assert (
        survivor.order_count,
        survivor.total_spent_fen,
        survivor.first_order_at,
        survivor.last_order_at,
        survivor.points_balance,
        survivor.growth_value,
        survivor.phone,
    ) == (3, 6000, DEC, FEB, 30, 300, "13500001111")
    # the earliest joining wins with its source
    assert (survivor.joined_at, survivor.join_channel, survivor.source_touchpoint_id) == (
        DEC,
        "scan",
        code.touchpoint.id,
    )
    consumers = session.scalars(select(Consumer.member_id).order_by(Consumer.id)).all()
    assert consumers == [older.id, older.id]
    assert {kind for kind, _ in identities_of(session, older.id)} == {
        "mini_program_openid",
        "phone",
    }
    assert identities_of(session, newer.id) == []
    # and both orders are reachable from the survivor's 360
    profile = client.get(f"/api/members/{older.id}/360", headers=world.headers("hq_operator"))
    assert sorted(o["number"] for o in profile.json()["online_orders"]) == [
        "ORDER-NEW",
        "ORDER-OLD",
    ]
    audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "member.merge")).one()
    assert audit.object_id == str(older.id)
    assert audit.before is not None and audit.before["survivor"]["phone"] == "135****1111"
    merged_events = session.scalars(
        select(OutboxEvent.payload).where(OutboxEvent.event_type == "MembersMerged")
    ).all()
    assert merged_events == [
        {"member_id": older.id, "merged_member_id": newer.id, "reason": "staff"}
    ]


def test_a_merge_of_two_members_with_different_phones_is_refused_and_writes_nothing(
    session: Session, client: TestClient, world: World
) -> None:
    # given a POS member with one phone and an online member with another
    first = pos_member(session, world.brand.id, "13500002222", with_phone_column=True)
    second = pos_member(session, world.brand.id, "13500003333")
    session.commit()
    before = row_counts(session)
    # when HQ tries to merge them
    response = client.post(
        f"/api/members/{first.id}/merges",
        json={"other_member_id": second.id},
        headers=world.headers("brand_admin"),
    )
    # then it is refused and nothing is written
    assert_problem(response, 409, "member_merge_phone_conflict")
    assert row_counts(session) == before
    assert reload(session, second).status == "active"


def test_merge_refusals(session: Session, client: TestClient, world: World) -> None:
    # given two members, one merged already
    first = pos_member(session, world.brand.id, "13500004444")
    second = register_member(session, world.brand.id, identities=[], source="test")
    third = register_member(session, world.brand.id, identities=[], source="test")
    merge_members(session, world.brand.id, first.id, third.id, reason="test")
    session.commit()
    before = row_counts(session)
    admin = world.headers("brand_admin")
    # when HQ merges a member with itself, with a merged one, or with a stranger
    itself = client.post(
        f"/api/members/{first.id}/merges", json={"other_member_id": first.id}, headers=admin
    )
    merged = client.post(
        f"/api/members/{second.id}/merges", json={"other_member_id": third.id}, headers=admin
    )
    unknown = client.post(
        f"/api/members/{first.id}/merges", json={"other_member_id": 999_999}, headers=admin
    )
    # then each is refused and nothing is written
    assert_problem(itself, 422, "member_merge_same")
    assert_problem(merged, 409, "member_already_merged")
    assert_problem(unknown, 404, "member_not_found")
    assert row_counts(session) == before


@pytest.mark.parametrize("who", ["region_manager", "store_manager", "guide", "franchisee_owner"])
def test_only_roles_with_member_merge_may_merge(
    session: Session, client: TestClient, world: World, who: str
) -> None:
    # given two members of the direct store
    first = register_member(
        session, world.brand.id, identities=[], source="test", home_store_id=world.direct_store.id
    )
    second = register_member(
        session, world.brand.id, identities=[], source="test", home_store_id=world.direct_store.id
    )
    session.commit()
    before = row_counts(session)
    # when a role without member:merge tries
    response = client.post(
        f"/api/members/{first.id}/merges",
        json={"other_member_id": second.id},
        headers=world.headers(who),
    )
    # then it is refused and nothing is written
    assert_problem(response, 403, "permission_denied")
    assert row_counts(session) == before


def test_linking_a_shared_identifier_merges_into_the_older_member(
    session: Session, world: World
) -> None:
    # given an older member known by a unionid and a newer one known by an openid
    older = register_member(session, world.brand.id, identities=[("unionid", "u-1")], source="oa")
    newer = register_member(
        session, world.brand.id, identities=[("mini_program_openid", "o-1")], source="mp"
    )
    # when the newer is found to have the same unionid
    survivor = link_identities(session, world.brand.id, newer.id, [("unionid", "u-1")], "mp")
    # then the older survives with both identifiers
    assert survivor.id == older.id
    assert identities_of(session, older.id) == [("unionid", "u-1"), ("mini_program_openid", "o-1")]
    assert reload(session, newer).merged_into_id == older.id


def test_linking_refuses_to_merge_members_with_different_phones(
    session: Session, world: World
) -> None:
    # given two members with different phones, one holding a unionid
    holder = pos_member(session, world.brand.id, "13500005555")
    link_identities(session, world.brand.id, holder.id, [("unionid", "u-2")], "oa")
    other = pos_member(session, world.brand.id, "13500006666")
    session.commit()
    before = row_counts(session)
    # when the other is linked to that unionid
    with pytest.raises(MemberMergePhoneConflict):
        link_identities(session, world.brand.id, other.id, [("unionid", "u-2")], "oa")
    # then nothing was written
    session.rollback()
    assert row_counts(session) == before


def test_repointing_drops_the_merged_rows_that_collide_with_the_survivors(
    session: Session, world: World
) -> None:
    # given a table of member references with a unique key and a partial unique index on it
    metadata = MetaData()
    notes = Table(
        "test_member_note",
        metadata,
        Column("brand_id", BigInteger, primary_key=True),
        Column("id", BigInteger, primary_key=True),
        Column("member_id", BigInteger, nullable=False),
        Column("topic", String(20), nullable=False),
        Column("pinned", String(5), nullable=False),
        UniqueConstraint("brand_id", "member_id", "topic"),
        Index(
            "uq_test_member_note_pinned",
            "brand_id",
            "member_id",
            unique=True,
            postgresql_where=text("pinned = 'yes'"),
        ),
    )
    survivor = register_member(session, world.brand.id, identities=[], source="test")
    merged = register_member(session, world.brand.id, identities=[], source="test")
    metadata.create_all(session.connection())
    rows = [
        (1, survivor.id, "size", "yes"),
        (2, merged.id, "size", "no"),  # collides on topic
        (3, merged.id, "colour", "yes"),  # collides on the pinned note
        (4, merged.id, "fit", "no"),  # moves
    ]
    session.execute(
        notes.insert(),
        [
            {"brand_id": world.brand.id, "id": i, "member_id": m, "topic": t, "pinned": p}
            for i, m, t, p in rows
        ],
    )
    reference = MemberReference(notes, notes.c.member_id, _unique_keys(notes, "member_id"))
    # when the merged member's references are repointed
    repoint_references(session, world.brand.id, survivor.id, merged.id, [reference])
    # then the colliding rows are gone and the others belong to the survivor
    left = session.execute(select(notes.c.id, notes.c.member_id).order_by(notes.c.id)).all()
    assert [tuple(row) for row in left] == [(1, survivor.id), (4, survivor.id)]
    session.rollback()
