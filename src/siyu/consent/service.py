"""The consent ledger (同意台账): the brand's messaging policy, members' marketing consent and
its history, subscribe-message credits, and reading all of it.

Sending goes through ``siyu.consent.sending.request_send``, the only door to a customer.

Marketing consent per member and channel is a current state (``consent_state``) plus an
append-only history (``consent_change``): the consumer changes it from the storefront, staff
may record an opt-out on the member's behalf (audited), imports and unsubscribe links record
theirs. A member who never chose follows the brand's default for the channel (opt-in based:
no marketing until opted in; opt-out based: marketing until opted out). Subscribe-message
credits are one row per answer of wx.requestSubscribeMessage; only long-term subscriptions
(public services only) are out of scope. None of these functions commits.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.orm import Session

from siyu.access.rules import Actor, ActorKind, Permission, ScopeKind
from siyu.audit.service import record_change
from siyu.consent import events, rules
from siyu.consent.errors import NotAMember, TimezoneRequired
from siyu.consent.locks import lock_consent_state
from siyu.consent.models import (
    ConsentChange,
    ConsentSend,
    ConsentState,
    Subscription,
)
from siyu.consent.policy import load_policy
from siyu.consent.rules import ChangedBy, Channel, SubscriptionResult
from siyu.consent.schemas import (
    ChannelConsentOut,
    ConsentChangeOut,
    ConsentOut,
    ConsentUpdate,
    CreditOut,
    DecisionOut,
    MemberConsent,
    OptOutIn,
    SubscriptionReport,
)
from siyu.consumers.models import Consumer
from siyu.core.clock import utc_now
from siyu.members.identity import survivor_of
from siyu.members.models import Member
from siyu.members.service import member_in_scope, member_scope
from siyu.outbox.service import record_event

RECENT = 50


# ---------------------------------------------------------------- members


def _member_to_change(session: Session, actor: Actor, member_id: int) -> Member:
    """The member staff change consent for: a merged member's survivor (the person), which
    must be in the actor's scope too. Raises MemberNotFound."""
    member = member_in_scope(session, actor, member_id)
    if member.merged_into_id is None:
        return member
    return member_in_scope(session, actor, survivor_of(session, actor.brand_id, member.id).id)


def consumer_member_id(session: Session, consumer: Consumer) -> int:
    """The (surviving) member of a logged-in consumer; NotAMember when they have none."""
    if consumer.member_id is None:
        raise NotAMember("You are not a member yet: join to manage your messages.")
    try:
        return survivor_of(session, consumer.brand_id, consumer.member_id).id
    except LookupError:
        raise NotAMember("You are not a member yet: join to manage your messages.") from None


# ---------------------------------------------------------------- marketing consent


def change_consent(
    session: Session,
    brand_id: int,
    member_id: int,
    *,
    channel: Channel,
    opted_in: bool,
    changed_by: ChangedBy,
    source: str,
    at: datetime | None = None,
    staff_id: int | None = None,
    consumer_id: int | None = None,
    note: str | None = None,
) -> ConsentChange | None:
    """Record the member's marketing choice on ``channel``: the ledger entry and the current
    state. Nothing is recorded when it equals the member's explicit choice already (a member
    who never chose always gets an entry). The member must exist.

    Locks the member's consent row of the channel. Side effects: MemberConsentChanged.
    Raises TimezoneRequired for a naive ``at``."""
    moment = aware_moment(at)
    state = lock_consent_state(session, brand_id, member_id, channel.value)
    return _record_choice(
        session,
        state,
        opted_in=opted_in,
        changed_by=changed_by,
        source=source,
        moment=moment,
        staff_id=staff_id,
        consumer_id=consumer_id,
        note=note,
    )


def _record_choice(
    session: Session,
    state: ConsentState,
    *,
    opted_in: bool,
    changed_by: ChangedBy,
    source: str,
    moment: datetime,
    staff_id: int | None = None,
    consumer_id: int | None = None,
    note: str | None = None,
) -> ConsentChange | None:
    """``change_consent`` on a consent row the caller has locked."""
    if state.opted_in is opted_in:
        return None
    source = source[:64]
    change = ConsentChange(
        brand_id=state.brand_id,
        member_id=state.member_id,
        channel=state.channel,
        opted_in=opted_in,
        changed_by=changed_by.value,
        source=source,
        staff_id=staff_id,
        consumer_id=consumer_id,
        note=note,
        occurred_at=moment,
    )
    session.add(change)
    state.opted_in = opted_in
    state.changed_at = moment
    state.changed_by = changed_by.value
    state.source = source
    session.flush()
    record_event(
        session,
        state.brand_id,
        events.MemberConsentChanged(
            member_id=state.member_id,
            channel=state.channel,
            opted_in=opted_in,
            changed_by=changed_by.value,
            source=source,
        ),
    )
    return change


