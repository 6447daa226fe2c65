"""Domain events of tags and segments."""

from __future__ import annotations

from typing import Any

from siyu.outbox.events import DomainEvent


class TagCreated(DomainEvent):
    aggregate_type = "tag"
    tag_id: int
    code: str
    kind: str


class TagChanged(DomainEvent):
    aggregate_type = "tag"
    tag_id: int
    changes: dict[str, Any]


class TagDeleted(DomainEvent):
    """The definition is gone, and with it every member's and guide's use of it."""

    aggregate_type = "tag"
    tag_id: int
    code: str
    untagged_members: int


class MemberTagged(DomainEvent):
    aggregate_type = "member"
    member_id: int
    tag_id: int
    source: str


class MemberUntagged(DomainEvent):
    aggregate_type = "member"
    member_id: int
    tag_id: int


class MemberGuideTagged(DomainEvent):
    """A guide's own tag was put on a member (kept on that guide's relationship only)."""

    aggregate_type = "member"
    member_id: int
    tag_id: int
    guide_staff_id: int


class MemberGuideUntagged(DomainEvent):
    aggregate_type = "member"
    member_id: int
    tag_id: int
    guide_staff_id: int


class MembersTaggedFromSegment(DomainEvent):
    """Bulk tagging: every member of the segment got the tag (``tagged`` had not had it)."""

    aggregate_type = "tag"
    tag_id: int
    segment_id: int
    tagged: int


class RuleTagRecomputed(DomainEvent):
    aggregate_type = "tag"
    tag_id: int
    added: int
    removed: int
    member_count: int


class SegmentCreated(DomainEvent):
    aggregate_type = "segment"
    segment_id: int
    name: str
    schedule: str


class SegmentChanged(DomainEvent):
    aggregate_type = "segment"
    segment_id: int
    changes: dict[str, Any]


class SegmentDeleted(DomainEvent):
    aggregate_type = "segment"
    segment_id: int
    name: str


class SegmentRefreshed(DomainEvent):
    """The segment's membership was recomputed: ``added`` joined, ``removed`` left."""

    aggregate_type = "segment"
    segment_id: int
    added: int
    removed: int
    member_count: int
