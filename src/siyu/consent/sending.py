"""The send door: every message to a customer asks ``request_send`` first, and only sends when
the decision is allowed. Marketing, guides and communities never talk to a platform without it.

A decision reads the member's facts (exists and not merged, reachable on the channel, marketing
consent, subscribe credits, capped sends today and this week in the brand's timezone), asks the
pure rules (``siyu.consent.rules.decide``) and writes the decision to the send ledger
(``consent_send``), allowed or refused. An allowed subscribe message spends one credit. When
the platform then refuses the message, ``release_send`` gives the credit back (and the send
stops counting toward the caps) only if the platform did not accept it.

``check_sends`` answers the same question for campaign planning without recording anything.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.access.rules import Actor, Permission
from siyu.consent import events, rules
from siyu.consent.errors import SendNotAllowed, SendNotFound, TemplateRequired
from siyu.consent.locks import lock_consent_state, lock_credit, lock_send, lock_subscription
from siyu.consent.models import ConsentSend, ConsentState, Subscription
from siyu.consent.policy import load_policy
from siyu.consent.rules import Channel, MemberStatus, Purpose, SendFacts, SendReason
from siyu.consent.schemas import SendCheckIn, SendCheckOut, SendCheckResult, SendDecision
from siyu.consent.service import aware_moment
from siyu.core.clock import utc_now
from siyu.members.models import Member, MemberIdentity
from siyu.members.service import member_scope
from siyu.outbox.service import record_event

RELEASED = "released"
FAILED = "failed"


def _check_template(channel: Channel, template_id: str | None) -> None:
    if channel is Channel.SUBSCRIBE_MESSAGE and not template_id:
        raise TemplateRequired("A subscribe message names its template.", field="template_id")
    if template_id is not None and not 1 <= len(template_id) <= 64:
        raise TemplateRequired("A template id has 1 to 64 characters.", field="template_id")


def member_facts(
    session: Session,
    brand_id: int,
    member_ids: Collection[int],
    *,
    channel: Channel,
    template_id: str | None,
    policy: rules.Policy,
    moment: datetime,
) -> dict[int, SendFacts]:
    """The facts of each member for a send on ``channel`` at ``moment`` (five queries,
    whatever the number of members). Members not in the brand are MISSING. No locks."""
    ids = list(member_ids)
    facts = {member_id: SendFacts(member_status=MemberStatus.MISSING) for member_id in ids}
    members = session.execute(
        select(Member.id, Member.status, Member.phone).where(
            Member.brand_id == brand_id, Member.id.in_(ids)
        )
    ).all()
    active = [m.id for m in members if m.status == MemberStatus.ACTIVE.value]
    for member in members:
        if member.status != MemberStatus.ACTIVE.value:
            facts[member.id] = SendFacts(member_status=MemberStatus.MERGED)
    if not active:
        return facts
    kinds: dict[int, set[str]] = {member_id: set() for member_id in active}
    for member_id, kind in session.execute(
        select(MemberIdentity.member_id, MemberIdentity.kind)
        .where(MemberIdentity.brand_id == brand_id, MemberIdentity.member_id.in_(active))
        .distinct()
    ):
        kinds[member_id].add(kind)
    choices: dict[int, bool | None] = {
        member_id: opted_in
        for member_id, opted_in in session.execute(
            select(ConsentState.member_id, ConsentState.opted_in).where(
                ConsentState.brand_id == brand_id,
                ConsentState.member_id.in_(active),
                ConsentState.channel == channel.value,
            )
        )
    }
    today = rules.local_day(moment, policy.zone)
    monday = rules.week_start(today)
    counts = {
        member_id: (day, week)
        for member_id, day, week in session.execute(
            select(
                ConsentSend.member_id,
                func.count().filter(ConsentSend.local_day == today),
                func.count(),
            )
            .where(
                ConsentSend.brand_id == brand_id,
                ConsentSend.member_id.in_(active),
                ConsentSend.channel == channel.value,
                ConsentSend.allowed.is_(True),
                ConsentSend.outcome.is_distinct_from(RELEASED),
                ConsentSend.purpose.in_([p.value for p in policy.capped_purposes()]),
                ConsentSend.local_day >= monday,
                ConsentSend.local_day < monday + timedelta(days=7),
            )
            .group_by(ConsentSend.member_id)
        )
    }
    credits: dict[int, int] = {}
    if channel is Channel.SUBSCRIBE_MESSAGE and template_id is not None:
        credits = {
            member_id: count
            for member_id, count in session.execute(
                select(Subscription.member_id, func.count())
                .where(
                    Subscription.brand_id == brand_id,
                    Subscription.member_id.in_(active),
                    Subscription.template_id == template_id,
                    Subscription.result == rules.SubscriptionResult.ACCEPT.value,
                    Subscription.consumed_at.is_(None),
                )
                .group_by(Subscription.member_id)
            )
        }
    phones = {m.id: m.phone is not None for m in members}
    for member_id in active:
        day_count, week_count = counts.get(member_id, (0, 0))
        reachable = rules.reachable_channels(frozenset(kinds[member_id]), phones[member_id])
        facts[member_id] = SendFacts(
            member_status=MemberStatus.ACTIVE,
            reachable=channel in reachable,
            opted_in=choices.get(member_id),
            credits=credits.get(member_id, 0),
            day_count=day_count,
            week_count=week_count,
        )
    return facts


def request_send(
    session: Session,
    brand_id: int,
    member_id: int,
    *,
    channel: Channel | str,
    purpose: Purpose | str,
    template_id: str | None = None,
    campaign: str | None = None,
    at: datetime | None = None,
) -> SendDecision:
    """May this message go to this member now? The only door to a customer.

    ``at`` is the moment of the send (default now, timezone-aware); ``template_id`` is
    required for subscribe messages. The decision, allowed or refused, is written to the send
    ledger; an allowed one counts toward the caps (when its purpose is capped) and, on
    subscribe_message, spends the member's oldest credit of the template.

    Locks (siyu.consent.locks): the member's consent row of the channel (created if missing),
    then the credit row, so a concurrent send to the same member and channel waits and then
    sees the caps and credits this one used. Side effects: SendAllowed when allowed.
    Raises TemplateRequired, TimezoneRequired, ValueError for an unknown channel or purpose.
    """
    channel, purpose = Channel(channel), Purpose(purpose)
    _check_template(channel, template_id)
    moment = aware_moment(at)
    policy, _ = load_policy(session, brand_id)
    status = session.scalar(
        select(Member.status).where(Member.brand_id == brand_id, Member.id == member_id)
    )
    credit = None
    if status == MemberStatus.ACTIVE.value:
        lock_consent_state(session, brand_id, member_id, channel.value)
        if channel is Channel.SUBSCRIBE_MESSAGE and template_id is not None:
            credit = lock_credit(session, brand_id, member_id, template_id)
    facts = member_facts(
        session,
        brand_id,
        [member_id],
        channel=channel,
        template_id=None,
        policy=policy,
        moment=moment,
    )[member_id]
    facts = replace(facts, credits=1 if credit is not None else 0)
    verdict = rules.decide(facts, policy, channel=channel, purpose=purpose, now=moment)
    send = ConsentSend(
        brand_id=brand_id,
        requested_member_id=member_id,
        member_id=member_id if status is not None else None,
        channel=channel.value,
        purpose=purpose.value,
        template_id=template_id,
        campaign=campaign[:100] if campaign else None,
        allowed=verdict.allowed,
        reason=verdict.reason.value,
        next_allowed_at=verdict.next_allowed_at,
        decided_at=moment,
        local_day=rules.local_day(moment, policy.zone),
    )
    if verdict.allowed and credit is not None:
        credit.consumed_at = moment
        send.subscription_id = credit.id
    session.add(send)
    session.flush()
    if verdict.allowed:
        record_event(
            session,
            brand_id,
            events.SendAllowed(
                member_id=member_id,
                send_id=send.id,
                channel=channel.value,
                purpose=purpose.value,
                template_id=template_id,
                campaign=send.campaign,
            ),
        )
    return SendDecision(
        allowed=verdict.allowed,
        reason=verdict.reason,
        next_allowed_at=verdict.next_allowed_at,
        send_id=send.id,
    )


def release_send(
    session: Session, brand_id: int, send_id: int, *, accepted_by_platform: bool
) -> ConsentSend:
    """The platform's answer to an allowed send that did not reach the member.

    Not accepted by the platform (e.g. WeChat's 43101, a network error before the call): the
    send is ``released``, its subscribe credit returns and it no longer counts toward the
    caps. Accepted but not delivered: ``failed``, and the credit stays spent, as WeChat spent
    it. Idempotent: a send already released or failed is returned unchanged.

    Locks the member's consent row of the channel, the send row, then its credit. Side
    effects: SendReleased. Raises SendNotFound, SendNotAllowed (a refused decision)."""
    found = session.scalar(
        select(ConsentSend).where(ConsentSend.brand_id == brand_id, ConsentSend.id == send_id)
    )
    if found is None:
        raise SendNotFound(f"Send {send_id} was not found.")
    if not found.allowed:
        raise SendNotAllowed(f"Send {send_id} was refused ({found.reason}): nothing went out.")
    if found.member_id is not None:
        lock_consent_state(session, brand_id, found.member_id, found.channel)
    send = lock_send(session, brand_id, send_id)
    assert send is not None and send.member_id is not None
    if send.outcome is not None:
        return send
    send.outcome = FAILED if accepted_by_platform else RELEASED
    send.outcome_at = utc_now()
    if not accepted_by_platform and send.subscription_id is not None:
        credit = lock_subscription(session, brand_id, send.subscription_id)
        assert credit is not None
        credit.consumed_at = None
    session.flush()
    record_event(
        session,
        brand_id,
        events.SendReleased(member_id=send.member_id, send_id=send.id, outcome=send.outcome),
    )
    return send


def check_sends(session: Session, actor: Actor, data: SendCheckIn) -> SendCheckOut:
    """A dry run of ``request_send`` for each member, for campaign planning: no locks, nothing
    recorded, no credit spent. Members outside the actor's brand or scope answer
    member_merged_or_missing. Raises PermissionDenied (member:read), TemplateRequired,
    TimezoneRequired."""
    actor.require(Permission.MEMBER_READ)
    _check_template(data.channel, data.template_id)
    moment = aware_moment(data.at)
    policy, _ = load_policy(session, actor.brand_id)
    wanted = list(dict.fromkeys(data.member_ids))
    visible = set(
        session.scalars(select(Member.id).where(member_scope(actor), Member.id.in_(wanted)))
    )
    facts = member_facts(
        session,
        actor.brand_id,
        visible,
        channel=data.channel,
        template_id=data.template_id,
        policy=policy,
        moment=moment,
    )
    missing = SendFacts(member_status=MemberStatus.MISSING)
    results = []
    for member_id in wanted:
        verdict = rules.decide(
            facts.get(member_id, missing),
            policy,
            channel=data.channel,
            purpose=data.purpose,
            now=moment,
        )
        results.append(
            SendCheckResult(
                member_id=member_id,
                allowed=verdict.allowed,
                reason=verdict.reason,
                next_allowed_at=verdict.next_allowed_at,
            )
        )
    counts = {reason: 0 for reason in SendReason}
    for result in results:
        counts[result.reason] += 1
    return SendCheckOut(decisions=results, counts={k: v for k, v in counts.items() if v})
