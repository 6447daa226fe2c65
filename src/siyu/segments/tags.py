"""Tags (标签): definitions, tagging members, per-guide tags, and rule tags recomputed.

Every staff function takes the acting ``Actor`` and the caller's session; none commits. Tag
definitions are brand-wide: anyone who may read members may read them; creating and changing
them needs ``segment:write`` and, for a definition made in a narrower scope, that scope inside
the actor's. Tagging a member needs ``member:write`` and the member in the actor's scope
(siyu.members.service.member_in_scope); a guide only keeps per-guide tags, on their own
customers. Rule tags cannot be put on or taken off by hand: their rule decides. Every change
writes an audit entry and a domain event in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from siyu.access.rules import Actor, Permission, Role, ScopeKind
from siyu.audit.service import record_change, record_creation, record_update
from siyu.core.clock import utc_now
from siyu.core.snapshot import row_snapshot
from siyu.members.errors import MemberNotFound
from siyu.members.models import Member
from siyu.members.service import member_in_scope
from siyu.org.models import Store
from siyu.org.service import store_scope
from siyu.outbox.service import record_event
from siyu.segments import events
from siyu.segments.checks import checked_rule, tag_codes_in
from siyu.segments.errors import (
    DuplicateTagCode,
    GuideRequired,
    GuideTagsOnly,
    RuleRequired,
    RuleTagNotTaggable,
    TagInUse,
    TagNotFound,
)
from siyu.segments.locks import lock_tag
from siyu.segments.membership import Difference, recompute_rule_tag_members
from siyu.segments.models import MemberGuideTag, MemberTag, Segment, Tag
from siyu.segments.rules import Schedule, TagKind, TagSource
from siyu.segments.schemas import (
    GuideTagOut,
    MemberTagOut,
    MemberTagsOut,
    TagCreate,
    TagUpdate,
)
from siyu.segments.scope import owner_scope_of, visible_to
from siyu.staff.errors import StaffNotFound
from siyu.staff.models import Staff

# ---------------------------------------------------------------- definitions


def list_tags(
    session: Session, actor: Actor, *, group: str | None = None, kind: TagKind | None = None
) -> Sequence[Tag]:
    """The brand's tag definitions by group and code."""
    actor.require(Permission.MEMBER_READ)
    condition = Tag.brand_id == actor.brand_id
    if group is not None:
        condition = condition & (Tag.group_name == group)
    if kind is not None:
        condition = condition & (Tag.kind == kind.value)
    return session.scalars(
        select(Tag).where(condition).order_by(Tag.group_name.nulls_last(), Tag.code)
    ).all()


def _tag(session: Session, brand_id: int, tag_id: int, field: str | None = None) -> Tag:
    row = session.scalar(select(Tag).where(Tag.brand_id == brand_id, Tag.id == tag_id))
    if row is None:
        raise TagNotFound(f"Tag {tag_id} was not found.", field=field)
    return row


def get_tag(session: Session, actor: Actor, tag_id: int) -> Tag:
    actor.require(Permission.MEMBER_READ)
    return _tag(session, actor.brand_id, tag_id)


def _editable_tag(session: Session, actor: Actor, tag_id: int) -> Tag:
    """The tag locked for change; one made in a scope outside the actor's is not found."""
    actor.require(Permission.SEGMENT_WRITE)
    visible = session.scalar(
        select(Tag.id).where(
            Tag.brand_id == actor.brand_id, Tag.id == tag_id, visible_to(actor, Tag)
        )
    )
    row = lock_tag(session, actor.brand_id, tag_id) if visible is not None else None
    if row is None:
        raise TagNotFound(f"Tag {tag_id} was not found.")
    return row


