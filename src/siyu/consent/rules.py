"""Consent rules: whether a message may reach a member now, and if not, why and when. Pure.

A decision is made from the member's facts (``SendFacts``: does the member exist, can the
channel reach them, their explicit marketing choice, subscribe-message credits, how many
capped sends they had today and this week), the brand's ``Policy`` and the moment of the send.
Checks run in a fixed order, the lasting refusals before the ones that pass with time, so a
time-based refusal can say when the send would be allowed (``next_allowed_at``):

1. member_merged_or_missing, 2. channel_unreachable, 3. opted_out (unless the purpose bypasses
opt-out), 4. no_subscription_credit (subscribe messages, every purpose: WeChat's rule),
5. quiet_hours, 6. frequency_cap_day, 7. frequency_cap_week (unless the purpose bypasses them).

Days and weeks are the brand's local ones (ISO weeks, Monday 00:00); quiet hours are local
times and may wrap midnight (21:00-09:00). Marketing never bypasses anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo


class Channel(StrEnum):
    SUBSCRIBE_MESSAGE = "subscribe_message"  # mini-program one-time subscribe messages
    OFFICIAL_ACCOUNT = "official_account"  # template and mass messages
    WECOM = "wecom"  # a guide's 1:1 messages and moments
    COMMUNITY = "community"  # group messages
    SMS = "sms"


class Purpose(StrEnum):
    TRANSACTIONAL = "transactional"  # order, pickup and refund notices
    SERVICE = "service"
    MARKETING = "marketing"


class SendReason(StrEnum):
    ALLOWED = "allowed"
    OPTED_OUT = "opted_out"
    NO_SUBSCRIPTION_CREDIT = "no_subscription_credit"
    FREQUENCY_CAP_DAY = "frequency_cap_day"
    FREQUENCY_CAP_WEEK = "frequency_cap_week"
    QUIET_HOURS = "quiet_hours"
    MEMBER_MERGED_OR_MISSING = "member_merged_or_missing"
    CHANNEL_UNREACHABLE = "channel_unreachable"


class ChangedBy(StrEnum):
    """Who changed a member's marketing consent."""

    CONSUMER = "consumer"
    STAFF = "staff"
    IMPORT = "import"
    UNSUBSCRIBE_LINK = "unsubscribe_link"


class SubscriptionResult(StrEnum):
    """What wx.requestSubscribeMessage answered for one template."""

    ACCEPT = "accept"
    REJECT = "reject"  # the user refused
    BAN = "ban"  # the platform banned the template
    FILTER = "filter"  # the platform filtered the template (duplicate title)


REFUSING_RESULTS = frozenset({SubscriptionResult.REJECT, SubscriptionResult.BAN})


class MemberStatus(StrEnum):
    ACTIVE = "active"
    MERGED = "merged"
    MISSING = "missing"


CHANNEL_LABELS: dict[Channel, str] = {
    Channel.SUBSCRIBE_MESSAGE: "订阅消息",
    Channel.OFFICIAL_ACCOUNT: "公众号",
    Channel.WECOM: "企业微信",
    Channel.COMMUNITY: "社群",
    Channel.SMS: "短信",
}

REASON_LABELS: dict[SendReason, str] = {
    SendReason.ALLOWED: "允许",
    SendReason.OPTED_OUT: "已退订",
    SendReason.NO_SUBSCRIPTION_CREDIT: "无订阅次数",
    SendReason.FREQUENCY_CAP_DAY: "超出日频次",
    SendReason.FREQUENCY_CAP_WEEK: "超出周频次",
    SendReason.QUIET_HOURS: "免打扰时段",
    SendReason.MEMBER_MERGED_OR_MISSING: "会员已合并或不存在",
    SendReason.CHANNEL_UNREACHABLE: "渠道不可达",
}


@dataclass(frozen=True)
class ChannelPolicy:
    """Marketing rules of one channel. ``opt_out_based``: members receive marketing until they
    opt out (otherwise not until they opt in). A cap of None is no cap; 0 blocks the channel."""

    opt_out_based: bool = False
    daily_cap: int | None = None
    weekly_cap: int | None = None


@dataclass(frozen=True)
class PurposeBypass:
    """Which marketing protections a purpose skips. Subscribe credits are never skipped."""

    opt_out: bool = False
    caps: bool = False
    quiet_hours: bool = False


NO_BYPASS = PurposeBypass()


@dataclass(frozen=True)
class QuietHours:
    """Local hours without marketing, [start, end); start after end wraps midnight."""

    start: time
    end: time

    def __post_init__(self) -> None:
        if self.start == self.end:
            raise ValueError("quiet hours must not start and end at the same time")

    def covers(self, local: time) -> bool:
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


