"""Input and output shapes of members (staff API, storefront membership, the member 360).

Phones and other identifiers are always masked here: full numbers never leave the service
layer through these shapes.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints

from siyu.core.masking import mask_phone
from siyu.members.models import Member
from siyu.members.rules import STAGE_LABELS, LifecyclePolicy, LifecycleStage

PhoneCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
SceneKey = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]

GUIDES_ISSUE = "available with the guides issue"
MARKETING_ISSUE = "available with the marketing issue"


class MemberOut(BaseModel):
    """A member profile; ``phone`` masked. ``status`` merged members name their survivor."""

    id: int
    status: str
    merged_into_id: int | None
    display_name: str | None
    phone: str | None
    gender: str | None
    birthday: date | None
    joined_at: datetime | None
    join_channel: str | None
    source_touchpoint_id: int | None
    source_store_id: int | None
    source_guide_staff_id: int | None
    home_store_id: int | None
    lifecycle_stage: LifecycleStage
    lifecycle_changed_at: datetime | None
    order_count: int
    total_spent_fen: int
    first_order_at: datetime | None
    last_order_at: datetime | None
    last_visit_at: datetime | None
    tier_code: str | None
    growth_value: int
    points_balance: int
    created_at: datetime


def member_out(member: Member) -> MemberOut:
    return MemberOut(
        id=member.id,
        status=member.status,
        merged_into_id=member.merged_into_id,
        display_name=member.display_name,
        phone=mask_phone(member.phone),
        gender=member.gender,
        birthday=member.birthday,
        joined_at=member.joined_at,
        join_channel=member.join_channel,
        source_touchpoint_id=member.source_touchpoint_id,
        source_store_id=member.source_store_id,
        source_guide_staff_id=member.source_guide_staff_id,
        home_store_id=member.home_store_id,
        lifecycle_stage=LifecycleStage(member.lifecycle_stage),
        lifecycle_changed_at=member.lifecycle_changed_at,
        order_count=member.order_count,
        total_spent_fen=member.total_spent_fen,
        first_order_at=member.first_order_at,
        last_order_at=member.last_order_at,
        last_visit_at=member.last_visit_at,
        tier_code=member.tier_code,
        growth_value=member.growth_value,
        points_balance=member.points_balance,
        created_at=member.created_at,
    )


class MergeRequest(BaseModel):
    other_member_id: int = Field(description="The member folded into the one in the path")


class MergeOut(BaseModel):
    member: MemberOut
    merged_member_id: int


# ---------------------------------------------------------------- lifecycle policy


class LifecyclePolicyIn(BaseModel):
    repeat_min_orders: int = Field(default=2, ge=2, le=1000)
    loyal_min_orders: int = Field(default=5, ge=2, le=10000)
    loyal_min_spent_fen: int = Field(default=200_000, ge=0, le=10**12)
    dormant_after_days: int = Field(default=90, ge=1, le=3650)
    churned_after_days: int = Field(default=180, ge=2, le=7300)

    def policy(self) -> LifecyclePolicy:
        return LifecyclePolicy(**self.model_dump())


class LifecyclePolicyOut(LifecyclePolicyIn):
    customized: bool = Field(description="False while the brand uses the defaults")


# ---------------------------------------------------------------- storefront membership


class MembershipJoin(BaseModel):
    scene_key: SceneKey | None = Field(
        default=None, description="The code scanned, if the page was opened from one"
    )


class PhoneBinding(BaseModel):
    code: PhoneCode = Field(description="The code from the getPhoneNumber button")


class MembershipOut(BaseModel):
    """What the consumer sees of their own membership."""

    member_id: int
    joined: bool
    joined_now: bool = False
    joined_at: datetime | None
    join_channel: str | None
    source_touchpoint_id: int | None
    source_store_id: int | None
    lifecycle_stage: LifecycleStage
    phone: str | None
    tier_code: str | None
    points_balance: int


def membership_out(member: Member, *, joined_now: bool = False) -> MembershipOut:
    return MembershipOut(
        member_id=member.id,
        joined=member.joined_at is not None,
        joined_now=joined_now,
        joined_at=member.joined_at,
        join_channel=member.join_channel,
        source_touchpoint_id=member.source_touchpoint_id,
        source_store_id=member.source_store_id,
        lifecycle_stage=LifecycleStage(member.lifecycle_stage),
        phone=mask_phone(member.phone),
        tier_code=member.tier_code,
        points_balance=member.points_balance,
    )


# ---------------------------------------------------------------- the member 360


class IdentityOut(BaseModel):
    kind: str
    value: str = Field(description="Masked: 138****1234, oAb…xyz")
    source: str
    created_at: datetime


class LifecycleOut(BaseModel):
    stage: LifecycleStage
    label: str
    changed_at: datetime | None


def lifecycle_out(member: Member) -> LifecycleOut:
    stage = LifecycleStage(member.lifecycle_stage)
    return LifecycleOut(
        stage=stage, label=STAGE_LABELS[stage], changed_at=member.lifecycle_changed_at
    )


class DomainSection(BaseModel):
    """A section another domain provides; ``available`` false (and ``data`` empty) while that
    domain is not installed."""

    available: bool
    data: Any = None


class PendingSection(BaseModel):
    """A section a later issue fills in: always empty until then, never made up."""

    items: list[Any] = Field(default_factory=list)
    pending_feature: str


class OnlineOrderOut(BaseModel):
    id: int
    number: str
    placed_at: datetime
    store_id: int
    store_name: str | None
    channel: str
    touchpoint_id: int | None
    touchpoint_name: str | None
    guide_staff_id: int | None
    total_fen: int
    paid_fen: int
    refunded_fen: int
    status: str


class AcquisitionOut(BaseModel):
    """Where the member came from: the first step of the journey."""

    joined_at: datetime | None
    join_channel: str | None
    touchpoint_id: int | None
    touchpoint_name: str | None
    touchpoint_kind: str | None
    store_id: int | None
    store_name: str | None
    guide_staff_id: int | None
    guide_name: str | None


class JourneyOut(BaseModel):
    acquisition: AcquisitionOut | None
    steps: DomainSection


class Member360Out(BaseModel):
    member: MemberOut
    identities: list[IdentityOut]
    lifecycle: LifecycleOut
    loyalty: DomainSection
    tags: DomainSection
    segments: DomainSection
    consent: DomainSection
    online_orders: list[OnlineOrderOut]
    offline_orders: DomainSection
    journey: JourneyOut
    bound_guide: PendingSection
    groups: PendingSection
    coupons: PendingSection
