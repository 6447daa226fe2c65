"""Segments (分组): saved rules, their materialised membership, preview, export, bulk tagging;
and the read functions of the member 360 (``member_tags``, ``member_segments``).

Every staff function takes the acting ``Actor`` and the caller's session; none commits.
Reading needs ``member:read`` and the segment's scope inside the actor's
(siyu.segments.scope.visible_to; otherwise SegmentNotFound); changing needs ``segment:write``.
A segment's members are always computed within the scope it was made in, so a region
manager's segment never holds another region's members. Creating a segment or changing its
rule materialises it at once; refreshing locks the segment (siyu.segments.locks) and records
``SegmentRefreshed`` with the counts that joined and left. Changes are audited.

Tag definitions and tagging live in siyu.segments.tags.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Select, String, func, literal, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from siyu.access.rules import Actor, Permission
from siyu.audit.service import record_change, record_creation, record_update
from siyu.core.clock import utc_now
from siyu.core.masking import mask_phone
from siyu.core.snapshot import row_snapshot
from siyu.members.models import Member
from siyu.members.service import member_scope
from siyu.org.models import Store
from siyu.outbox.service import record_event
from siyu.segments import events, rules
from siyu.segments.checks import checked_rule
from siyu.segments.errors import DuplicateSegmentName, SegmentNotFound
from siyu.segments.locks import lock_segment, lock_tag, try_lock_segment, try_lock_tag
from siyu.segments.membership import (
    Difference,
    count_matching,
    matching_statement,
    refresh_segment_members,
)
from siyu.segments.models import MemberTag, Segment, SegmentMember, Tag
from siyu.segments.rules import Schedule, TagKind, TagSource
from siyu.segments.schemas import (
    MemberSegmentOut,
    MemberTagsOut,
    PreviewOut,
    SegmentCreate,
    SegmentMemberOut,
    SegmentUpdate,
    TaggingOut,
)
from siyu.segments.scope import owner_scope_of, visible_to
from siyu.segments.tags import member_tags as _member_tags
from siyu.segments.tags import recompute_rule_tag_on_schedule, taggable_tag

PREVIEW_SAMPLE = 20
EXPORT_BATCH = 2000


# ---------------------------------------------------------------- the member 360


def member_tags(session: Session, brand_id: int, member_id: int) -> MemberTagsOut:
    """The member's brand tags (per-guide tags are private: see
    ``siyu.segments.tags.member_tags`` with a ``viewer`` to include the ones they may see)."""
    return _member_tags(session, brand_id, member_id)


def member_segments(session: Session, brand_id: int, member_id: int) -> list[MemberSegmentOut]:
    """The saved segments the member belonged to at their last refresh, by name."""
    rows = session.execute(
        select(Segment.id, Segment.name, Segment.last_refreshed_at)
        .join(
            SegmentMember,
            (SegmentMember.brand_id == Segment.brand_id) & (SegmentMember.segment_id == Segment.id),
        )
        .where(SegmentMember.brand_id == brand_id, SegmentMember.member_id == member_id)
        .order_by(Segment.name)
    ).all()
    return [
        MemberSegmentOut(segment_id=sid, name=name, last_refreshed_at=refreshed)
        for sid, name, refreshed in rows
    ]


# ---------------------------------------------------------------- reading segments


def list_segments(
    session: Session, actor: Actor, *, limit: int = 100, offset: int = 0
) -> tuple[Sequence[Segment], int]:
    actor.require(Permission.MEMBER_READ)
    condition = (Segment.brand_id == actor.brand_id) & visible_to(actor, Segment)
    total = session.scalar(select(func.count()).select_from(Segment).where(condition)) or 0
    rows = session.scalars(
        select(Segment).where(condition).order_by(Segment.name).limit(limit).offset(offset)
    ).all()
    return rows, total


def get_segment(session: Session, actor: Actor, segment_id: int) -> Segment:
    actor.require(Permission.MEMBER_READ)
    row = session.scalar(
        select(Segment).where(
            Segment.brand_id == actor.brand_id,
            Segment.id == segment_id,
            visible_to(actor, Segment),
        )
    )
    if row is None:
        raise SegmentNotFound(f"Segment {segment_id} was not found.")
    return row


def _locked(session: Session, actor: Actor, segment_id: int) -> Segment:
    """The visible segment, locked for change (needs segment:write)."""
    actor.require(Permission.SEGMENT_WRITE)
    get_segment(session, actor, segment_id)
    row = lock_segment(session, actor.brand_id, segment_id)
    if row is None:  # pragma: no cover - deleted between the two statements
        raise SegmentNotFound(f"Segment {segment_id} was not found.")
    return row


def _members_page(
    ids: Select[int], brand_id: int
) -> Select[int, str | None, str | None, str | None, str, int | None, str]:
    """Columns of the member lines of previews, lists and exports, for the member ids ``ids``."""
    return (
        select(
            Member.id,
            Member.display_name,
            Member.phone,
            Member.tier_code,
            Member.lifecycle_stage,
            Member.home_store_id,
            Store.name,
        )
        .outerjoin(Store, (Store.brand_id == Member.brand_id) & (Store.id == Member.home_store_id))
        .where(Member.brand_id == brand_id, Member.id.in_(ids))
        .order_by(Member.id)
    )


def _member_out(row: Sequence[Any], *, show_phone: bool) -> SegmentMemberOut:
    member_id, name, phone, tier, stage, store_id, store_name = row
    shown = phone if show_phone else mask_phone(phone)
    return SegmentMemberOut(
        member_id=member_id,
        display_name=name,
        phone=shown,
        tier_code=tier,
        lifecycle_stage=stage,
        home_store_id=store_id,
        home_store_name=store_name,
    )


def _materialised(segment: Segment, actor: Actor) -> Select[int]:
    """The segment's members as of its last refresh that the actor may see."""
    return (
        select(SegmentMember.member_id)
        .join(
            Member,
            (Member.brand_id == SegmentMember.brand_id) & (Member.id == SegmentMember.member_id),
        )
        .where(
            SegmentMember.brand_id == segment.brand_id,
            SegmentMember.segment_id == segment.id,
            member_scope(actor),
        )
    )