def aware_moment(at: datetime | None) -> datetime:
    """``at``, or now when None; TimezoneRequired for a naive time."""
    if at is None:
        return utc_now()
    if at.tzinfo is None:
        raise TimezoneRequired("Give the time with its timezone.", field="at")
    return at


def consumer_consent(session: Session, consumer: Consumer) -> ConsentOut:
    """The logged-in consumer's own consent. Raises NotAMember."""
    member_id = consumer_member_id(session, consumer)
    policy, _ = load_policy(session, consumer.brand_id)
    return ConsentOut(
        channels=_channel_states(session, consumer.brand_id, member_id, policy),
        credits=_credits(session, consumer.brand_id, member_id),
    )


def update_consumer_consent(
    session: Session, consumer: Consumer, data: ConsentUpdate
) -> ConsentOut:
    """The consumer's own marketing choices (changed_by consumer, source storefront); channels
    are locked in a fixed order. Side effects: see ``change_consent``. Raises NotAMember."""
    member_id = consumer_member_id(session, consumer)
    for channel in sorted(data.channels):
        change_consent(
            session,
            consumer.brand_id,
            member_id,
            channel=channel,
            opted_in=data.channels[channel],
            changed_by=ChangedBy.CONSUMER,
            source="storefront",
            consumer_id=consumer.id,
        )
    return consumer_consent(session, consumer)


def record_opt_outs(
    session: Session, actor: Actor, member_id: int, data: OptOutIn, *, source: str = "api"
) -> MemberConsent:
    """Staff record the member's opt-out on their behalf (never an opt-in: that is the
    member's to give); a merged member's goes to its survivor. An integration's opt-out is
    recorded as an import.

    Locks the member's consent rows of the channels in a fixed order. Side effects: ledger
    entries, audit ``member_consent.opt_out``, MemberConsentChanged per changed channel.
    Raises PermissionDenied (consent:write), MemberNotFound (outside brand or scope)."""
    actor.require(Permission.CONSENT_WRITE)
    member = _member_to_change(session, actor, member_id)
    by_staff = actor.kind is ActorKind.STAFF and actor.staff_id is not None
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for channel in sorted(set(data.channels)):
        state = lock_consent_state(session, actor.brand_id, member.id, channel.value)
        previous = state.opted_in
        changed = _record_choice(
            session,
            state,
            opted_in=False,
            changed_by=ChangedBy.STAFF if by_staff else ChangedBy.IMPORT,
            source=source if by_staff else actor.label,
            moment=utc_now(),
            staff_id=actor.staff_id if by_staff else None,
            note=data.note,
        )
        if changed is not None:
            before[channel.value] = previous
            after[channel.value] = False
    if after:
        record_change(
            session,
            actor,
            action="member_consent.opt_out",
            object_type="member",
            object_id=member.id,
            before=before,
            after=after | ({"note": data.note} if data.note else {}),
        )
    return member_consent(session, actor.brand_id, member.id)


def record_imported_consent(
    session: Session,
    actor: Actor,
    member_id: int,
    *,
    channel: Channel,
    opted_in: bool,
    source: str,
    at: datetime | None = None,
) -> ConsentChange | None:
    """A consent imported with members (POS, CRM): recorded as changed_by import with the
    import's ``source`` (e.g. the file name). Raises PermissionDenied (import:run),
    MemberNotFound. Side effects: see ``change_consent``."""
    actor.require(Permission.IMPORT_RUN)
    member = _member_to_change(session, actor, member_id)
    return change_consent(
        session,
        actor.brand_id,
        member.id,
        channel=channel,
        opted_in=opted_in,
        changed_by=ChangedBy.IMPORT,
        source=source,
        at=at,
    )