@dataclass(frozen=True)
class Policy:
    timezone: str = "Asia/Shanghai"
    quiet_hours: QuietHours | None = None
    channels: Mapping[Channel, ChannelPolicy] = field(default_factory=dict)
    bypasses: Mapping[Purpose, PurposeBypass] = field(default_factory=dict)

    def channel(self, channel: Channel) -> ChannelPolicy:
        return self.channels.get(channel, DEFAULT_CHANNELS[channel])

    def bypass(self, purpose: Purpose) -> PurposeBypass:
        if purpose is Purpose.MARKETING:
            return NO_BYPASS
        return self.bypasses.get(purpose, DEFAULT_BYPASSES[purpose])

    def capped_purposes(self) -> frozenset[Purpose]:
        """The purposes whose allowed sends count toward the caps (marketing at least)."""
        return frozenset(p for p in Purpose if not self.bypass(p).caps)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


# The defaults follow the platforms' own limits (shared notes, "Messaging limits and
# consent"): WeCom lets a guide send a customer one mass message a day; an official account
# reaches a follower four times a month; a subscribe message is gated by its credit already.
# Channels where the member took the first step (accepting a template, adding a guide,
# joining a group) are opt-out based; the others need an explicit opt-in.
DEFAULT_CHANNELS: dict[Channel, ChannelPolicy] = {
    Channel.SUBSCRIBE_MESSAGE: ChannelPolicy(opt_out_based=True),
    Channel.OFFICIAL_ACCOUNT: ChannelPolicy(opt_out_based=False, daily_cap=1, weekly_cap=1),
    Channel.WECOM: ChannelPolicy(opt_out_based=True, daily_cap=1, weekly_cap=7),
    Channel.COMMUNITY: ChannelPolicy(opt_out_based=True, daily_cap=1, weekly_cap=7),
    Channel.SMS: ChannelPolicy(opt_out_based=False, daily_cap=1, weekly_cap=2),
}
DEFAULT_BYPASSES: dict[Purpose, PurposeBypass] = {
    Purpose.TRANSACTIONAL: PurposeBypass(opt_out=True, caps=True, quiet_hours=True),
    Purpose.SERVICE: PurposeBypass(opt_out=True, caps=True, quiet_hours=False),
    Purpose.MARKETING: NO_BYPASS,
}
DEFAULT_QUIET_HOURS = QuietHours(time(21, 0), time(9, 0))
DEFAULT_POLICY = Policy(
    quiet_hours=DEFAULT_QUIET_HOURS, channels=DEFAULT_CHANNELS, bypasses=DEFAULT_BYPASSES
)


@dataclass(frozen=True)
class SendFacts:
    """What the database knows of one member for one send.

    ``opted_in`` is the member's explicit marketing choice on the channel (None: never made,
    the brand default applies). ``credits`` counts unused accepted subscriptions of the
    template; ``day_count``/``week_count`` the allowed, unreleased sends of capped purposes on
    the channel in the local day/week of the send."""

    member_status: MemberStatus = MemberStatus.ACTIVE
    reachable: bool = True
    opted_in: bool | None = None
    credits: int = 0
    day_count: int = 0
    week_count: int = 0


@dataclass(frozen=True)
class Verdict:
    reason: SendReason
    next_allowed_at: datetime | None = None

    @property
    def allowed(self) -> bool:
        return self.reason is SendReason.ALLOWED


def local_day(moment: datetime, zone: ZoneInfo) -> date:
    return _aware(moment).astimezone(zone).date()


def week_start(day: date) -> date:
    """The Monday of ``day``'s ISO week."""
    return day - timedelta(days=day.weekday())


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: consent decisions need timezone-aware times")
    return moment


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone)


def quiet_hours_end(quiet: QuietHours, moment: datetime, zone: ZoneInfo) -> datetime:
    """The first moment at or after ``moment`` outside the quiet hours."""
    local = _aware(moment).astimezone(zone)
    if not quiet.covers(local.time()):
        return moment
    end_day = local.date()
    if quiet.start > quiet.end and local.time() >= quiet.start:
        end_day += timedelta(days=1)
    return datetime.combine(end_day, quiet.end, tzinfo=zone)


def is_opted_in(opted_in: bool | None, channel_policy: ChannelPolicy) -> bool:
    """The effective marketing consent: the explicit choice, else the brand's default."""
    return channel_policy.opt_out_based if opted_in is None else opted_in


