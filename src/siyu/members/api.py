"""HTTP API of members: the list, profiles, the member 360, merges and the lifecycle policy
(staff); the consumer's own membership, joining and phone binding (storefront).

Phones and identifiers are masked in every answer.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from siyu.core.pagination import MAX_PAGE_SIZE, Page
from siyu.members import lifecycle, membership, profile, service
from siyu.members.rules import LifecycleStage
from siyu.members.schemas import (
    LifecyclePolicyIn,
    LifecyclePolicyOut,
    Member360Out,
    MemberOut,
    MembershipJoin,
    MembershipOut,
    MergeOut,
    MergeRequest,
    PhoneBinding,
    member_out,
    membership_out,
)
from siyu.payments.service import get_mini_program_auth
from siyu.web.deps import CurrentActor, CurrentConsumer, Uow

router = APIRouter(tags=["members"])
storefront_router = APIRouter(prefix="/storefront", tags=["storefront"])


def _policy_out(view: lifecycle.PolicyView) -> LifecyclePolicyOut:
    return LifecyclePolicyOut(**asdict(view.policy), customized=view.customized)


@router.get("/members", response_model=Page[MemberOut])
def list_members(
    session: Uow,
    actor: CurrentActor,
    phone: Annotated[str | None, Query(max_length=32, description="Exact, any format")] = None,
    name: Annotated[str | None, Query(max_length=100, description="Part of the name")] = None,
    stage: LifecycleStage | None = None,
    tier_code: Annotated[str | None, Query(max_length=32)] = None,
    store_id: Annotated[int | None, Query(description="The home store")] = None,
    joined_from: Annotated[datetime | None, Query(description="Inclusive")] = None,
    joined_to: Annotated[datetime | None, Query(description="Exclusive")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[MemberOut]:
    """Active members in your scope, newest first (a guide: the members they acquired)."""
    rows, total = service.list_members(
        session,
        actor,
        phone=phone,
        name=name,
        stage=stage,
        tier_code=tier_code,
        store_id=store_id,
        joined_from=joined_from,
        joined_to=joined_to,
        limit=limit,
        offset=offset,
    )
    return Page[MemberOut](
        items=[member_out(m) for m in rows], total=total, limit=limit, offset=offset
    )


@router.get("/members/lifecycle-policy", response_model=LifecyclePolicyOut)
def get_lifecycle_policy(session: Uow, actor: CurrentActor) -> LifecyclePolicyOut:
    """The brand's lifecycle thresholds (the defaults until HQ sets them)."""
    return _policy_out(lifecycle.get_lifecycle_policy(session, actor))


@router.put("/members/lifecycle-policy", response_model=LifecyclePolicyOut)
def set_lifecycle_policy(
    data: LifecyclePolicyIn, session: Uow, actor: CurrentActor
) -> LifecyclePolicyOut:
    """Replace the thresholds (loyalty:write). Stages follow at the next daily refresh."""
    return _policy_out(lifecycle.set_lifecycle_policy(session, actor, data.policy()))


@router.get("/members/{member_id}", response_model=MemberOut)
def get_member(member_id: int, session: Uow, actor: CurrentActor) -> MemberOut:
    return member_out(service.get_member(session, actor, member_id))


@router.get("/members/{member_id}/360", response_model=Member360Out)
def get_member_360(member_id: int, session: Uow, actor: CurrentActor) -> Member360Out:
    """Identities (masked), profile, lifecycle, loyalty, tags, segments, consent, online and
    offline orders, the touchpoint journey; guide, groups and coupons come with later issues."""
    return profile.member_360(session, actor, member_id)


@router.post("/members/{member_id}/merges", response_model=MergeOut)
def merge_member(member_id: int, data: MergeRequest, session: Uow, actor: CurrentActor) -> MergeOut:
    """Fold ``other_member_id`` into this member (member:merge): identities, consumers,
    orders, points and every other reference move here. Refused with 409
    member_merge_phone_conflict when the two have different phones."""
    survivor = service.merge_members_by_staff(session, actor, member_id, data.other_member_id)
    return MergeOut(member=member_out(survivor), merged_member_id=data.other_member_id)


# ---------------------------------------------------------------- storefront


@storefront_router.get("/membership", response_model=MembershipOut)
def my_membership(session: Uow, context: CurrentConsumer) -> MembershipOut:
    """The consumer's own membership (a prospect until they join)."""
    return membership_out(membership.membership_of(session, context.brand.id, context.consumer))


@storefront_router.post("/membership", response_model=MembershipOut)
def join_membership(data: MembershipJoin, session: Uow, context: CurrentConsumer) -> MembershipOut:
    """Join from a page (idempotent). A ``scene_key`` naming a touchpoint makes it the source;
    an unknown one is recorded as an unknown source, never an error."""
    member, joined_now = membership.join_from_page(
        session, context.brand.id, context.consumer, data.scene_key
    )
    return membership_out(member, joined_now=joined_now)


@storefront_router.post("/membership/phone", response_model=MembershipOut)
def bind_phone(data: PhoneBinding, session: Uow, context: CurrentConsumer) -> MembershipOut:
    """Bind the phone number from the getPhoneNumber button; a member who already has that
    number (a POS member) becomes the same member. Refusals: 422 invalid_phone_code /
    unsupported_phone, 409 member_merge_phone_conflict, 429 wechat_rate_limited, 502
    wechat_unavailable."""
    member = membership.bind_phone(
        session, context.brand.id, context.consumer, data.code, get_mini_program_auth()
    )
    return membership_out(member)