def list_segment_members(
    session: Session, actor: Actor, segment_id: int, *, limit: int = 50, offset: int = 0
) -> tuple[list[SegmentMemberOut], int]:
    """The members of the segment as of its last refresh (phones masked)."""
    segment = get_segment(session, actor, segment_id)
    ids = _materialised(segment, actor)
    total = session.scalar(select(func.count()).select_from(ids.subquery())) or 0
    rows = session.execute(_members_page(ids, segment.brand_id).limit(limit).offset(offset)).all()
    return [_member_out(tuple(r), show_phone=False) for r in rows], total


@dataclass(frozen=True)
class ExportLine:
    member_id: int
    name: str
    phone: str
    tier_code: str
    lifecycle_stage: str
    store: str


EXPORT_HEADER = ("member_id", "name", "phone", "tier", "lifecycle_stage", "store")


def export_segment_members(session: Session, actor: Actor, segment_id: int) -> Iterator[ExportLine]:
    """The segment's members (last refresh, within the actor's scope) for a CSV export, read
    in batches with a server-side cursor; phones masked unless the actor has member:pii."""
    segment = get_segment(session, actor, segment_id)
    show_phone = actor.can(Permission.MEMBER_PII)
    statement = _members_page(_materialised(segment, actor), segment.brand_id)
    result = session.execute(statement.execution_options(yield_per=EXPORT_BATCH))
    for row in result:
        line = _member_out(tuple(row), show_phone=show_phone)
        yield ExportLine(
            member_id=line.member_id,
            name=line.display_name or "",
            phone=line.phone or "",
            tier_code=line.tier_code or "",
            lifecycle_stage=line.lifecycle_stage,
            store=line.home_store_name or "",
        )


# ---------------------------------------------------------------- preview


def preview_segment(
    session: Session, actor: Actor, raw_rule: object, *, now: datetime | None = None
) -> PreviewOut:
    """How many of the actor's members the rule selects now, and the first 20 (phones
    masked). Writes nothing. Raises SegmentRuleInvalid."""
    actor.require(Permission.SEGMENT_WRITE)
    parsed = checked_rule(session, actor, raw_rule)
    statement = matching_statement(
        session, parsed.node, brand_id=actor.brand_id, owner=actor, now=now or utc_now()
    )
    count = count_matching(session, statement)
    matching = statement.subquery("matching")
    first = select(matching.c.id).order_by(matching.c.id).limit(PREVIEW_SAMPLE)
    sample = session.execute(_members_page(first, actor.brand_id)).all()
    return PreviewOut(
        count=count,
        sample=[_member_out(tuple(r), show_phone=False) for r in sample],
        rule=parsed.to_json(),
        rule_description=rules.describe(parsed.node),
    )


