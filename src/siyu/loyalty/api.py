"""HTTP API of tiers and points: the ladder and the points policy (HQ), a member's ledger and
manual adjustments (staff, by member scope), the consumer's own points (storefront)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Response, status

from siyu.core.pagination import MAX_PAGE_SIZE
from siyu.loyalty import service
from siyu.loyalty.schemas import (
    PointsAdjustmentIn,
    PointsAdjustmentOut,
    PointsEntryOut,
    PointsLedgerOut,
    PointsPolicyIn,
    PointsPolicyOut,
    StorefrontPoints,
    TierOut,
    TierSetIn,
    TierSetOut,
)
from siyu.web.deps import CurrentActor, CurrentConsumer, Uow

router = APIRouter(tags=["loyalty"])
storefront_router = APIRouter(prefix="/storefront", tags=["storefront"])

IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=8,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="Any unique string per adjustment; repeating it returns the same one.",
    ),
]


@router.get("/loyalty/tiers", response_model=TierSetOut)
def list_tiers(session: Uow, actor: CurrentActor) -> TierSetOut:
    """The brand's tier ladder (会员等级), lowest first."""
    return TierSetOut(tiers=[TierOut.model_validate(t) for t in service.list_tiers(session, actor)])


@router.put("/loyalty/tiers", response_model=TierSetOut)
def replace_tiers(data: TierSetIn, session: Uow, actor: CurrentActor) -> TierSetOut:
    """Replace the ladder (``loyalty:write``): unique codes, thresholds ascending with
    ``sort``, a base tier at growth value 0. Every member moves to the tier their growth value
    now reaches (``members_retiered`` counts those who moved)."""
    replaced = service.replace_tiers(session, actor, data)
    return TierSetOut(
        tiers=[TierOut.model_validate(t) for t in replaced.tiers],
        members_retiered=replaced.members_retiered,
    )


@router.get("/loyalty/points-policy", response_model=PointsPolicyOut)
def get_points_policy(session: Uow, actor: CurrentActor) -> PointsPolicyOut:
    """How the brand earns and redeems points (the defaults until set)."""
    return service.get_points_policy(session, actor)


@router.put("/loyalty/points-policy", response_model=PointsPolicyOut)
def set_points_policy(data: PointsPolicyIn, session: Uow, actor: CurrentActor) -> PointsPolicyOut:
    """Set the points policy (``loyalty:write``); lots already earned keep their expiry."""
    return service.set_points_policy(session, actor, data)


@router.get("/members/{member_id}/points", response_model=PointsLedgerOut)
def member_points(
    member_id: int,
    session: Uow,
    actor: CurrentActor,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> PointsLedgerOut:
    """The member's points ledger, newest first: every change with its cause (an order, a
    refund, a staff adjustment, an expired lot) and the balance after it."""
    found = service.member_points(session, actor, member_id, limit=limit, offset=offset)
    return PointsLedgerOut(
        member_id=found.member.id,
        points_balance=found.member.points_balance,
        items=[PointsEntryOut.model_validate(e) for e in found.entries],
        total=found.total,
        limit=limit,
        offset=offset,
    )


@router.post(
    "/members/{member_id}/points/adjustments",
    response_model=PointsAdjustmentOut,
    status_code=status.HTTP_201_CREATED,
    responses={200: {"description": "The same Idempotency-Key was used before: that one"}},
)
def adjust_points(
    member_id: int,
    data: PointsAdjustmentIn,
    session: Uow,
    actor: CurrentActor,
    response: Response,
    idempotency_key: IdempotencyKey,
) -> PointsAdjustmentOut:
    """Add or remove points by hand, with a reason (``loyalty:write``; audited). Removing more
    than the balance is refused (409 ``points_insufficient``)."""
    result = service.adjust_points(session, actor, member_id, data, idempotency_key=idempotency_key)
    if not result.created:
        response.status_code = status.HTTP_200_OK
    return PointsAdjustmentOut(
        adjustment_id=result.adjustment.id,
        member_id=result.member.id,
        delta=result.adjustment.delta,
        reason=result.adjustment.reason,
        entry=PointsEntryOut.model_validate(result.entry),
        points_balance=result.member.points_balance,
    )


@storefront_router.get("/points", response_model=StorefrontPoints)
def my_points(session: Uow, consumer: CurrentConsumer) -> StorefrontPoints:
    """The consumer's balance, tier, points expiring within 30 days and recent ledger rows
    (``member`` false for a consumer who is not a member yet)."""
    return service.consumer_points(session, consumer.brand.id, consumer.consumer.id)