def _timed_refusal(
    facts: SendFacts,
    channel_policy: ChannelPolicy,
    quiet: QuietHours | None,
    now: datetime,
    zone: ZoneInfo,
) -> SendReason | None:
    """The first time-based refusal at ``now`` (quiet hours, then day cap, then week cap)."""
    if quiet is not None and quiet.covers(now.astimezone(zone).time()):
        return SendReason.QUIET_HOURS
    if channel_policy.daily_cap is not None and facts.day_count >= channel_policy.daily_cap:
        return SendReason.FREQUENCY_CAP_DAY
    if channel_policy.weekly_cap is not None and facts.week_count >= channel_policy.weekly_cap:
        return SendReason.FREQUENCY_CAP_WEEK
    return None


def next_allowed_at(
    facts: SendFacts,
    channel_policy: ChannelPolicy,
    quiet: QuietHours | None,
    now: datetime,
    zone: ZoneInfo,
) -> datetime | None:
    """The earliest moment from ``now`` when quiet hours and caps all pass, assuming no other
    send happens meanwhile (a later local day starts at 0 sends, a later week too); None when
    a cap of 0 means never."""
    if channel_policy.daily_cap == 0 or channel_policy.weekly_cap == 0:
        return None
    today = local_day(now, zone)
    candidate = now
    # Each pass moves past one obstacle; quiet hours, a day and a week settle in a few passes.
    for _ in range(8):
        day = local_day(candidate, zone)
        shifted = SendFacts(
            day_count=facts.day_count if day == today else 0,
            week_count=facts.week_count if week_start(day) == week_start(today) else 0,
        )
        refusal = _timed_refusal(shifted, channel_policy, quiet, candidate, zone)
        if refusal is None:
            return candidate
        if refusal is SendReason.QUIET_HOURS:
            assert quiet is not None
            candidate = quiet_hours_end(quiet, candidate, zone)
        elif refusal is SendReason.FREQUENCY_CAP_DAY:
            candidate = _local_midnight(day + timedelta(days=1), zone)
        else:
            candidate = _local_midnight(week_start(day) + timedelta(days=7), zone)
    return None  # pragma: no cover - the obstacles above clear within three passes


def decide(
    facts: SendFacts,
    policy: Policy,
    *,
    channel: Channel,
    purpose: Purpose,
    now: datetime,
) -> Verdict:
    """Whether a send of ``purpose`` on ``channel`` to this member may happen at ``now``."""
    _aware(now)
    if facts.member_status is not MemberStatus.ACTIVE:
        return Verdict(SendReason.MEMBER_MERGED_OR_MISSING)
    if not facts.reachable:
        return Verdict(SendReason.CHANNEL_UNREACHABLE)
    channel_policy = policy.channel(channel)
    bypass = policy.bypass(purpose)
    if not bypass.opt_out and not is_opted_in(facts.opted_in, channel_policy):
        return Verdict(SendReason.OPTED_OUT)
    if channel is Channel.SUBSCRIBE_MESSAGE and facts.credits <= 0:
        return Verdict(SendReason.NO_SUBSCRIPTION_CREDIT)
    quiet = None if bypass.quiet_hours else policy.quiet_hours
    caps = ChannelPolicy() if bypass.caps else channel_policy
    zone = policy.zone
    refusal = _timed_refusal(facts, caps, quiet, now, zone)
    if refusal is None:
        return Verdict(SendReason.ALLOWED)
    later = next_allowed_at(facts, caps, quiet, now, zone)
    return Verdict(refusal, later.astimezone(UTC) if later is not None else None)


def reachable_channels(identity_kinds: frozenset[str], has_phone: bool) -> frozenset[Channel]:
    """The channels a member can be reached on, from the kinds of identities they hold.

    A subscribe message goes to a mini-program openid, an official-account message to an
    official-account openid, a guide's message to a WeCom external contact; a group message
    needs the member known to WeCom (external_userid) or to the open platform (unionid),
    which is how group members are identified; an SMS needs a phone number."""
    reachable: set[Channel] = set()
    if "mini_program_openid" in identity_kinds:
        reachable.add(Channel.SUBSCRIBE_MESSAGE)
    if "official_account_openid" in identity_kinds:
        reachable.add(Channel.OFFICIAL_ACCOUNT)
    if "wecom_external_userid" in identity_kinds:
        reachable.add(Channel.WECOM)
    if identity_kinds & {"wecom_external_userid", "unionid"}:
        reachable.add(Channel.COMMUNITY)
    if has_phone or "phone" in identity_kinds:
        reachable.add(Channel.SMS)
    return frozenset(reachable)
