"""Domain events of members. Other domains react to these (attribution, loyalty, segments)."""

from __future__ import annotations

from siyu.outbox.events import DomainEvent


class MemberRegistered(DomainEvent):
    """A member profile was created (a prospect unless ``joined`` is true)."""

    aggregate_type = "member"
    member_id: int
    source: str
    joined: bool


class MemberJoined(DomainEvent):
    """A person became a member: scan-to-join, registration, or a POS import.

    ``source_touchpoint_id``/``source_store_id`` are the acquisition recorded at joining.
    """

    aggregate_type = "member"
    member_id: int
    join_channel: str
    source_touchpoint_id: int | None
    source_store_id: int | None
    source_guide_staff_id: int | None
    # A scene key the brand never issued: the member joined from an unknown source.
    unknown_scene_key: str | None = None


class MemberIdentityAdded(DomainEvent):
    aggregate_type = "member"
    member_id: int
    kind: str


class MembersMerged(DomainEvent):
    """``merged_member_id`` was folded into ``member_id`` (the survivor)."""

    aggregate_type = "member"
    member_id: int
    merged_member_id: int
    reason: str


class MemberLifecycleChanged(DomainEvent):
    aggregate_type = "member"
    member_id: int
    from_stage: str
    to_stage: str


class LifecyclePolicyChanged(DomainEvent):
    """A brand changed its lifecycle thresholds; stages follow at the next evaluation."""

    aggregate_type = "lifecycle_policy"
    lifecycle_policy_id: int
    changes: dict[str, int]
