"""Input and output shapes of consent: the policy, a member's consent, subscriptions and send
decisions. Shared by the API, the console and other domains' read functions (member 360)."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from siyu.consent.rules import ChangedBy, Channel, Purpose, SendReason, SubscriptionResult

TemplateId = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$"
    ),
]
Campaign = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Cap = Annotated[int, Field(ge=0, le=1000)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


# ---------------------------------------------------------------- policy


class QuietHoursIn(BaseModel):
    """Local hours (the brand's timezone) without marketing; may wrap midnight (21:00-09:00)."""

    model_config = ConfigDict(extra="forbid")
    start: time
    end: time

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHoursIn:
        if self.start == self.end:
            raise ValueError("quiet hours must start and end at different times")
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("quiet hours are local times: give them without an offset")
        return self


class ChannelPolicyIn(BaseModel):
    """Marketing rules of a channel: opt-out based (members receive marketing until they opt
    out) or opt-in based; caps per member per local day and ISO week (null: no cap)."""

    model_config = ConfigDict(extra="forbid")
    opt_out_based: bool = False
    daily_cap: Cap | None = None
    weekly_cap: Cap | None = None


class PurposeBypassIn(BaseModel):
    """What a non-marketing purpose skips. Subscribe-message credits are never skipped."""

    model_config = ConfigDict(extra="forbid")
    bypass_opt_out: bool = False
    bypass_caps: bool = False
    bypass_quiet_hours: bool = False


class PolicyIn(BaseModel):
    """The whole policy (PUT replaces it). Channels or purposes left out take the defaults."""

    model_config = ConfigDict(extra="forbid")
    quiet_hours: QuietHoursIn | None = None
    channels: dict[Channel, ChannelPolicyIn] = Field(default_factory=dict)
    purposes: dict[Purpose, PurposeBypassIn] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _marketing_bypasses_nothing(self) -> PolicyIn:
        if Purpose.MARKETING in self.purposes:
            raise ValueError("marketing bypasses nothing: leave it out of purposes")
        return self


class PolicyOut(BaseModel):
    """The effective policy: every channel and purpose, defaults filled in."""

    timezone: str
    customized: bool
    quiet_hours: QuietHoursIn | None
    channels: dict[Channel, ChannelPolicyIn]
    purposes: dict[Purpose, PurposeBypassIn]
    updated_at: datetime | None


# ---------------------------------------------------------------- a member's consent


class ChannelConsentOut(BaseModel):
    channel: Channel
    opted_in: bool = Field(description="The effective marketing consent")
    chosen: bool | None = Field(description="The member's explicit choice; null: never chose")
    opt_out_based: bool = Field(description="The brand default when no choice was made")
    changed_at: datetime | None
    changed_by: ChangedBy | None
    source: str | None


class CreditOut(BaseModel):
    """Subscribe-message credits of one template: ``available`` sends left."""

    template_id: str
    available: int
    accepted: int
    refused: int
    last_result: SubscriptionResult
    last_reported_at: datetime


class ConsentChangeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    channel: Channel
    opted_in: bool
    changed_by: ChangedBy
    source: str
    staff_id: int | None
    note: str | None
    occurred_at: datetime


class DecisionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    member_id: int = Field(validation_alias="requested_member_id")
    channel: Channel
    purpose: Purpose
    template_id: str | None
    campaign: str | None
    allowed: bool
    reason: SendReason
    next_allowed_at: datetime | None
    decided_at: datetime
    local_day: date
    outcome: str | None


class MemberConsent(BaseModel):
    """A member's consent for the member 360 and the staff API: each channel's state, the
    credits per template, the latest changes and the latest 50 decisions (newest first)."""

    member_id: int
    channels: list[ChannelConsentOut]
    credits: list[CreditOut]
    changes: list[ConsentChangeOut]
    decisions: list[DecisionOut]


class ConsentOut(BaseModel):
    """What a consumer sees of their own consent."""

    channels: list[ChannelConsentOut]
    credits: list[CreditOut]


class ConsentUpdate(BaseModel):
    """A consumer's marketing choices, e.g. ``{"channels": {"sms": false}}``."""

    model_config = ConfigDict(extra="forbid")
    channels: dict[Channel, bool] = Field(min_length=1)


class SubscriptionReport(BaseModel):
    """The ``res`` of wx.requestSubscribeMessage: template id -> accept/reject/ban/filter."""

    model_config = ConfigDict(extra="forbid")
    results: dict[TemplateId, SubscriptionResult] = Field(min_length=1, max_length=10)


class OptOutIn(BaseModel):
    """Staff recording a member's opt-out on their behalf (a phone call, a store visit)."""

    model_config = ConfigDict(extra="forbid")
    channels: list[Channel] = Field(min_length=1, max_length=len(Channel))
    note: Note | None = None


# ---------------------------------------------------------------- send decisions


class SendDecision(BaseModel):
    """The answer of the send door: ``send_id`` is the send ledger row (None in a dry run)."""

    allowed: bool
    reason: SendReason
    next_allowed_at: datetime | None = None
    send_id: int | None = None


class SendCheckIn(BaseModel):
    """A dry run for campaign planning: what would be decided for each member, recording
    nothing. Members outside your scope or brand answer member_merged_or_missing."""

    model_config = ConfigDict(extra="forbid")
    member_ids: list[int] = Field(min_length=1, max_length=1000)
    channel: Channel
    purpose: Purpose
    template_id: TemplateId | None = None
    at: datetime | None = Field(default=None, description="Default: now")


class SendCheckResult(BaseModel):
    member_id: int
    allowed: bool
    reason: SendReason
    next_allowed_at: datetime | None


class SendCheckOut(BaseModel):
    decisions: list[SendCheckResult]
    counts: dict[SendReason, int]