def create_tag(
    session: Session, actor: Actor, data: TagCreate, *, now: datetime | None = None
) -> Tag:
    """Define a tag. A rule tag's rule is checked (SegmentRuleInvalid) and its members are
    computed at once, within the actor's scope. Raises DuplicateTagCode, RuleRequired."""
    actor.require(Permission.SEGMENT_WRITE)
    if (data.kind is TagKind.RULE) != (data.rule is not None):
        raise RuleRequired(
            "A rule tag needs a rule; a manual tag has none.",
            field="rule" if data.kind is TagKind.RULE else "kind",
        )
    taken = session.scalar(
        select(Tag.id).where(Tag.brand_id == actor.brand_id, Tag.code == data.code)
    )
    if taken is not None:
        raise DuplicateTagCode(f"A tag with code '{data.code}' already exists.", field="code")
    rule = None
    if data.rule is not None:
        rule = checked_rule(session, actor, data.rule, own_tag_code=data.code).to_json()
    row = Tag(
        brand_id=actor.brand_id,
        code=data.code,
        name=data.name,
        group_name=data.group,
        kind=data.kind.value,
        rule=rule,
        schedule=data.schedule.value if data.kind is TagKind.RULE else Schedule.MANUAL.value,
        **owner_scope_of(actor),
    )
    session.add(row)
    session.flush()
    record_creation(session, actor, object_type="tag", row=row)
    record_event(
        session, actor.brand_id, events.TagCreated(tag_id=row.id, code=row.code, kind=row.kind)
    )
    if row.kind == TagKind.RULE.value:
        _recompute(session, row, now or utc_now())
    return row


def update_tag(
    session: Session, actor: Actor, tag_id: int, data: TagUpdate, *, now: datetime | None = None
) -> Tag:
    """Rename, regroup, or change a rule tag's rule or schedule (a changed rule recomputes its
    members at once). Locks the tag. Raises TagNotFound, RuleRequired, SegmentRuleInvalid."""
    row = _editable_tag(session, actor, tag_id)
    is_rule = row.kind == TagKind.RULE.value
    if not is_rule and (data.rule is not None or data.schedule is not None):
        raise RuleRequired("A manual tag has no rule or schedule.", field="rule")
    before = row_snapshot(row)
    if data.name is not None:
        row.name = data.name
    if "group" in data.model_fields_set:
        row.group_name = data.group
    if data.schedule is not None:
        row.schedule = data.schedule.value
    rule_changed = False
    if data.rule is not None:
        rule = checked_rule(session, actor, data.rule, own_tag_code=row.code).to_json()
        rule_changed = rule != row.rule
        row.rule = rule
    session.flush()
    changes = record_update(session, actor, object_type="tag", row=row, before=before)
    if changes:
        record_event(session, actor.brand_id, events.TagChanged(tag_id=row.id, changes=changes))
    if rule_changed:
        _recompute(session, row, now or utc_now())
    return row


def delete_tag(session: Session, actor: Actor, tag_id: int) -> None:
    """Delete a tag and every use of it (members' and guides'). Refused with TagInUse while a
    segment or another rule tag names it. Locks the tag."""
    row = _editable_tag(session, actor, tag_id)
    users = [
        f"segment '{name}'"
        for name, rule in session.execute(
            select(Segment.name, Segment.rule).where(Segment.brand_id == actor.brand_id)
        )
        if row.code in tag_codes_in(rule)
    ] + [
        f"rule tag '{code}'"
        for code, rule in session.execute(
            select(Tag.code, Tag.rule).where(
                Tag.brand_id == actor.brand_id, Tag.rule.is_not(None), Tag.id != row.id
            )
        )
        if row.code in tag_codes_in(rule)
    ]
    if users:
        raise TagInUse(
            f"The tag is used by {', '.join(sorted(users))}; change those rules first.",
            extra={"used_by": sorted(users)},
        )
    before = row_snapshot(row)
    untagged = session.execute(
        delete(MemberTag).where(MemberTag.brand_id == actor.brand_id, MemberTag.tag_id == row.id)
    )
    session.execute(
        delete(MemberGuideTag).where(
            MemberGuideTag.brand_id == actor.brand_id, MemberGuideTag.tag_id == row.id
        )
    )
    session.delete(row)
    session.flush()
    record_change(
        session,
        actor,
        action="tag.delete",
        object_type="tag",
        object_id=tag_id,
        before=before,
        after=None,
    )
    record_event(
        session,
        actor.brand_id,
        events.TagDeleted(
            tag_id=tag_id,
            code=before["code"],
            untagged_members=int(getattr(untagged, "rowcount", 0) or 0),
        ),
    )


