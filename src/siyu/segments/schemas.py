"""Input and output shapes of tags and segments (API, console and the member 360 share them).

Rules arrive as plain JSON objects and are validated by ``siyu.segments.rules.parse_rule`` in
the service, so a bad rule is answered with ``segment_rule_invalid`` and its JSON path rather
than a generic validation error.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from siyu.segments.rules import Schedule, TagKind, TagSource

TagCode = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=48, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
    ),
]
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
RuleJson = Annotated[
    dict[str, Any],
    Field(
        description='A segment rule: {"all": [...]}, {"any": [...]}, {"not": {...}} or a '
        'condition such as {"tier": {"in": ["gold"]}} (see siyu.segments.rules)',
        examples=[
            {
                "all": [
                    {"tier": {"in": ["gold"]}},
                    {"tag": {"has": "vip"}},
                    {"events": {"kind": "visit", "within_days": 30, "at_least": 2}},
                ]
            }
        ],
    ),
]


# ---------------------------------------------------------------- tags


class TagCreate(BaseModel):
    """A manual tag, or a rule tag (``rule`` required; recomputed on ``schedule``)."""

    code: TagCode
    name: Label
    group: Label | None = None
    kind: TagKind = TagKind.MANUAL
    rule: RuleJson | None = None
    schedule: Schedule = Field(
        default=Schedule.DAILY, description="rule tags only; manual tags are always 'manual'"
    )


class TagUpdate(BaseModel):
    name: Label | None = None
    group: Label | None = None
    rule: RuleJson | None = None
    schedule: Schedule | None = None


class TagOut(BaseModel):
    id: int
    code: str
    name: str
    group: str | None
    kind: TagKind
    rule: dict[str, Any] | None
    rule_description: str | None
    schedule: Schedule
    last_refreshed_at: datetime | None
    scope: str
    created_at: datetime
    updated_at: datetime


class TagRef(BaseModel):
    tag_id: int = Field(ge=1)


class GuideTagRef(BaseModel):
    tag_id: int = Field(ge=1)
    guide_staff_id: int | None = Field(
        default=None, ge=1, description="the guide whose tag this is; a guide omits it (self)"
    )


class MemberTagOut(BaseModel):
    tag_id: int
    code: str
    name: str
    group: str | None
    kind: TagKind
    source: TagSource
    tagged_by_staff_id: int | None
    tagged_at: datetime


class GuideTagOut(BaseModel):
    tag_id: int
    code: str
    name: str
    group: str | None
    guide_staff_id: int
    guide_name: str
    tagged_at: datetime


class MemberTagsOut(BaseModel):
    """A member's brand tags and the per-guide tags the viewer may see."""

    member_id: int
    tags: list[MemberTagOut]
    guide_tags: list[GuideTagOut]


class TaggingOut(BaseModel):
    tag_id: int
    segment_id: int
    tagged: int = Field(description="members who did not have the tag before")
    member_count: int


# ---------------------------------------------------------------- segments


class SegmentCreate(BaseModel):
    name: Label
    description: Description = ""
    rule: RuleJson
    schedule: Schedule = Schedule.DAILY


class SegmentUpdate(BaseModel):
    name: Label | None = None
    description: Description | None = None
    rule: RuleJson | None = None
    schedule: Schedule | None = None


class SegmentOut(BaseModel):
    id: int
    name: str
    description: str
    rule: dict[str, Any]
    rule_description: str
    schedule: Schedule
    last_refreshed_at: datetime | None
    member_count: int
    scope: str
    created_at: datetime
    updated_at: datetime


class PreviewRequest(BaseModel):
    rule: RuleJson


class SegmentMemberOut(BaseModel):
    """A member as lists show them: the phone masked unless stated otherwise."""

    model_config = ConfigDict(from_attributes=True)
    member_id: int
    display_name: str | None
    phone: str | None
    tier_code: str | None
    lifecycle_stage: str
    home_store_id: int | None
    home_store_name: str | None


class PreviewOut(BaseModel):
    count: int
    sample: list[SegmentMemberOut]
    rule: dict[str, Any] = Field(description="the rule as it would be saved (normalised)")
    rule_description: str


class RefreshOut(BaseModel):
    segment_id: int
    added: int
    removed: int
    member_count: int
    refreshed_at: datetime


class MemberSegmentOut(BaseModel):
    segment_id: int
    name: str
    last_refreshed_at: datetime | None
