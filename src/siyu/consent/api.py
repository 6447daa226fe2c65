"""HTTP API of consent: the brand's messaging policy, send decisions and dry runs, a member's
consent (staff); the consumer's own consent and subscribe-message answers (storefront).

Sending itself has no HTTP route: services ask ``siyu.consent.sending.request_send``.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query

from siyu.consent import policy, sending, service
from siyu.consent.rules import Channel, SendReason
from siyu.consent.schemas import (
    ConsentOut,
    ConsentUpdate,
    CreditOut,
    DecisionOut,
    MemberConsent,
    OptOutIn,
    PolicyIn,
    PolicyOut,
    SendCheckIn,
    SendCheckOut,
    SubscriptionReport,
)
from siyu.core.pagination import MAX_PAGE_SIZE, Page
from siyu.web.deps import CurrentActor, CurrentConsumer, Uow

router = APIRouter(tags=["consent"])
storefront_router = APIRouter(prefix="/storefront", tags=["storefront"])


@router.get("/consent/policy", response_model=PolicyOut)
def get_policy(session: Uow, actor: CurrentActor) -> PolicyOut:
    """The brand's messaging policy with defaults filled in (consent:write)."""
    return policy.get_policy(session, actor)


@router.put("/consent/policy", response_model=PolicyOut)
def set_policy(data: PolicyIn, session: Uow, actor: CurrentActor) -> PolicyOut:
    """Replace the policy: quiet hours, per-channel default basis and caps, what transactional
    and service messages bypass (consent:write; audited)."""
    return policy.set_policy(session, actor, data)


@router.get("/consent/decisions", response_model=Page[DecisionOut])
def list_decisions(
    session: Uow,
    actor: CurrentActor,
    reason: SendReason | None = None,
    channel: Channel | None = None,
    day: Annotated[date | None, Query(description="The brand's local date")] = None,
    allowed: bool | None = None,
    campaign: Annotated[str | None, Query(max_length=100)] = None,
    member_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[DecisionOut]:
    """Send decisions, allowed and refused, newest first (report:read)."""
    rows, total = service.list_decisions(
        session,
        actor,
        reason=reason,
        channel=channel,
        day=day,
        allowed=allowed,
        campaign=campaign,
        member_id=member_id,
        limit=limit,
        offset=offset,
    )
    return Page[DecisionOut](
        items=[DecisionOut.model_validate(r) for r in rows], total=total, limit=limit, offset=offset
    )


@router.post("/consent/send-checks", response_model=SendCheckOut)
def check_sends(data: SendCheckIn, session: Uow, actor: CurrentActor) -> SendCheckOut:
    """Dry run: what the send door would decide for each member now (or ``at``), recording
    nothing (member:read; members outside your scope answer member_merged_or_missing)."""
    return sending.check_sends(session, actor, data)


@router.get("/members/{member_id}/consent", response_model=MemberConsent)
def get_member_consent(member_id: int, session: Uow, actor: CurrentActor) -> MemberConsent:
    """The member's consent per channel, credits per template, latest changes and decisions."""
    return service.get_member_consent(session, actor, member_id)


@router.post("/members/{member_id}/consent/opt-outs", response_model=MemberConsent)
def record_opt_outs(
    member_id: int, data: OptOutIn, session: Uow, actor: CurrentActor
) -> MemberConsent:
    """Record the member's opt-out on their behalf (consent:write; audited)."""
    return service.record_opt_outs(session, actor, member_id, data)


@storefront_router.get("/consent", response_model=ConsentOut)
def get_my_consent(session: Uow, consumer: CurrentConsumer) -> ConsentOut:
    """Your marketing consent per channel and your subscribe-message credits."""
    return service.consumer_consent(session, consumer.consumer)


@storefront_router.put("/consent", response_model=ConsentOut)
def update_my_consent(data: ConsentUpdate, session: Uow, consumer: CurrentConsumer) -> ConsentOut:
    """Opt in or out of marketing per channel, e.g. ``{"channels": {"sms": false}}``."""
    return service.update_consumer_consent(session, consumer.consumer, data)


@storefront_router.post("/subscriptions", response_model=list[CreditOut])
def report_subscriptions(
    data: SubscriptionReport, session: Uow, consumer: CurrentConsumer
) -> list[CreditOut]:
    """Report wx.requestSubscribeMessage's answers; returns the credits of those templates."""
    return service.report_subscriptions(session, consumer.consumer, data)