# ---------------------------------------------------------------- rule tags


def _recompute(session: Session, tag: Tag, now: datetime) -> Difference:
    difference = recompute_rule_tag_members(session, tag, now)
    record_event(
        session,
        tag.brand_id,
        events.RuleTagRecomputed(
            tag_id=tag.id,
            added=difference.added,
            removed=difference.removed,
            member_count=difference.member_count,
        ),
    )
    return difference


def recompute_rule_tag(
    session: Session, actor: Actor, tag_id: int, *, now: datetime | None = None
) -> Difference:
    """Recompute a rule tag's members now (within the scope it was made in). Locks the tag.
    Raises TagNotFound, RuleTagNotTaggable (a manual tag has no rule)."""
    row = _editable_tag(session, actor, tag_id)
    if row.kind != TagKind.RULE.value:
        raise RuleTagNotTaggable("Only rule tags are recomputed.", field="tag_id")
    difference = _recompute(session, row, now or utc_now())
    record_change(
        session,
        actor,
        action="tag.recompute",
        object_type="tag",
        object_id=row.id,
        before=None,
        after={"added": difference.added, "removed": difference.removed},
    )
    return difference


def recompute_rule_tag_on_schedule(
    session: Session, tag: Tag, *, now: datetime | None = None
) -> Difference:
    """The scheduled job's recompute; the caller holds the tag's lock."""
    return _recompute(session, tag, now or utc_now())


# ---------------------------------------------------------------- tagging members


def visible_member(session: Session, actor: Actor, member_id: int) -> Member:
    """The active member if in the actor's scope; otherwise MemberNotFound."""
    row = member_in_scope(session, actor, member_id)
    if row.status != "active":
        raise MemberNotFound(f"Member {member_id} was not found.")
    return row


def taggable_tag(session: Session, actor: Actor, tag_id: int) -> Tag:
    """A manual tag of the brand (TagNotFound, RuleTagNotTaggable otherwise)."""
    row = _tag(session, actor.brand_id, tag_id, field="tag_id")
    if row.kind != TagKind.MANUAL.value:
        raise RuleTagNotTaggable(
            f"Tag '{row.code}' is a rule tag: its rule decides who holds it.", field="tag_id"
        )
    return row


def tag_member(
    session: Session, actor: Actor, member_id: int, tag_id: int, *, now: datetime | None = None
) -> MemberTag:
    """Put a manual brand tag on a member (again: nothing changes). Guides keep per-guide tags
    instead (GuideTagsOnly). Raises MemberNotFound, TagNotFound, RuleTagNotTaggable."""
    actor.require(Permission.MEMBER_WRITE)
    if actor.scope is ScopeKind.SELF:
        raise GuideTagsOnly("A guide keeps their own tags: add a guide tag instead.")
    member = visible_member(session, actor, member_id)
    tag = taggable_tag(session, actor, tag_id)
    inserted = session.execute(
        insert(MemberTag)
        .values(
            brand_id=actor.brand_id,
            member_id=member.id,
            tag_id=tag.id,
            source=TagSource.MANUAL.value,
            tagged_by_staff_id=actor.staff_id,
            tagged_at=now or utc_now(),
        )
        .on_conflict_do_nothing(index_elements=["brand_id", "member_id", "tag_id"])
        .returning(MemberTag.id)
    ).scalar()
    if inserted is not None:
        record_change(
            session,
            actor,
            action="member_tag.create",
            object_type="member",
            object_id=member.id,
            before=None,
            after={"tag_id": tag.id, "tag_code": tag.code, "source": TagSource.MANUAL.value},
        )
        record_event(
            session,
            actor.brand_id,
            events.MemberTagged(member_id=member.id, tag_id=tag.id, source=TagSource.MANUAL.value),
        )
    row = session.scalar(
        select(MemberTag).where(
            MemberTag.brand_id == actor.brand_id,
            MemberTag.member_id == member.id,
            MemberTag.tag_id == tag.id,
        )
    )
    assert row is not None
    return row


