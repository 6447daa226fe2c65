"""The periodic job recomputes the scheduled segments and rule tags that are due, and only those."""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from siyu.members.models import Member
from siyu.outbox.models import OutboxEvent
from siyu.segments.jobs import refresh_due_segments
from siyu.segments.models import MemberTag, Segment, SegmentMember, Tag
from siyu.segments.rules import Schedule
from tests.factories import build_world
from tests.factories_segments import make_member, make_segment, make_tag

GOLD = {"tier": {"in": ["gold"]}}


def test_due_segments_and_rule_tags_are_recomputed(session: Session) -> None:
    # given gold members, and segments and rule tags on every schedule, all computed before
    w = build_world(session)
    ann = make_member(session, w.brand.id, tier_code="gold")
    bob = make_member(session, w.brand.id, tier_code="silver")
    hourly = make_segment(session, w.system, GOLD, name="hourly", schedule=Schedule.HOURLY)
    daily = make_segment(session, w.system, GOLD, name="daily", schedule=Schedule.DAILY)
    manual = make_segment(session, w.system, GOLD, name="manual", schedule=Schedule.MANUAL)
    tag = make_tag(session, w.system, "gold_club", rule=GOLD, schedule=Schedule.HOURLY)
    session.commit()
    # two hours ago, and bob has become gold since
    for model in (Segment, Tag):
        session.execute(
            update(model).values(last_refreshed_at=model.last_refreshed_at - timedelta(hours=2))
        )
    session.execute(update(Member).where(Member.id == bob.id).values(tier_code="gold"))
    session.commit()
    # when the job runs
    recomputed = refresh_due_segments(int(time.time()))
    # then the hourly segment and the hourly rule tag are recomputed; daily and manual are not
    assert recomputed == 2
    session.expire_all()

    def members(segment_id: int) -> set[int]:
        return set(
            session.scalars(
                select(SegmentMember.member_id).where(SegmentMember.segment_id == segment_id)
            )
        )

    assert members(hourly.id) == {ann.id, bob.id}
    assert members(daily.id) == {ann.id}
    assert members(manual.id) == {ann.id}
    holders = set(session.scalars(select(MemberTag.member_id).where(MemberTag.tag_id == tag.id)))
    assert holders == {ann.id, bob.id}
    refreshed = [
        e.payload
        for e in session.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.event_type.in_(["SegmentRefreshed", "RuleTagRecomputed"]))
            .order_by(OutboxEvent.id)
        )
    ][-2:]
    assert refreshed == [
        {"tag_id": tag.id, "added": 1, "removed": 0, "member_count": 2},
        {"segment_id": hourly.id, "added": 1, "removed": 0, "member_count": 2},
    ]
    # and running again right away finds nothing due
    assert refresh_due_segments(int(time.time())) == 0