# ---------------------------------------------------------------- changing segments


def _check_name_free(session: Session, brand_id: int, name: str, except_id: int | None) -> None:
    condition = (Segment.brand_id == brand_id) & (func.lower(Segment.name) == name.lower())
    if except_id is not None:
        condition = condition & (Segment.id != except_id)
    if session.scalar(select(Segment.id).where(condition)) is not None:
        raise DuplicateSegmentName(f"A segment named '{name}' already exists.", field="name")


def _refresh(session: Session, segment: Segment, now: datetime) -> Difference:
    difference = refresh_segment_members(session, segment, now)
    record_event(
        session,
        segment.brand_id,
        events.SegmentRefreshed(
            segment_id=segment.id,
            added=difference.added,
            removed=difference.removed,
            member_count=difference.member_count,
        ),
    )
    return difference


def create_segment(
    session: Session, actor: Actor, data: SegmentCreate, *, now: datetime | None = None
) -> Segment:
    """Save a segment in the actor's scope and materialise it at once. Raises
    SegmentRuleInvalid, DuplicateSegmentName."""
    actor.require(Permission.SEGMENT_WRITE)
    parsed = checked_rule(session, actor, data.rule)
    _check_name_free(session, actor.brand_id, data.name, None)
    row = Segment(
        brand_id=actor.brand_id,
        name=data.name,
        description=data.description,
        rule=parsed.to_json(),
        schedule=data.schedule.value,
        **owner_scope_of(actor),
    )
    session.add(row)
    session.flush()
    record_creation(session, actor, object_type="segment", row=row)
    record_event(
        session,
        actor.brand_id,
        events.SegmentCreated(segment_id=row.id, name=row.name, schedule=row.schedule),
    )
    lock_segment(session, actor.brand_id, row.id)
    _refresh(session, row, now or utc_now())
    return row


def update_segment(
    session: Session,
    actor: Actor,
    segment_id: int,
    data: SegmentUpdate,
    *,
    now: datetime | None = None,
) -> Segment:
    """Rename, describe, reschedule or change the rule (re-materialised at once). Locks the
    segment. Raises SegmentNotFound, SegmentRuleInvalid, DuplicateSegmentName."""
    row = _locked(session, actor, segment_id)
    before = row_snapshot(row)
    if data.name is not None:
        _check_name_free(session, actor.brand_id, data.name, row.id)
        row.name = data.name
    if data.description is not None:
        row.description = data.description
    if data.schedule is not None:
        row.schedule = data.schedule.value
    rule_changed = False
    if data.rule is not None:
        rule = checked_rule(session, actor, data.rule).to_json()
        rule_changed = rule != row.rule
        row.rule = rule
    session.flush()
    changes = record_update(session, actor, object_type="segment", row=row, before=before)
    if changes:
        record_event(
            session, actor.brand_id, events.SegmentChanged(segment_id=row.id, changes=changes)
        )
    if rule_changed:
        _refresh(session, row, now or utc_now())
    return row


def delete_segment(session: Session, actor: Actor, segment_id: int) -> None:
    """Delete the segment and its materialised membership (members keep tags it gave)."""
    row = _locked(session, actor, segment_id)
    before = row_snapshot(row)
    session.query(SegmentMember).filter(
        SegmentMember.brand_id == actor.brand_id, SegmentMember.segment_id == row.id
    ).delete(synchronize_session=False)
    session.delete(row)
    session.flush()
    record_change(
        session,
        actor,
        action="segment.delete",
        object_type="segment",
        object_id=segment_id,
        before=before,
        after=None,
    )
    record_event(
        session, actor.brand_id, events.SegmentDeleted(segment_id=segment_id, name=before["name"])
    )


def refresh_segment(
    session: Session, actor: Actor, segment_id: int, *, now: datetime | None = None
) -> tuple[Segment, Difference]:
    """Recompute the segment's members now (set-based; see siyu.segments.membership). Locks
    the segment; records SegmentRefreshed with the counts added and removed."""
    row = _locked(session, actor, segment_id)
    difference = _refresh(session, row, now or utc_now())
    record_change(
        session,
        actor,
        action="segment.refresh",
        object_type="segment",
        object_id=row.id,
        before=None,
        after={
            "added": difference.added,
            "removed": difference.removed,
            "member_count": difference.member_count,
        },
    )
    return row, difference