def untag_member(session: Session, actor: Actor, member_id: int, tag_id: int) -> None:
    """Take a manual brand tag off a member (not held: nothing changes)."""
    actor.require(Permission.MEMBER_WRITE)
    if actor.scope is ScopeKind.SELF:
        raise GuideTagsOnly("A guide keeps their own tags: remove a guide tag instead.")
    member = visible_member(session, actor, member_id)
    tag = taggable_tag(session, actor, tag_id)
    removed = session.execute(
        delete(MemberTag)
        .where(
            MemberTag.brand_id == actor.brand_id,
            MemberTag.member_id == member.id,
            MemberTag.tag_id == tag.id,
        )
        .returning(MemberTag.source)
    ).scalar()
    if removed is not None:
        record_change(
            session,
            actor,
            action="member_tag.delete",
            object_type="member",
            object_id=member.id,
            before={"tag_id": tag.id, "tag_code": tag.code, "source": removed},
            after=None,
        )
        record_event(
            session, actor.brand_id, events.MemberUntagged(member_id=member.id, tag_id=tag.id)
        )


def _guide_for(session: Session, actor: Actor, guide_staff_id: int | None) -> int:
    """Whose per-guide tag: a guide's own; for a manager, a guide at a store in their scope."""
    if actor.scope is ScopeKind.SELF:
        if guide_staff_id is not None and guide_staff_id != actor.staff_id:
            raise GuideTagsOnly("A guide keeps only their own tags.", field="guide_staff_id")
        assert actor.staff_id is not None
        return actor.staff_id
    if guide_staff_id is None:
        raise GuideRequired("Name the guide whose tag this is.", field="guide_staff_id")
    condition = (
        (Staff.brand_id == actor.brand_id)
        & (Staff.id == guide_staff_id)
        & (Staff.role == Role.GUIDE.value)
    )
    if actor.scope is not ScopeKind.BRAND:
        condition = condition & Staff.store_id.in_(select(Store.id).where(store_scope(actor)))
    if session.scalar(select(Staff.id).where(condition)) is None:
        raise StaffNotFound(f"Guide {guide_staff_id} was not found.", field="guide_staff_id")
    return guide_staff_id


def add_guide_tag(
    session: Session,
    actor: Actor,
    member_id: int,
    tag_id: int,
    guide_staff_id: int | None = None,
    *,
    now: datetime | None = None,
) -> MemberGuideTag:
    """Keep a tag on a member for one guide: a guide for themselves on their own customers, a
    manager for a guide in scope. Raises MemberNotFound, TagNotFound, RuleTagNotTaggable,
    GuideRequired, StaffNotFound, GuideTagsOnly."""
    actor.require(Permission.MEMBER_WRITE)
    member = visible_member(session, actor, member_id)
    guide_id = _guide_for(session, actor, guide_staff_id)
    tag = taggable_tag(session, actor, tag_id)
    inserted = session.execute(
        insert(MemberGuideTag)
        .values(
            brand_id=actor.brand_id,
            member_id=member.id,
            guide_staff_id=guide_id,
            tag_id=tag.id,
            tagged_by_staff_id=actor.staff_id,
            tagged_at=now or utc_now(),
        )
        .on_conflict_do_nothing()
        .returning(MemberGuideTag.tag_id)
    ).scalar()
    if inserted is not None:
        record_change(
            session,
            actor,
            action="member_guide_tag.create",
            object_type="member",
            object_id=member.id,
            before=None,
            after={"tag_id": tag.id, "tag_code": tag.code, "guide_staff_id": guide_id},
        )
        record_event(
            session,
            actor.brand_id,
            events.MemberGuideTagged(member_id=member.id, tag_id=tag.id, guide_staff_id=guide_id),
        )
    row = session.get(MemberGuideTag, (actor.brand_id, member.id, guide_id, tag.id))
    assert row is not None
    return row