def unsubscribe(
    session: Session,
    brand_id: int,
    member_id: int,
    channel: Channel,
    *,
    source: str,
    at: datetime | None = None,
) -> ConsentChange | None:
    """An opt-out through an unsubscribe link (the caller has verified the link); a merged
    member's goes to its survivor. Side effects: see ``change_consent``."""
    return change_consent(
        session,
        brand_id,
        survivor_of(session, brand_id, member_id).id,
        channel=channel,
        opted_in=False,
        changed_by=ChangedBy.UNSUBSCRIBE_LINK,
        source=source,
        at=at,
    )


def reconcile_consent(session: Session, brand_id: int, member_id: int) -> list[Channel]:
    """Make each channel's state the member's latest recorded change, after a merge.

    A merge repoints the merged member's history here but drops its state rows that collide
    with the survivor's (a survivor's row may only be a send's lock anchor, with no choice), so
    the person's latest choice, whichever profile made it, is restored from the ledger.
    Idempotent. Locks the consent rows it visits. Side effects: MemberConsentChanged per
    channel whose effective choice changed. Returns those channels."""
    latest = session.scalars(
        select(ConsentChange)
        .where(ConsentChange.brand_id == brand_id, ConsentChange.member_id == member_id)
        .ext(distinct_on(ConsentChange.channel))
        .order_by(ConsentChange.channel, ConsentChange.occurred_at.desc(), ConsentChange.id.desc())
    ).all()
    changed: list[Channel] = []
    for change in sorted(latest, key=lambda c: c.channel):
        state = lock_consent_state(session, brand_id, member_id, change.channel)
        recorded = (change.opted_in, change.occurred_at, change.changed_by, change.source)
        if (state.opted_in, state.changed_at, state.changed_by, state.source) == recorded:
            continue
        previous = state.opted_in
        state.opted_in, state.changed_at, state.changed_by, state.source = recorded
        if previous is not change.opted_in:
            changed.append(Channel(change.channel))
            record_event(
                session,
                brand_id,
                events.MemberConsentChanged(
                    member_id=member_id,
                    channel=change.channel,
                    opted_in=change.opted_in,
                    changed_by=change.changed_by,
                    source=change.source,
                ),
            )
    session.flush()
    return changed


# ---------------------------------------------------------------- subscribe-message credits


def report_subscriptions(
    session: Session, consumer: Consumer, data: SubscriptionReport
) -> list[CreditOut]:
    """Record what wx.requestSubscribeMessage answered: each "accept" is one credit (one send
    of that template), "reject"/"ban" a refusal, "filter" neither. Returns the credits of the
    reported templates. Side effects: SubscriptionsReported. Raises NotAMember."""
    member_id = consumer_member_id(session, consumer)
    now = utc_now()
    for template_id, result in data.results.items():
        session.add(
            Subscription(
                brand_id=consumer.brand_id,
                member_id=member_id,
                consumer_id=consumer.id,
                template_id=template_id,
                result=result.value,
                reported_at=now,
            )
        )
    session.flush()
    record_event(
        session,
        consumer.brand_id,
        events.SubscriptionsReported(
            member_id=member_id,
            accepted=sorted(t for t, r in data.results.items() if r is SubscriptionResult.ACCEPT),
            refused=sorted(t for t, r in data.results.items() if r in rules.REFUSING_RESULTS),
        ),
    )
    return _credits(session, consumer.brand_id, member_id, templates=data.results.keys())


def _credits(
    session: Session, brand_id: int, member_id: int, templates: Iterable[str] | None = None
) -> list[CreditOut]:
    conditions = [Subscription.brand_id == brand_id, Subscription.member_id == member_id]
    if templates is not None:
        conditions.append(Subscription.template_id.in_(list(templates)))
    accepted = Subscription.result == SubscriptionResult.ACCEPT.value
    totals = session.execute(
        select(
            Subscription.template_id,
            func.count().filter(accepted & Subscription.consumed_at.is_(None)),
            func.count().filter(accepted),
            func.count().filter(Subscription.result.in_([r.value for r in rules.REFUSING_RESULTS])),
        )
        .where(*conditions)
        .group_by(Subscription.template_id)
    ).all()
    latest = {
        row.template_id: row
        for row in session.scalars(
            select(Subscription)
            .where(*conditions)
            .ext(distinct_on(Subscription.template_id))
            .order_by(Subscription.template_id, Subscription.id.desc())
        )
    }
    return [
        CreditOut(
            template_id=template_id,
            available=available,
            accepted=accepted_count,
            refused=refused,
            last_result=SubscriptionResult(latest[template_id].result),
            last_reported_at=latest[template_id].reported_at,
        )
        for template_id, available, accepted_count, refused in sorted(totals)
    ]


