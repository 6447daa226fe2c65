"""The consent ledger (同意台账): marketing consent per member and channel with its history,
subscribe-message credits, the brand's messaging policy, and every send decision.

Rows that name a member use (brand_id, member_id) with a foreign key to the member, so merging
members repoints them. ``consent_state`` is unique per (member, channel): when both merged
members have one, the merged member's row is dropped and the survivor's choice stands (its
history stays in ``consent_change``, repointed).
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKeyConstraint,
    Index,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db.base import Base, TenantKey, Timestamps

CHANNELS_SQL = "'subscribe_message', 'official_account', 'wecom', 'community', 'sms'"
PURPOSES_SQL = "'transactional', 'service', 'marketing'"
CHANGED_BY_SQL = "'consumer', 'staff', 'import', 'unsubscribe_link'"
SUBSCRIPTION_RESULTS_SQL = "'accept', 'reject', 'ban', 'filter'"
REASONS_SQL = (
    "'allowed', 'opted_out', 'no_subscription_credit', 'frequency_cap_day',"
    " 'frequency_cap_week', 'quiet_hours', 'member_merged_or_missing', 'channel_unreachable'"
)


class ConsentPolicy(TenantKey, Timestamps, Base):
    """A brand's messaging policy; a brand without a row uses ``rules.DEFAULT_POLICY``.

    ``channels`` maps a channel to ``{opt_out_based, daily_cap, weekly_cap}``; ``purposes``
    maps transactional/service to ``{bypass_opt_out, bypass_caps, bypass_quiet_hours}``
    (validated by ``schemas.PolicyIn``). Days and weeks are counted in the brand's timezone.
    """

    __tablename__ = "consent_policy"
    __table_args__ = (
        UniqueConstraint("brand_id"),
        CheckConstraint(
            "(quiet_hours_start IS NULL) = (quiet_hours_end IS NULL)"
            " AND (quiet_hours_start IS NULL OR quiet_hours_start <> quiet_hours_end)",
            name="quiet_hours",
        ),
    )

    quiet_hours_start: Mapped[time | None]
    quiet_hours_end: Mapped[time | None]
    channels: Mapped[dict[str, Any]] = mapped_column(JSONB)
    purposes: Mapped[dict[str, Any]] = mapped_column(JSONB)


class ConsentState(TenantKey, Timestamps, Base):
    """A member's current marketing consent on one channel, and the row sends lock.

    ``opted_in`` None means the member never chose: the brand's default applies. Created on
    first need (a choice or a send), then locked FOR UPDATE by every change and send decision
    on the channel (siyu.consent.locks), so concurrent sends cannot pass a cap together.
    """

    __tablename__ = "consent_state"
    __table_args__ = (
        UniqueConstraint("brand_id", "member_id", "channel"),
        CheckConstraint(f"channel IN ({CHANNELS_SQL})", name="channel"),
        CheckConstraint(
            f"changed_by IS NULL OR changed_by IN ({CHANGED_BY_SQL})", name="changed_by"
        ),
        ForeignKeyConstraint(["brand_id", "member_id"], ["member.brand_id", "member.id"]),
    )

    member_id: Mapped[int]
    channel: Mapped[str] = mapped_column(String(32))
    opted_in: Mapped[bool | None]
    changed_at: Mapped[datetime | None]
    changed_by: Mapped[str | None] = mapped_column(String(32))
    source: Mapped[str | None] = mapped_column(String(64))


class ConsentChange(TenantKey, Base):
    """One change of a member's marketing consent: append-only, never updated.

    ``changed_by`` says who (the consumer, staff on the member's behalf, an import, an
    unsubscribe link); ``source`` where (storefront, console, api, an import's file name...).
    """

    __tablename__ = "consent_change"
    __table_args__ = (
        CheckConstraint(f"channel IN ({CHANNELS_SQL})", name="channel"),
        CheckConstraint(f"changed_by IN ({CHANGED_BY_SQL})", name="changed_by"),
        CheckConstraint("changed_by <> 'staff' OR staff_id IS NOT NULL", name="staff"),
        ForeignKeyConstraint(["brand_id", "member_id"], ["member.brand_id", "member.id"]),
        ForeignKeyConstraint(["brand_id", "staff_id"], ["staff.brand_id", "staff.id"]),
        ForeignKeyConstraint(["brand_id", "consumer_id"], ["consumer.brand_id", "consumer.id"]),
        Index("ix_consent_change_member", "brand_id", "member_id", "occurred_at"),
    )

    member_id: Mapped[int]
    channel: Mapped[str] = mapped_column(String(32))
    opted_in: Mapped[bool]
    changed_by: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(64))
    staff_id: Mapped[int | None]
    consumer_id: Mapped[int | None]
    note: Mapped[str | None] = mapped_column(String(200))
    occurred_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Subscription(TenantKey, Base):
    """One answer of wx.requestSubscribeMessage for one template (one-time subscriptions only).

    An accepted row is one credit: it allows exactly one send of the template to the member
    and is spent when ``consumed_at`` is set (by the send that used it, which names it in
    ``consent_send.subscription_id``). Rejected, banned and filtered rows give no credit.
    """

    __tablename__ = "consent_subscription"
    __table_args__ = (
        CheckConstraint(f"result IN ({SUBSCRIPTION_RESULTS_SQL})", name="result"),
        CheckConstraint("result = 'accept' OR consumed_at IS NULL", name="credit"),
        ForeignKeyConstraint(["brand_id", "member_id"], ["member.brand_id", "member.id"]),
        ForeignKeyConstraint(["brand_id", "consumer_id"], ["consumer.brand_id", "consumer.id"]),
        Index("ix_consent_subscription_member", "brand_id", "member_id", "template_id"),
        Index(
            "ix_consent_subscription_credit",
            "brand_id",
            "member_id",
            "template_id",
            "id",
            postgresql_where=text("result = 'accept' AND consumed_at IS NULL"),
        ),
    )

    member_id: Mapped[int]
    consumer_id: Mapped[int | None]
    template_id: Mapped[str] = mapped_column(String(64))
    result: Mapped[str] = mapped_column(String(16))
    reported_at: Mapped[datetime] = mapped_column(server_default=func.now())
    consumed_at: Mapped[datetime | None]


class ConsentSend(TenantKey, Base):
    """One send decision, allowed or refused: the send ledger every message passes through.

    ``requested_member_id`` is the member asked about; ``member_id`` is the same when the
    member exists and NULL when it does not. ``decided_at`` is the moment of the send and
    ``local_day`` its date in the brand's timezone (caps count by it). Allowed sends of capped
    purposes count toward the caps unless ``outcome`` is 'released' (the platform did not
    accept the message: its credit came back); 'failed' keeps the credit spent.
    """

    __tablename__ = "consent_send"
    __table_args__ = (
        CheckConstraint(f"channel IN ({CHANNELS_SQL})", name="channel"),
        CheckConstraint(f"purpose IN ({PURPOSES_SQL})", name="purpose"),
        CheckConstraint(f"reason IN ({REASONS_SQL})", name="reason"),
        CheckConstraint("allowed = (reason = 'allowed')", name="allowed"),
        CheckConstraint(
            "outcome IS NULL OR (allowed AND outcome IN ('released', 'failed'))", name="outcome"
        ),
        CheckConstraint("subscription_id IS NULL OR allowed", name="subscription"),
        ForeignKeyConstraint(["brand_id", "member_id"], ["member.brand_id", "member.id"]),
        ForeignKeyConstraint(
            ["brand_id", "subscription_id"],
            ["consent_subscription.brand_id", "consent_subscription.id"],
        ),
        Index("ix_consent_send_member_day", "brand_id", "member_id", "channel", "local_day"),
        Index("ix_consent_send_day_reason", "brand_id", "local_day", "reason"),
        Index("ix_consent_send_member_decided", "brand_id", "member_id", "decided_at"),
    )

    requested_member_id: Mapped[int]
    member_id: Mapped[int | None]
    channel: Mapped[str] = mapped_column(String(32))
    purpose: Mapped[str] = mapped_column(String(16))
    template_id: Mapped[str | None] = mapped_column(String(64))
    campaign: Mapped[str | None] = mapped_column(String(100))
    allowed: Mapped[bool]
    reason: Mapped[str] = mapped_column(String(32))
    next_allowed_at: Mapped[datetime | None]
    decided_at: Mapped[datetime]
    local_day: Mapped[date]
    subscription_id: Mapped[int | None]
    outcome: Mapped[str | None] = mapped_column(String(16))
    outcome_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