def remove_guide_tag(
    session: Session,
    actor: Actor,
    member_id: int,
    tag_id: int,
    guide_staff_id: int | None = None,
) -> None:
    """Take a guide's tag off a member (not held: nothing changes)."""
    actor.require(Permission.MEMBER_WRITE)
    member = visible_member(session, actor, member_id)
    guide_id = _guide_for(session, actor, guide_staff_id)
    tag = _tag(session, actor.brand_id, tag_id, field="tag_id")
    removed = session.execute(
        delete(MemberGuideTag)
        .where(
            MemberGuideTag.brand_id == actor.brand_id,
            MemberGuideTag.member_id == member.id,
            MemberGuideTag.guide_staff_id == guide_id,
            MemberGuideTag.tag_id == tag.id,
        )
        .returning(MemberGuideTag.tag_id)
    ).scalar()
    if removed is not None:
        record_change(
            session,
            actor,
            action="member_guide_tag.delete",
            object_type="member",
            object_id=member.id,
            before={"tag_id": tag.id, "tag_code": tag.code, "guide_staff_id": guide_id},
            after=None,
        )
        record_event(
            session,
            actor.brand_id,
            events.MemberGuideUntagged(member_id=member.id, tag_id=tag.id, guide_staff_id=guide_id),
        )


# ---------------------------------------------------------------- reading a member's tags


def member_tags(
    session: Session, brand_id: int, member_id: int, *, viewer: Actor | None = None
) -> MemberTagsOut:
    """A member's brand tags, and the per-guide tags ``viewer`` may see: a guide their own,
    anyone else who can see the member (the caller checks that) every guide's. Without a
    viewer no per-guide tag is returned: they are private to their guide and managers."""
    rows = session.execute(
        select(MemberTag, Tag)
        .join(Tag, (Tag.brand_id == MemberTag.brand_id) & (Tag.id == MemberTag.tag_id))
        .where(MemberTag.brand_id == brand_id, MemberTag.member_id == member_id)
        .order_by(Tag.group_name.nulls_last(), Tag.code)
    ).all()
    tags = [
        MemberTagOut(
            tag_id=tag.id,
            code=tag.code,
            name=tag.name,
            group=tag.group_name,
            kind=TagKind(tag.kind),
            source=TagSource(held.source),
            tagged_by_staff_id=held.tagged_by_staff_id,
            tagged_at=held.tagged_at,
        )
        for held, tag in rows
    ]
    guide_tags: list[GuideTagOut] = []
    if viewer is not None:
        condition = (MemberGuideTag.brand_id == brand_id) & (MemberGuideTag.member_id == member_id)
        if viewer.scope is ScopeKind.SELF:
            condition = condition & (MemberGuideTag.guide_staff_id == viewer.staff_id)
        guide_rows = session.execute(
            select(MemberGuideTag, Tag, Staff.name)
            .join(
                Tag, (Tag.brand_id == MemberGuideTag.brand_id) & (Tag.id == MemberGuideTag.tag_id)
            )
            .join(
                Staff,
                (Staff.brand_id == MemberGuideTag.brand_id)
                & (Staff.id == MemberGuideTag.guide_staff_id),
            )
            .where(condition)
            .order_by(MemberGuideTag.guide_staff_id, Tag.code)
        ).all()
        guide_tags = [
            GuideTagOut(
                tag_id=tag.id,
                code=tag.code,
                name=tag.name,
                group=tag.group_name,
                guide_staff_id=held.guide_staff_id,
                guide_name=guide_name,
                tagged_at=held.tagged_at,
            )
            for held, tag, guide_name in guide_rows
        ]
    return MemberTagsOut(member_id=member_id, tags=tags, guide_tags=guide_tags)


def list_member_tags(session: Session, actor: Actor, member_id: int) -> MemberTagsOut:
    """``member_tags`` for a member in the actor's scope (MemberNotFound otherwise)."""
    actor.require(Permission.MEMBER_READ)
    member = visible_member(session, actor, member_id)
    return member_tags(session, actor.brand_id, member.id, viewer=actor)
