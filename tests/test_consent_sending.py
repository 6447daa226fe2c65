"""The send door on the database: credits, caps, bypasses, releases, the ledger, locking."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.consent.errors import SendNotAllowed, SendNotFound, TemplateRequired, TimezoneRequired
from siyu.consent.models import ConsentChange, ConsentSend, ConsentState, Subscription
from siyu.consent.rules import ChangedBy, Channel, Purpose, SendReason
from siyu.consent.schemas import ChannelPolicyIn, SendDecision
from siyu.consent.sending import release_send, request_send
from siyu.consent.service import (
    change_consent,
    member_consent,
    record_imported_consent,
    unsubscribe,
)
from siyu.consent.subscribers import reconcile_merged_member
from siyu.core.clock import SHANGHAI
from siyu.db.session import Database
from siyu.members.merging import merge_members
from siyu.outbox.models import OutboxEvent
from tests.factories import World, build_world
from tests.factories_consent import NOON, make_member, subscribe, use_policy
from tests.helpers import row_counts

SUB = Channel.SUBSCRIBE_MESSAGE
SMS = Channel.SMS
MARKETING = Purpose.MARKETING
TRANSACTIONAL = Purpose.TRANSACTIONAL
TEMPLATE = "tmpl-order-shipped"


@pytest.fixture
def world(session: Session) -> World:
    w = build_world(session)
    session.commit()
    return w


def sends(session: Session, member_id: int) -> list[tuple[bool, str]]:
    session.expire_all()
    rows = session.scalars(
        select(ConsentSend).where(ConsentSend.member_id == member_id).order_by(ConsentSend.id)
    )
    return [(row.allowed, row.reason) for row in rows]


def events_of(session: Session, event_type: str) -> list[dict[str, object]]:
    return [
        e.payload
        for e in session.scalars(
            select(OutboxEvent).where(OutboxEvent.event_type == event_type).order_by(OutboxEvent.id)
        )
    ]


def opt_in(session: Session, world: World, member_id: int, channel: Channel = SMS) -> None:
    change_consent(
        session,
        world.brand.id,
        member_id,
        channel=channel,
        opted_in=True,
        changed_by=ChangedBy.CONSUMER,
        source="storefront",
        at=NOON - timedelta(days=30),
    )


def marketing_sms(session: Session, world: World, member_id: int, at: datetime) -> SendDecision:
    return request_send(session, world.brand.id, member_id, channel=SMS, purpose=MARKETING, at=at)


# ---------------------------------------------------------------- subscribe-message credits


def test_one_accepted_subscription_allows_exactly_one_send(session: Session, world: World) -> None:
    # given a member who accepted the template once
    member = make_member(session, world)
    credit = subscribe(session, world.brand.id, member.id, TEMPLATE)
    # when two sends of it are asked for
    first = request_send(
        session,
        world.brand.id,
        member.id,
        channel=SUB,
        purpose=MARKETING,
        template_id=TEMPLATE,
        campaign="double-11",
        at=NOON,
    )
    second = request_send(
        session,
        world.brand.id,
        member.id,
        channel=SUB,
        purpose=MARKETING,
        template_id=TEMPLATE,
        at=NOON,
    )
    # then the first spends the credit and the second is refused; both are in the ledger
    assert first.allowed and first.reason is SendReason.ALLOWED and first.send_id is not None
    assert not second.allowed and second.reason is SendReason.NO_SUBSCRIPTION_CREDIT
    assert second.next_allowed_at is None
    assert sends(session, member.id) == [(True, "allowed"), (False, "no_subscription_credit")]
    spent = session.get(Subscription, (world.brand.id, credit.id))
    sent = session.get(ConsentSend, (world.brand.id, first.send_id))
    assert spent is not None and spent.consumed_at == NOON
    assert sent is not None and sent.subscription_id == credit.id
    assert (sent.campaign, sent.local_day.isoformat()) == ("double-11", "2026-11-18")
    assert events_of(session, "SendAllowed") == [
        {
            "member_id": member.id,
            "send_id": first.send_id,
            "channel": "subscribe_message",
            "purpose": "marketing",
            "template_id": TEMPLATE,
            "campaign": "double-11",
        }
    ]


def test_each_accept_adds_one_credit_of_that_template_only(session: Session, world: World) -> None:
    # given two accepts of one template and one of another
    member = make_member(session, world)
    subscribe(session, world.brand.id, member.id, TEMPLATE)
    subscribe(session, world.brand.id, member.id, TEMPLATE)
    subscribe(session, world.brand.id, member.id, "tmpl-other")
    # when three sends of the first template are asked for
    decisions = [
        request_send(
            session,
            world.brand.id,
            member.id,
            channel=SUB,
            purpose=MARKETING,
            template_id=TEMPLATE,
            at=NOON,
        ).reason
        for _ in range(3)
    ]
    # then two go out; the other template's credit is untouched
    assert decisions == [SendReason.ALLOWED, SendReason.ALLOWED, SendReason.NO_SUBSCRIPTION_CREDIT]
    credits = {
        c.template_id: c.available
        for c in member_consent(session, world.brand.id, member.id).credits
    }
    assert credits == {TEMPLATE: 0, "tmpl-other": 1}


@pytest.mark.parametrize("result", ["reject", "ban", "filter"])
def test_a_refused_subscription_gives_no_credit(
    session: Session, world: World, result: str
) -> None:
    # given a member whose answer for the template was not an accept
    member = make_member(session, world)
    subscribe(session, world.brand.id, member.id, TEMPLATE, result)
    # when a send of it is asked for
    decision = request_send(
        session,
        world.brand.id,
        member.id,
        channel=SUB,
        purpose=TRANSACTIONAL,
        template_id=TEMPLATE,
        at=NOON,
    )
    # then it is refused and the answer is kept (reject and ban count as refusals)
    assert decision.reason is SendReason.NO_SUBSCRIPTION_CREDIT
    (credit,) = member_consent(session, world.brand.id, member.id).credits
    assert (credit.available, credit.accepted, credit.refused) == (
        0,
        0,
        0 if result == "filter" else 1,
    )
    assert credit.last_result.value == result


def test_a_subscribe_message_names_its_template(session: Session, world: World) -> None:
    member = make_member(session, world)
    session.commit()
    before = row_counts(session)
    with pytest.raises(TemplateRequired):
        request_send(session, world.brand.id, member.id, channel=SUB, purpose=MARKETING)
    with pytest.raises(TimezoneRequired):
        marketing_sms(session, world, member.id, datetime(2026, 11, 18, 12))
    session.rollback()
    assert row_counts(session) == before


# ---------------------------------------------------------------- releasing


def test_a_release_returns_the_credit_only_when_the_platform_did_not_accept(
    session: Session, world: World
) -> None:
    # given two allowed subscribe messages, each on its own credit
    member = make_member(session, world)
    first_credit = subscribe(session, world.brand.id, member.id, TEMPLATE)
    second_credit = subscribe(session, world.brand.id, member.id, TEMPLATE)
    first = request_send(
        session,
        world.brand.id,
        member.id,
        channel=SUB,
        purpose=MARKETING,
        template_id=TEMPLATE,
        at=NOON,
    )
    second = request_send(
        session,
        world.brand.id,
        member.id,
        channel=SUB,
        purpose=MARKETING,
        template_id=TEMPLATE,
        at=NOON,
    )
    assert first.send_id is not None and second.send_id is not None
    # when the platform refused the first (43101) and accepted but failed to deliver the second
    released = release_send(session, world.brand.id, first.send_id, accepted_by_platform=False)
    failed = release_send(session, world.brand.id, second.send_id, accepted_by_platform=True)
    # then only the first credit is back, and a repeated release changes nothing
    assert (released.outcome, failed.outcome) == ("released", "failed")
    session.expire_all()
    assert session.get(Subscription, (world.brand.id, first_credit.id)).consumed_at is None  # type: ignore[union-attr]
    assert session.get(Subscription, (world.brand.id, second_credit.id)).consumed_at == NOON  # type: ignore[union-attr]
    again = release_send(session, world.brand.id, second.send_id, accepted_by_platform=False)
    assert again.outcome == "failed"
    session.expire_all()
    assert session.get(Subscription, (world.brand.id, second_credit.id)).consumed_at == NOON  # type: ignore[union-attr]
    assert [e["outcome"] for e in events_of(session, "SendReleased")] == ["released", "failed"]
    # and the returned credit allows one more send
    third = request_send(
        session,
        world.brand.id,
        member.id,
        channel=SUB,
        purpose=MARKETING,
        template_id=TEMPLATE,
        at=NOON,
    )
    assert third.allowed


def test_only_an_allowed_send_can_be_released(session: Session, world: World) -> None:
    member = make_member(session, world)
    refused = marketing_sms(session, world, member.id, NOON)  # SMS is opt-in based
    assert refused.reason is SendReason.OPTED_OUT and refused.send_id is not None
    with pytest.raises(SendNotAllowed):
        release_send(session, world.brand.id, refused.send_id, accepted_by_platform=False)
    with pytest.raises(SendNotFound):
        release_send(session, world.brand.id, 10**9, accepted_by_platform=False)


# ---------------------------------------------------------------- caps, quiet hours, bypasses


def test_caps_count_only_allowed_unreleased_marketing_sends(session: Session, world: World) -> None:
    # given SMS capped at 1 a day, quiet hours 21:00-09:00, and an opted-in member
    use_policy(
        session,
        world,
        quiet=(time(21), time(9)),
        channels={SMS: ChannelPolicyIn(opt_out_based=False, daily_cap=1, weekly_cap=5)},
    )
    member = make_member(session, world)
    opt_in(session, world, member.id)
    # when transactional notices go out and a marketing send is refused at night
    for hour in (10, 11, 22):
        notice = request_send(
            session,
            world.brand.id,
            member.id,
            channel=SMS,
            purpose=TRANSACTIONAL,
            at=NOON.replace(hour=hour),
        )
        assert notice.allowed
    night = marketing_sms(session, world, member.id, NOON.replace(hour=22))
    # then none of them used the day's marketing allowance
    assert night.reason is SendReason.QUIET_HOURS
    assert night.next_allowed_at == datetime(2026, 11, 19, 9, tzinfo=SHANGHAI)
    first = marketing_sms(session, world, member.id, NOON)
    assert first.allowed and first.send_id is not None
    # when a second marketing SMS is asked for the same local day
    second = marketing_sms(session, world, member.id, NOON.replace(hour=13))
    # then the day cap refuses it until tomorrow's end of quiet hours
    assert second.reason is SendReason.FREQUENCY_CAP_DAY
    assert second.next_allowed_at == datetime(2026, 11, 19, 9, tzinfo=SHANGHAI)
    # when the platform did not take the first one, the day's allowance is back
    release_send(session, world.brand.id, first.send_id, accepted_by_platform=False)
    assert marketing_sms(session, world, member.id, NOON.replace(hour=14)).allowed
    assert sends(session, member.id) == [
        (True, "allowed"),
        (True, "allowed"),
        (True, "allowed"),
        (False, "quiet_hours"),
        (True, "allowed"),
        (False, "frequency_cap_day"),
        (True, "allowed"),
    ]


def test_the_week_cap_counts_local_weeks(session: Session, world: World) -> None:
    # given SMS capped at 1 a week and no quiet hours
    use_policy(
        session,
        world,
        channels={SMS: ChannelPolicyIn(opt_out_based=False, daily_cap=None, weekly_cap=1)},
    )
    member = make_member(session, world)
    opt_in(session, world, member.id)
    sunday_late = datetime(2026, 11, 22, 23, 30, tzinfo=SHANGHAI)
    monday_early = datetime(2026, 11, 23, 0, 30, tzinfo=SHANGHAI)
    assert sunday_late.astimezone(UTC).date() == monday_early.astimezone(UTC).date()
    # when one goes out on Monday of the week, one on Sunday night, one on Monday 00:30
    monday = marketing_sms(session, world, member.id, datetime(2026, 11, 16, 10, tzinfo=SHANGHAI))
    sunday = marketing_sms(session, world, member.id, sunday_late)
    next_monday = marketing_sms(session, world, member.id, monday_early)
    # then Sunday night is over the week's cap and Monday 00:30 starts a new week
    assert monday.allowed
    assert sunday.reason is SendReason.FREQUENCY_CAP_WEEK
    assert sunday.next_allowed_at == datetime(2026, 11, 23, 0, tzinfo=SHANGHAI)
    assert next_monday.allowed


def test_transactional_bypasses_opt_out_caps_and_quiet_hours_but_not_the_credit(
    session: Session, world: World
) -> None:
    # given a member who opted out of subscribe messages and SMS, at 23:00 local
    use_policy(
        session,
        world,
        quiet=(time(21), time(9)),
        channels={SMS: ChannelPolicyIn(daily_cap=0, weekly_cap=0)},
    )
    member = make_member(session, world)
    for channel in (SUB, SMS):
        change_consent(
            session,
            world.brand.id,
            member.id,
            channel=channel,
            opted_in=False,
            changed_by=ChangedBy.CONSUMER,
            source="storefront",
        )
    night = NOON.replace(hour=23)
    # when order notices are asked for, and the same as marketing
    sms_notice = request_send(
        session, world.brand.id, member.id, channel=SMS, purpose=TRANSACTIONAL, at=night
    )
    no_credit = request_send(
        session,
        world.brand.id,
        member.id,
        channel=SUB,
        purpose=TRANSACTIONAL,
        template_id=TEMPLATE,
        at=night,
    )
    subscribe(session, world.brand.id, member.id, TEMPLATE)
    with_credit = request_send(
        session,
        world.brand.id,
        member.id,
        channel=SUB,
        purpose=TRANSACTIONAL,
        template_id=TEMPLATE,
        at=night,
    )
    marketing = marketing_sms(session, world, member.id, night)
    # then the notices pass (the subscribe message only with a credit); marketing does not
    assert sms_notice.allowed
    assert no_credit.reason is SendReason.NO_SUBSCRIPTION_CREDIT
    assert with_credit.allowed
    assert marketing.reason is SendReason.OPTED_OUT


def test_missing_merged_and_unreachable_members_are_refused_and_recorded(
    session: Session, world: World
) -> None:
    # given a member without a phone, two members merged, and an id nobody has
    no_phone = make_member(session, world, with_phone=False)
    survivor = make_member(session, world, with_phone=False)
    merged = make_member(session, world, with_phone=False)
    merge_members(session, world.brand.id, survivor.id, merged.id, reason="test")
    # when transactional SMS are asked for
    decisions = [
        request_send(
            session, world.brand.id, member_id, channel=SMS, purpose=TRANSACTIONAL, at=NOON
        )
        for member_id in (no_phone.id, merged.id, 10**9)
    ]
    # then each is refused with its reason and written to the ledger
    assert [d.reason for d in decisions] == [
        SendReason.CHANNEL_UNREACHABLE,
        SendReason.MEMBER_MERGED_OR_MISSING,
        SendReason.MEMBER_MERGED_OR_MISSING,
    ]
    rows = session.scalars(select(ConsentSend).order_by(ConsentSend.id)).all()
    assert [(r.requested_member_id, r.member_id, r.allowed) for r in rows] == [
        (no_phone.id, no_phone.id, False),
        (merged.id, merged.id, False),
        (10**9, None, False),
    ]


# ---------------------------------------------------------------- the opt-out ledger


def test_consent_changes_are_an_append_only_history(session: Session, world: World) -> None:
    # given a member who opts in, repeats it, then opts out through a link
    member = make_member(session, world)
    first = datetime(2026, 11, 1, 10, tzinfo=UTC)
    for opted_in, by, at in (
        (True, ChangedBy.CONSUMER, first),
        (True, ChangedBy.CONSUMER, first + timedelta(days=1)),
        (False, ChangedBy.UNSUBSCRIBE_LINK, first + timedelta(days=2)),
    ):
        if by is ChangedBy.UNSUBSCRIBE_LINK:
            unsubscribe(session, world.brand.id, member.id, SMS, source="sms-link", at=at)
        else:
            change_consent(
                session,
                world.brand.id,
                member.id,
                channel=SMS,
                opted_in=opted_in,
                changed_by=by,
                source="storefront",
                at=at,
            )
    # then the history holds the two real changes, newest first, and the state the last
    consent = member_consent(session, world.brand.id, member.id)
    assert [(c.opted_in, c.changed_by.value, c.source, c.occurred_at) for c in consent.changes] == [
        (False, "unsubscribe_link", "sms-link", first + timedelta(days=2)),
        (True, "consumer", "storefront", first),
    ]
    sms = next(c for c in consent.channels if c.channel is SMS)
    assert (sms.opted_in, sms.chosen, sms.changed_by) == (False, False, ChangedBy.UNSUBSCRIBE_LINK)
    assert [e["opted_in"] for e in events_of(session, "MemberConsentChanged")] == [True, False]


def test_an_import_records_consent_as_imported(session: Session, world: World) -> None:
    # given a POS member who agreed to SMS marketing at the counter
    member = make_member(session, world)
    at = datetime(2026, 10, 1, 2, tzinfo=UTC)
    # when the import records it (by an operator allowed to run imports)
    change = record_imported_consent(
        session,
        world.system,
        member.id,
        channel=SMS,
        opted_in=True,
        source="pos-2026-10.csv",
        at=at,
    )
    # then the ledger says who and where, and marketing SMS may go out
    assert change is not None
    assert (change.changed_by, change.source, change.occurred_at) == (
        "import",
        "pos-2026-10.csv",
        at,
    )
    assert marketing_sms(session, world, member.id, NOON).allowed


def test_a_merge_keeps_the_latest_choice_of_either_profile(session: Session, world: World) -> None:
    # given a survivor whose SMS row is only a send's lock anchor, and a merged profile that
    # opted out of SMS
    survivor = make_member(session, world, with_phone=False)
    merged = make_member(session, world)
    marketing_sms(session, world, survivor.id, NOON)
    change_consent(
        session,
        world.brand.id,
        merged.id,
        channel=SMS,
        opted_in=False,
        changed_by=ChangedBy.CONSUMER,
        source="storefront",
        at=NOON,
    )
    # when they are merged and the merge event is delivered
    merge_members(session, world.brand.id, survivor.id, merged.id, reason="test")
    session.flush()
    event = session.scalars(
        select(OutboxEvent).where(OutboxEvent.event_type == "MembersMerged")
    ).one()
    reconcile_merged_member(session, event)
    reconcile_merged_member(session, event)  # delivered twice: no change
    # then the survivor carries the opt-out and its history
    state = session.scalars(
        select(ConsentState).where(
            ConsentState.member_id == survivor.id, ConsentState.channel == "sms"
        )
    ).one()
    assert (state.opted_in, state.changed_by) == (False, "consumer")
    assert session.scalars(select(ConsentChange.member_id)).all() == [survivor.id]
    assert marketing_sms(session, world, survivor.id, NOON).reason is SendReason.OPTED_OUT


# ---------------------------------------------------------------- locking


def race(db: Database, brand_id: int, member_id: int, **ask: Any) -> list[SendDecision]:
    """Ask the door twice for the same send: the second in another thread and transaction
    while the first has decided but not committed. Asserts the second waits for the first's
    locks; returns both decisions in order."""
    decisions: list[SendDecision] = []

    def ask_again() -> None:
        with db.unit_of_work() as other:
            decisions.append(request_send(other, brand_id, member_id, **ask))

    with db.unit_of_work() as first:
        decisions.append(request_send(first, brand_id, member_id, **ask))
        thread = threading.Thread(target=ask_again)
        thread.start()
        thread.join(timeout=1.0)
        assert thread.is_alive(), "the second send did not wait for the first one's lock"
    thread.join(timeout=30)
    assert not thread.is_alive()
    return decisions


def test_a_concurrent_second_send_waits_and_finds_the_credit_spent(
    db: Database, session: Session, world: World
) -> None:
    # given a member with one credit
    member = make_member(session, world)
    subscribe(session, world.brand.id, member.id, TEMPLATE)
    session.commit()
    # when one transaction is allowed the send and, before it commits, another asks too
    first, second = race(
        db, world.brand.id, member.id, channel=SUB, purpose=MARKETING, template_id=TEMPLATE, at=NOON
    )
    # then the second waited and, once the first committed, found the credit spent
    assert first.allowed
    assert second.reason is SendReason.NO_SUBSCRIPTION_CREDIT
    assert sends(session, member.id) == [(True, "allowed"), (False, "no_subscription_credit")]
    assert session.scalar(select(Subscription.consumed_at)) == NOON


def test_concurrent_marketing_sends_cannot_pass_the_day_cap(
    db: Database, session: Session, world: World
) -> None:
    # given an opted-in member and SMS capped at one a day
    use_policy(session, world, channels={SMS: ChannelPolicyIn(daily_cap=1, weekly_cap=None)})
    member = make_member(session, world)
    opt_in(session, world, member.id)
    session.commit()
    # when two transactions ask at the same time
    first, second = race(db, world.brand.id, member.id, channel=SMS, purpose=MARKETING, at=NOON)
    # then exactly one is allowed
    assert first.allowed
    assert second.reason is SendReason.FREQUENCY_CAP_DAY
    assert sends(session, member.id) == [(True, "allowed"), (False, "frequency_cap_day")]
