"""The consent rules without a database: each refusal reason, quiet hours wrapping midnight in
Asia/Shanghai, day and week boundaries in local time, purpose bypasses and next_allowed_at."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from siyu.consent.rules import (
    DEFAULT_POLICY,
    Channel,
    ChannelPolicy,
    MemberStatus,
    Policy,
    Purpose,
    PurposeBypass,
    QuietHours,
    SendFacts,
    SendReason,
    decide,
    local_day,
    quiet_hours_end,
    reachable_channels,
    week_start,
)
from siyu.core.clock import SHANGHAI

SMS = Channel.SMS
SUB = Channel.SUBSCRIBE_MESSAGE
MARKETING = Purpose.MARKETING
TRANSACTIONAL = Purpose.TRANSACTIONAL
SERVICE = Purpose.SERVICE

# A policy with every knob visible: SMS opt-in based with 1/day and 2/week, WeCom opt-out
# based, quiet hours 21:00-09:00 local.
POLICY = Policy(
    timezone="Asia/Shanghai",
    quiet_hours=QuietHours(time(21, 0), time(9, 0)),
    channels={
        Channel.SMS: ChannelPolicy(opt_out_based=False, daily_cap=1, weekly_cap=2),
        Channel.WECOM: ChannelPolicy(opt_out_based=True, daily_cap=None, weekly_cap=None),
        Channel.SUBSCRIBE_MESSAGE: ChannelPolicy(opt_out_based=True),
    },
    bypasses={
        Purpose.TRANSACTIONAL: PurposeBypass(opt_out=True, caps=True, quiet_hours=True),
        Purpose.SERVICE: PurposeBypass(opt_out=True, caps=True, quiet_hours=False),
    },
)


def shanghai(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


# 2026-11-18 is a Wednesday.
WEDNESDAY_NOON = shanghai(2026, 11, 18, 12)
OPTED_IN = SendFacts(opted_in=True)


@pytest.mark.parametrize(
    ("facts", "channel", "purpose", "now", "reason", "next_allowed_at"),
    [
        # allowed: opted in, under the caps, at noon
        (OPTED_IN, SMS, MARKETING, WEDNESDAY_NOON, SendReason.ALLOWED, None),
        # a merged or missing member
        (
            SendFacts(member_status=MemberStatus.MERGED),
            SMS,
            MARKETING,
            WEDNESDAY_NOON,
            SendReason.MEMBER_MERGED_OR_MISSING,
            None,
        ),
        (
            SendFacts(member_status=MemberStatus.MISSING),
            SMS,
            TRANSACTIONAL,
            WEDNESDAY_NOON,
            SendReason.MEMBER_MERGED_OR_MISSING,
            None,
        ),
        # no phone: SMS cannot reach them, whatever the purpose
        (
            SendFacts(opted_in=True, reachable=False),
            SMS,
            TRANSACTIONAL,
            WEDNESDAY_NOON,
            SendReason.CHANNEL_UNREACHABLE,
            None,
        ),
        # opt-in based channel, never chose: opted out
        (SendFacts(), SMS, MARKETING, WEDNESDAY_NOON, SendReason.OPTED_OUT, None),
        # explicitly opted out
        (SendFacts(opted_in=False), SMS, MARKETING, WEDNESDAY_NOON, SendReason.OPTED_OUT, None),
        # opt-out based channel, never chose: allowed
        (SendFacts(), Channel.WECOM, MARKETING, WEDNESDAY_NOON, SendReason.ALLOWED, None),
        # opt-out based channel, opted out
        (
            SendFacts(opted_in=False),
            Channel.WECOM,
            MARKETING,
            WEDNESDAY_NOON,
            SendReason.OPTED_OUT,
            None,
        ),
        # a subscribe message without a credit
        (
            SendFacts(credits=0),
            SUB,
            MARKETING,
            WEDNESDAY_NOON,
            SendReason.NO_SUBSCRIPTION_CREDIT,
            None,
        ),
        (SendFacts(credits=1), SUB, MARKETING, WEDNESDAY_NOON, SendReason.ALLOWED, None),
        # transactional still needs the credit on subscribe messages (WeChat's rule)
        (
            SendFacts(opted_in=False, credits=0),
            SUB,
            TRANSACTIONAL,
            shanghai(2026, 11, 18, 23),
            SendReason.NO_SUBSCRIPTION_CREDIT,
            None,
        ),
        (
            SendFacts(opted_in=False, credits=1),
            SUB,
            TRANSACTIONAL,
            shanghai(2026, 11, 18, 23),
            SendReason.ALLOWED,
            None,
        ),
        # quiet hours: 22:00 -> allowed at 09:00 the next morning
        (
            OPTED_IN,
            SMS,
            MARKETING,
            shanghai(2026, 11, 18, 22),
            SendReason.QUIET_HOURS,
            shanghai(2026, 11, 19, 9),
        ),
        # quiet hours after midnight: 03:00 -> 09:00 the same day
        (
            OPTED_IN,
            SMS,
            MARKETING,
            shanghai(2026, 11, 19, 3),
            SendReason.QUIET_HOURS,
            shanghai(2026, 11, 19, 9),
        ),
        # the quiet hours' edges: 21:00 is quiet, 09:00 is not, 20:59 is not
        (
            OPTED_IN,
            SMS,
            MARKETING,
            shanghai(2026, 11, 18, 21),
            SendReason.QUIET_HOURS,
            shanghai(2026, 11, 19, 9),
        ),
        (OPTED_IN, SMS, MARKETING, shanghai(2026, 11, 19, 9), SendReason.ALLOWED, None),
        (OPTED_IN, SMS, MARKETING, shanghai(2026, 11, 18, 20, 59), SendReason.ALLOWED, None),
        # service ignores opt-out and caps but not quiet hours; transactional ignores all three
        (
            SendFacts(opted_in=False, day_count=5, week_count=9),
            SMS,
            SERVICE,
            WEDNESDAY_NOON,
            SendReason.ALLOWED,
            None,
        ),
        (
            SendFacts(opted_in=False),
            SMS,
            SERVICE,
            shanghai(2026, 11, 18, 23),
            SendReason.QUIET_HOURS,
            shanghai(2026, 11, 19, 9),
        ),
        (
            SendFacts(opted_in=False, day_count=5, week_count=9),
            SMS,
            TRANSACTIONAL,
            shanghai(2026, 11, 18, 23),
            SendReason.ALLOWED,
            None,
        ),
        # the day cap: tomorrow, once the quiet hours are over
        (
            SendFacts(opted_in=True, day_count=1, week_count=1),
            SMS,
            MARKETING,
            WEDNESDAY_NOON,
            SendReason.FREQUENCY_CAP_DAY,
            shanghai(2026, 11, 19, 9),
        ),
        # the week cap: next local Monday, once the quiet hours are over
        (
            SendFacts(opted_in=True, day_count=0, week_count=2),
            SMS,
            MARKETING,
            WEDNESDAY_NOON,
            SendReason.FREQUENCY_CAP_WEEK,
            shanghai(2026, 11, 23, 9),
        ),
        # quiet hours and the day cap together: the quiet hours end on a new day
        (
            SendFacts(opted_in=True, day_count=1, week_count=1),
            SMS,
            MARKETING,
            shanghai(2026, 11, 18, 22),
            SendReason.QUIET_HOURS,
            shanghai(2026, 11, 19, 9),
        ),
        # day cap then week cap: tomorrow would still be over the week's cap
        (
            SendFacts(opted_in=True, day_count=1, week_count=2),
            SMS,
            MARKETING,
            WEDNESDAY_NOON,
            SendReason.FREQUENCY_CAP_DAY,
            shanghai(2026, 11, 23, 9),
        ),
        # Sunday 20:00 at the week cap: Monday 00:00 is quiet, so 09:00 Monday
        (
            SendFacts(opted_in=True, day_count=0, week_count=2),
            SMS,
            MARKETING,
            shanghai(2026, 11, 22, 20),
            SendReason.FREQUENCY_CAP_WEEK,
            shanghai(2026, 11, 23, 9),
        ),
    ],
)
def test_decisions(
    facts: SendFacts,
    channel: Channel,
    purpose: Purpose,
    now: datetime,
    reason: SendReason,
    next_allowed_at: datetime | None,
) -> None:
    verdict = decide(facts, POLICY, channel=channel, purpose=purpose, now=now)
    assert verdict.reason is reason
    assert verdict.allowed is (reason is SendReason.ALLOWED)
    assert verdict.next_allowed_at == next_allowed_at


def test_the_checks_run_in_a_fixed_order() -> None:
    # given a member who is unreachable, opted out, without credit, at night, over every cap
    everything_wrong = SendFacts(reachable=False, opted_in=False, day_count=9, week_count=9)
    night = shanghai(2026, 11, 18, 23)
    # then each check reports in turn as the ones before it are fixed
    steps = [
        (everything_wrong, SendReason.CHANNEL_UNREACHABLE),
        (SendFacts(opted_in=False, day_count=9, week_count=9), SendReason.OPTED_OUT),
        (SendFacts(opted_in=True, day_count=9, week_count=9), SendReason.NO_SUBSCRIPTION_CREDIT),
        (SendFacts(opted_in=True, credits=1, day_count=9, week_count=9), SendReason.QUIET_HOURS),
    ]
    capped = Policy(
        quiet_hours=POLICY.quiet_hours,
        channels={SUB: ChannelPolicy(opt_out_based=False, daily_cap=1, weekly_cap=2)},
    )
    for facts, reason in steps:
        assert decide(facts, capped, channel=SUB, purpose=MARKETING, now=night).reason is reason
    noon = decide(steps[-1][0], capped, channel=SUB, purpose=MARKETING, now=WEDNESDAY_NOON)
    assert noon.reason is SendReason.FREQUENCY_CAP_DAY


def test_marketing_can_never_bypass_anything() -> None:
    # given a policy that (wrongly) tries to let marketing skip everything
    policy = Policy(
        quiet_hours=POLICY.quiet_hours,
        bypasses={MARKETING: PurposeBypass(opt_out=True, caps=True, quiet_hours=True)},
    )
    # then marketing is still refused when opted out
    verdict = decide(
        SendFacts(opted_in=False), policy, channel=SMS, purpose=MARKETING, now=WEDNESDAY_NOON
    )
    assert verdict.reason is SendReason.OPTED_OUT
    assert policy.capped_purposes() >= {MARKETING}


@pytest.mark.parametrize(
    ("facts", "reason", "next_allowed_at"),
    [
        (
            SendFacts(opted_in=True, day_count=1, week_count=1),
            SendReason.FREQUENCY_CAP_DAY,
            shanghai(2026, 11, 19, 0),
        ),
        (
            SendFacts(opted_in=True, day_count=0, week_count=2),
            SendReason.FREQUENCY_CAP_WEEK,
            shanghai(2026, 11, 23, 0),
        ),
    ],
)
def test_without_quiet_hours_caps_reopen_at_local_midnight(
    facts: SendFacts, reason: SendReason, next_allowed_at: datetime
) -> None:
    policy = Policy(channels=POLICY.channels)
    verdict = decide(facts, policy, channel=SMS, purpose=MARKETING, now=WEDNESDAY_NOON)
    assert (verdict.reason, verdict.next_allowed_at) == (reason, next_allowed_at)


def test_a_cap_of_zero_blocks_the_channel_with_no_next_time() -> None:
    policy = Policy(channels={SMS: ChannelPolicy(daily_cap=0)})
    verdict = decide(OPTED_IN, policy, channel=SMS, purpose=MARKETING, now=WEDNESDAY_NOON)
    assert (verdict.reason, verdict.next_allowed_at) == (SendReason.FREQUENCY_CAP_DAY, None)


@pytest.mark.parametrize(
    ("moment_utc", "day"),
    [
        # 15:59 UTC is 23:59 in Shanghai, 16:00 UTC is the next local day
        (datetime(2026, 11, 22, 15, 59, tzinfo=UTC), date(2026, 11, 22)),
        (datetime(2026, 11, 22, 16, 0, tzinfo=UTC), date(2026, 11, 23)),
    ],
)
def test_local_days_follow_shanghai_not_utc(moment_utc: datetime, day: date) -> None:
    assert local_day(moment_utc, SHANGHAI) == day


def test_weeks_start_on_monday_in_local_time() -> None:
    # given Sunday 23:30 and Monday 00:30 in Shanghai: both Sunday in UTC
    sunday_late = shanghai(2026, 11, 22, 23, 30)
    monday_early = shanghai(2026, 11, 23, 0, 30)
    assert sunday_late.astimezone(UTC).date() == monday_early.astimezone(UTC).date()
    # then they fall into different local weeks
    assert week_start(local_day(sunday_late, SHANGHAI)) == date(2026, 11, 16)
    assert week_start(local_day(monday_early, SHANGHAI)) == date(2026, 11, 23)


def test_week_cap_resets_at_local_monday_even_while_utc_is_still_sunday() -> None:
    # given a member at the week cap on Sunday evening in Shanghai (SMS, no quiet hours)
    policy = Policy(channels={SMS: ChannelPolicy(daily_cap=None, weekly_cap=2)})
    full = SendFacts(opted_in=True, week_count=2)
    sunday = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)  # 20:00 Sunday in Shanghai
    verdict = decide(full, policy, channel=SMS, purpose=MARKETING, now=sunday)
    # then the next allowed moment is Monday 00:00 Shanghai = Sunday 16:00 UTC
    assert verdict.reason is SendReason.FREQUENCY_CAP_WEEK
    assert verdict.next_allowed_at == datetime(2026, 11, 22, 16, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "end", "local", "covered"),
    [
        (time(21), time(9), time(20, 59), False),
        (time(21), time(9), time(21), True),
        (time(21), time(9), time(0), True),
        (time(21), time(9), time(8, 59), True),
        (time(21), time(9), time(9), False),
        (time(13), time(14), time(13, 30), True),  # a lunchtime window, not wrapping
        (time(13), time(14), time(14), False),
        (time(13), time(14), time(12, 59), False),
    ],
)
def test_quiet_hours_cover_their_window(start: time, end: time, local: time, covered: bool) -> None:
    assert QuietHours(start, end).covers(local) is covered


def test_quiet_hours_must_not_be_empty() -> None:
    with pytest.raises(ValueError, match="same time"):
        QuietHours(time(9), time(9))


def test_the_end_of_quiet_hours_in_utc() -> None:
    # 23:00 Shanghai (15:00 UTC) -> 09:00 Shanghai next day (01:00 UTC)
    quiet = QuietHours(time(21), time(9))
    end = quiet_hours_end(quiet, datetime(2026, 11, 18, 15, 0, tzinfo=UTC), SHANGHAI)
    assert end.astimezone(UTC) == datetime(2026, 11, 19, 1, 0, tzinfo=UTC)


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        decide(OPTED_IN, POLICY, channel=SMS, purpose=MARKETING, now=datetime(2026, 11, 18, 12))


@pytest.mark.parametrize(
    ("kinds", "has_phone", "reachable"),
    [
        (frozenset(), False, frozenset()),
        (frozenset({"mini_program_openid"}), False, {Channel.SUBSCRIBE_MESSAGE}),
        (frozenset({"official_account_openid"}), False, {Channel.OFFICIAL_ACCOUNT}),
        (frozenset({"wecom_external_userid"}), False, {Channel.WECOM, Channel.COMMUNITY}),
        (frozenset({"unionid"}), False, {Channel.COMMUNITY}),
        (frozenset({"pos_member_number"}), True, {Channel.SMS}),
        (frozenset({"phone"}), False, {Channel.SMS}),
    ],
)
def test_reachable_channels(
    kinds: frozenset[str], has_phone: bool, reachable: set[Channel]
) -> None:
    assert reachable_channels(kinds, has_phone) == reachable


def test_the_default_policy_is_protective() -> None:
    # SMS and official-account marketing need an opt-in; the rest are opt-out based
    assert not DEFAULT_POLICY.channel(SMS).opt_out_based
    assert not DEFAULT_POLICY.channel(Channel.OFFICIAL_ACCOUNT).opt_out_based
    assert DEFAULT_POLICY.channel(Channel.WECOM).opt_out_based
    # only marketing is capped; quiet hours are 21:00-09:00
    assert DEFAULT_POLICY.capped_purposes() == {MARKETING}
    assert DEFAULT_POLICY.quiet_hours == QuietHours(time(21), time(9))