def tag_segment_members(
    session: Session, actor: Actor, segment_id: int, tag_id: int, *, now: datetime | None = None
) -> TaggingOut:
    """Bulk tagging: refresh the segment, then put the manual tag on every member of it in one
    statement (members who have it already keep theirs). Needs segment:write and member:write.
    Locks the segment, then the tag. Raises SegmentNotFound, TagNotFound, RuleTagNotTaggable."""
    actor.require(Permission.MEMBER_WRITE)
    moment = now or utc_now()
    segment = _locked(session, actor, segment_id)
    tag = taggable_tag(session, actor, tag_id)
    lock_tag(session, actor.brand_id, tag.id)
    difference = _refresh(session, segment, moment)
    members = select(
        SegmentMember.brand_id,
        SegmentMember.member_id,
        literal(tag.id, BigInteger),
        literal(TagSource.SEGMENT.value, String),
        literal(actor.staff_id, BigInteger),
        literal(moment, DateTime(timezone=True)),
    ).where(SegmentMember.brand_id == actor.brand_id, SegmentMember.segment_id == segment.id)
    result = session.execute(
        insert(MemberTag)
        .from_select(
            ["brand_id", "member_id", "tag_id", "source", "tagged_by_staff_id", "tagged_at"],
            members,
        )
        .on_conflict_do_nothing(index_elements=["brand_id", "member_id", "tag_id"]),
        execution_options={"preserve_rowcount": True},
    )
    tagged = int(getattr(result, "rowcount", 0) or 0)
    record_change(
        session,
        actor,
        action="tag.bulk_apply",
        object_type="tag",
        object_id=tag.id,
        before=None,
        after={"segment_id": segment.id, "tagged": tagged},
    )
    record_event(
        session,
        actor.brand_id,
        events.MembersTaggedFromSegment(tag_id=tag.id, segment_id=segment.id, tagged=tagged),
    )
    return TaggingOut(
        tag_id=tag.id, segment_id=segment.id, tagged=tagged, member_count=difference.member_count
    )


# ---------------------------------------------------------------- schedules


def due_segments(session: Session, now: datetime) -> list[tuple[int, int]]:
    """(brand_id, segment_id) of every scheduled segment whose refresh is due, any brand."""
    rows = session.execute(
        select(Segment.brand_id, Segment.id, Segment.schedule, Segment.last_refreshed_at).where(
            Segment.schedule != Schedule.MANUAL.value
        )
    ).all()
    return [
        (brand_id, segment_id)
        for brand_id, segment_id, schedule, refreshed in rows
        if rules.is_due(Schedule(schedule), refreshed, now)
    ]


def due_rule_tags(session: Session, now: datetime) -> list[tuple[int, int]]:
    """(brand_id, tag_id) of every rule tag whose recompute is due, any brand."""
    rows = session.execute(
        select(Tag.brand_id, Tag.id, Tag.schedule, Tag.last_refreshed_at).where(
            Tag.kind == TagKind.RULE.value, Tag.schedule != Schedule.MANUAL.value
        )
    ).all()
    return [
        (brand_id, tag_id)
        for brand_id, tag_id, schedule, refreshed in rows
        if rules.is_due(Schedule(schedule), refreshed, now)
    ]


def refresh_due_segment(
    session: Session, brand_id: int, segment_id: int, now: datetime
) -> Difference | None:
    """The job's refresh: None when another transaction holds the segment or it is no longer
    due (refreshed meanwhile)."""
    row = try_lock_segment(session, brand_id, segment_id)
    if row is None or not rules.is_due(Schedule(row.schedule), row.last_refreshed_at, now):
        return None
    return _refresh(session, row, now)


def recompute_due_rule_tag(
    session: Session, brand_id: int, tag_id: int, now: datetime
) -> Difference | None:
    row = try_lock_tag(session, brand_id, tag_id)
    if row is None or row.rule is None:
        return None
    if not rules.is_due(Schedule(row.schedule), row.last_refreshed_at, now):
        return None
    return recompute_rule_tag_on_schedule(session, row, now=now)
