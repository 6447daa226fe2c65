"""Registering members set-wise: ``register_members`` makes exactly what ``register_member``
makes one call at a time (it is the same path), in the order of the rows given."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.members.identity import IdentityKind, NewMember, register_member, register_members
from siyu.members.models import Member, MemberIdentity
from siyu.outbox.models import OutboxEvent
from tests.factories import World, build_world
from tests.helpers import row_counts

JAN = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)
FEB = datetime(2026, 2, 5, 2, 0, tzinfo=UTC)
POS = IdentityKind.POS_MEMBER_NUMBER.value
PHONE = IdentityKind.PHONE.value
OPENID = IdentityKind.MINI_PROGRAM_OPENID.value


@pytest.fixture
def world(session: Session) -> World:
    built = build_world(session)
    session.commit()
    return built


def three_members(world: World, batch: str) -> list[NewMember]:
    """A POS member with a phone, a prospect known by an openid, a member a guide brought."""
    return [
        NewMember(
            identities=[(POS, f"VIP-{batch}-1")],
            joined_at=JAN,
            join_channel="pos",
            phone=f"139{batch}0000001",
            display_name="甲",
            source_store_id=world.direct_store.id,
        ),
        NewMember(identities=[(OPENID, f"openid-{batch}-2")], display_name="乙"),
        NewMember(
            identities=[(OPENID, f"openid-{batch}-3"), (PHONE, f"139{batch}0000003")],
            joined_at=FEB,
            phone=f"139{batch}0000003",
            source_store_id=world.franchise_store.id,
            home_store_id=world.other_store.id,
            source_guide_staff_id=world.staff["guide"].id,
        ),
    ]


Written = tuple[
    list[tuple[Any, ...]], list[tuple[int, str, str, str]], list[tuple[str, str, dict[str, Any]]]
]


def written(session: Session, member_ids: list[int], batch: str) -> Written:
    """The members (in ``member_ids`` order), their identities and events (in id order), with
    each member id replaced by its position in ``member_ids`` and the batch marker by ``*``."""
    position = {member_id: index for index, member_id in enumerate(member_ids)}
    profile = select(
        Member.status,
        Member.display_name,
        Member.phone,
        Member.joined_at,
        Member.join_channel,
        Member.source_touchpoint_id,
        Member.source_store_id,
        Member.source_guide_staff_id,
        Member.home_store_id,
        Member.lifecycle_stage,
        Member.order_count,
        Member.points_balance,
    )
    members = []
    for member_id in member_ids:
        row = session.execute(profile.where(Member.id == member_id)).one()
        members.append(
            tuple(value.replace(batch, "*") if isinstance(value, str) else value for value in row)
        )
    identities = session.execute(
        select(
            MemberIdentity.member_id,
            MemberIdentity.kind,
            MemberIdentity.value,
            MemberIdentity.source,
        )
        .where(MemberIdentity.member_id.in_(member_ids))
        .order_by(MemberIdentity.id)
    ).all()
    events = session.execute(
        select(OutboxEvent.event_type, OutboxEvent.aggregate_id, OutboxEvent.payload)
        .where(OutboxEvent.aggregate_type == "member")
        .where(OutboxEvent.aggregate_id.in_([str(member_id) for member_id in member_ids]))
        .order_by(OutboxEvent.id)
    ).all()
    return (
        members,
        [
            (position[member_id], kind, value.replace(batch, "*"), source)
            for member_id, kind, value, source in identities
        ],
        [
            (
                event_type,
                str(position[int(aggregate_id)]),
                {**payload, "member_id": position[payload["member_id"]]},
            )
            for event_type, aggregate_id, payload in events
        ],
    )


def test_register_members_writes_what_one_register_member_per_row_writes(
    session: Session, world: World
) -> None:
    # Given three members registered one call at a time
    single_ids = [
        register_member(session, world.brand.id, source="pos_import", **vars(row)).id
        for row in three_members(world, "7")
    ]

    # When three alike (other identifiers) are registered at once
    bulk_ids = register_members(
        session, world.brand.id, three_members(world, "8"), source="pos_import"
    )
    session.commit()

    # Then the ids follow the rows, and members, identities and events are the same
    assert bulk_ids == sorted(bulk_ids)
    assert min(bulk_ids) > max(single_ids)
    members, identities, events = written(session, bulk_ids, "8")
    assert (members, identities, events) == written(session, single_ids, "7")
    store, franchised, other = world.direct_store, world.franchise_store, world.other_store
    guide = world.staff["guide"].id
    assert members == [
        ("active", "甲", "139*0000001", JAN, "pos", None, store.id, None, store.id, "new", 0, 0),
        ("active", "乙", None, None, None, None, None, None, None, "prospect", 0, 0),
        (
            "active",
            None,
            "139*0000003",
            FEB,
            None,
            None,
            franchised.id,
            guide,
            other.id,
            "new",
            0,
            0,
        ),
    ]
    assert identities == [
        (0, POS, "VIP-*-1", "pos_import"),
        (0, PHONE, "139*0000001", "pos_import"),
        (1, OPENID, "openid-*-2", "pos_import"),
        (2, OPENID, "openid-*-3", "pos_import"),
        (2, PHONE, "139*0000003", "pos_import"),
    ]
    joined = {"source_touchpoint_id": None, "unknown_scene_key": None}
    assert events == [
        ("MemberRegistered", "0", {"member_id": 0, "source": "pos_import", "joined": True}),
        ("MemberIdentityAdded", "0", {"member_id": 0, "kind": POS}),
        ("MemberIdentityAdded", "0", {"member_id": 0, "kind": PHONE}),
        (
            "MemberJoined",
            "0",
            {
                "member_id": 0,
                "join_channel": "pos",
                "source_store_id": store.id,
                "source_guide_staff_id": None,
                **joined,
            },
        ),
        ("MemberRegistered", "1", {"member_id": 1, "source": "pos_import", "joined": False}),
        ("MemberIdentityAdded", "1", {"member_id": 1, "kind": OPENID}),
        ("MemberRegistered", "2", {"member_id": 2, "source": "pos_import", "joined": True}),
        ("MemberIdentityAdded", "2", {"member_id": 2, "kind": OPENID}),
        ("MemberIdentityAdded", "2", {"member_id": 2, "kind": PHONE}),
        (
            "MemberJoined",
            "2",
            {
                "member_id": 2,
                "join_channel": "pos_import",
                "source_store_id": franchised.id,
                "source_guide_staff_id": guide,
                **joined,
            },
        ),
    ]
    prospect = session.get_one(Member, (world.brand.id, bulk_ids[1]))
    assert prospect.lifecycle_changed_at is not None
    assert session.get_one(Member, (world.brand.id, bulk_ids[2])).lifecycle_changed_at == FEB


def test_register_members_skips_a_taken_identifier_without_its_event(
    session: Session, world: World
) -> None:
    # Given a member holding an openid
    holder = register_member(session, world.brand.id, identities=[(OPENID, "taken")], source="test")

    # When two members are registered at once, the first naming that openid too
    first, second = register_members(
        session,
        world.brand.id,
        [
            NewMember(identities=[(OPENID, "taken"), (POS, "VIP-9")]),
            NewMember(identities=[(POS, "VIP-10")]),
        ],
        source="test",
    )

    # Then the openid stays with its holder and only the free identifiers are announced
    owners = dict(
        session.execute(
            select(MemberIdentity.value, MemberIdentity.member_id).where(
                MemberIdentity.brand_id == world.brand.id
            )
        ).all()
    )
    assert owners == {"taken": holder.id, "VIP-9": first, "VIP-10": second}
    added = session.scalars(
        select(OutboxEvent.payload)
        .where(OutboxEvent.event_type == "MemberIdentityAdded")
        .order_by(OutboxEvent.id)
    ).all()
    assert added == [
        {"member_id": holder.id, "kind": OPENID},
        {"member_id": first, "kind": POS},
        {"member_id": second, "kind": POS},
    ]


def test_register_members_of_no_rows_writes_nothing(session: Session, world: World) -> None:
    before = row_counts(session)

    assert register_members(session, world.brand.id, [], source="test") == []

    assert row_counts(session) == before