# ---------------------------------------------------------------- reading


def _channel_states(
    session: Session, brand_id: int, member_id: int, policy: rules.Policy
) -> list[ChannelConsentOut]:
    states = {
        state.channel: state
        for state in session.scalars(
            select(ConsentState).where(
                ConsentState.brand_id == brand_id, ConsentState.member_id == member_id
            )
        )
    }
    out = []
    for channel in Channel:
        state = states.get(channel.value)
        chosen = state.opted_in if state is not None else None
        default = policy.channel(channel).opt_out_based
        explicit = state is not None and state.opted_in is not None
        out.append(
            ChannelConsentOut(
                channel=channel,
                opted_in=rules.is_opted_in(chosen, policy.channel(channel)),
                chosen=chosen,
                opt_out_based=default,
                changed_at=state.changed_at if explicit and state else None,
                changed_by=ChangedBy(state.changed_by) if state and state.changed_by else None,
                source=state.source if explicit and state else None,
            )
        )
    return out


def member_consent(session: Session, brand_id: int, member_id: int) -> MemberConsent:
    """A member's consent for the member 360 (no permission check: the caller has checked
    the member is visible): each channel's state, credits per template, the latest 50
    consent changes and send decisions, newest first. Reads only."""
    policy, _ = load_policy(session, brand_id)
    changes = session.scalars(
        select(ConsentChange)
        .where(ConsentChange.brand_id == brand_id, ConsentChange.member_id == member_id)
        .order_by(ConsentChange.occurred_at.desc(), ConsentChange.id.desc())
        .limit(RECENT)
    ).all()
    decisions = session.scalars(
        select(ConsentSend)
        .where(ConsentSend.brand_id == brand_id, ConsentSend.member_id == member_id)
        .order_by(ConsentSend.decided_at.desc(), ConsentSend.id.desc())
        .limit(RECENT)
    ).all()
    return MemberConsent(
        member_id=member_id,
        channels=_channel_states(session, brand_id, member_id, policy),
        credits=_credits(session, brand_id, member_id),
        changes=[ConsentChangeOut.model_validate(c) for c in changes],
        decisions=[DecisionOut.model_validate(d) for d in decisions],
    )


def get_member_consent(session: Session, actor: Actor, member_id: int) -> MemberConsent:
    """``member_consent`` for staff. Raises PermissionDenied (member:read), MemberNotFound
    (outside brand or scope)."""
    actor.require(Permission.MEMBER_READ)
    member = member_in_scope(session, actor, member_id)
    return member_consent(session, actor.brand_id, member.id)


def list_decisions(
    session: Session,
    actor: Actor,
    *,
    reason: rules.SendReason | None = None,
    channel: Channel | None = None,
    day: date | None = None,
    allowed: bool | None = None,
    campaign: str | None = None,
    member_id: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[ConsentSend], int]:
    """Send decisions newest first, filtered; ``day`` is the brand's local date. Outside
    brand scope only decisions about members in scope are listed. Raises PermissionDenied
    (report:read)."""
    actor.require(Permission.REPORT_READ)
    conditions: list[ColumnElement[bool]] = [ConsentSend.brand_id == actor.brand_id]
    if actor.scope is not ScopeKind.BRAND:
        conditions.append(ConsentSend.member_id.in_(select(Member.id).where(member_scope(actor))))
    if reason is not None:
        conditions.append(ConsentSend.reason == reason.value)
    if channel is not None:
        conditions.append(ConsentSend.channel == channel.value)
    if day is not None:
        conditions.append(ConsentSend.local_day == day)
    if allowed is not None:
        conditions.append(ConsentSend.allowed.is_(allowed))
    if campaign is not None:
        conditions.append(ConsentSend.campaign == campaign)
    if member_id is not None:
        conditions.append(ConsentSend.requested_member_id == member_id)
    total = session.scalar(select(func.count()).select_from(ConsentSend).where(*conditions)) or 0
    rows = session.scalars(
        select(ConsentSend)
        .where(*conditions)
        .order_by(ConsentSend.decided_at.desc(), ConsentSend.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return list(rows), total
