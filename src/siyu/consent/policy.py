"""The brand's messaging policy: quiet hours, per-channel default basis and caps, and what
transactional and service messages bypass. A brand without a stored policy uses
``rules.DEFAULT_POLICY``; days and weeks are counted in the brand's timezone.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from siyu.access.rules import Actor, Permission
from siyu.audit.service import record_change
from siyu.brands.models import Brand
from siyu.consent import events, rules
from siyu.consent.locks import lock_policy
from siyu.consent.models import ConsentPolicy
from siyu.consent.rules import Channel, Purpose
from siyu.consent.schemas import ChannelPolicyIn, PolicyIn, PolicyOut, PurposeBypassIn, QuietHoursIn
from siyu.outbox.service import record_event


def _channel_policy(data: dict[str, Any]) -> rules.ChannelPolicy:
    return rules.ChannelPolicy(
        opt_out_based=bool(data["opt_out_based"]),
        daily_cap=data["daily_cap"],
        weekly_cap=data["weekly_cap"],
    )


def _bypass(data: dict[str, Any]) -> rules.PurposeBypass:
    return rules.PurposeBypass(
        opt_out=bool(data["bypass_opt_out"]),
        caps=bool(data["bypass_caps"]),
        quiet_hours=bool(data["bypass_quiet_hours"]),
    )


def policy_from_row(row: ConsentPolicy | None, timezone: str) -> rules.Policy:
    """The rules' policy from the stored row, or the default policy when there is none."""
    if row is None:
        return replace(rules.DEFAULT_POLICY, timezone=timezone)
    quiet = None
    if row.quiet_hours_start is not None and row.quiet_hours_end is not None:
        quiet = rules.QuietHours(row.quiet_hours_start, row.quiet_hours_end)
    return rules.Policy(
        timezone=timezone,
        quiet_hours=quiet,
        channels={Channel(k): _channel_policy(v) for k, v in row.channels.items()},
        bypasses={Purpose(k): _bypass(v) for k, v in row.purposes.items()},
    )


def load_policy(session: Session, brand_id: int) -> tuple[rules.Policy, ConsentPolicy | None]:
    """The brand's effective policy (in the brand's timezone) and its stored row. No locks."""
    timezone = session.scalar(select(Brand.timezone).where(Brand.id == brand_id))
    row = session.scalar(select(ConsentPolicy).where(ConsentPolicy.brand_id == brand_id))
    return policy_from_row(row, timezone or "Asia/Shanghai"), row


def _policy_out(policy: rules.Policy, row: ConsentPolicy | None) -> PolicyOut:
    quiet = policy.quiet_hours
    return PolicyOut(
        timezone=policy.timezone,
        customized=row is not None,
        quiet_hours=QuietHoursIn(start=quiet.start, end=quiet.end) if quiet else None,
        channels={
            channel: ChannelPolicyIn(
                opt_out_based=policy.channel(channel).opt_out_based,
                daily_cap=policy.channel(channel).daily_cap,
                weekly_cap=policy.channel(channel).weekly_cap,
            )
            for channel in Channel
        },
        purposes={
            purpose: PurposeBypassIn(
                bypass_opt_out=policy.bypass(purpose).opt_out,
                bypass_caps=policy.bypass(purpose).caps,
                bypass_quiet_hours=policy.bypass(purpose).quiet_hours,
            )
            for purpose in Purpose
        },
        updated_at=row.updated_at if row is not None else None,
    )


def get_policy(session: Session, actor: Actor) -> PolicyOut:
    """The brand's effective policy. Raises PermissionDenied without consent:write."""
    actor.require(Permission.CONSENT_WRITE)
    return _policy_out(*load_policy(session, actor.brand_id))


def _policy_snapshot(row: ConsentPolicy | None) -> dict[str, Any] | None:
    if row is None:
        return None

    def clock(value: time | None) -> str | None:
        return value.strftime("%H:%M") if value is not None else None

    return {
        "quiet_hours_start": clock(row.quiet_hours_start),
        "quiet_hours_end": clock(row.quiet_hours_end),
        "channels": row.channels,
        "purposes": row.purposes,
    }


def set_policy(session: Session, actor: Actor, data: PolicyIn) -> PolicyOut:
    """Replace the brand's policy; channels and purposes left out take the defaults (stored
    filled in, so later changes of the defaults never change a brand's policy).

    Locks the policy row. Side effects: audit ``consent_policy.create``/``.update``,
    ConsentPolicyChanged when anything changed. Raises PermissionDenied."""
    actor.require(Permission.CONSENT_WRITE)
    defaults = _policy_out(rules.DEFAULT_POLICY, None)
    channels = {
        channel.value: data.channels.get(channel, defaults.channels[channel]).model_dump()
        for channel in Channel
    }
    purposes = {
        purpose.value: data.purposes.get(purpose, defaults.purposes[purpose]).model_dump()
        for purpose in Purpose
        if purpose is not Purpose.MARKETING
    }
    row = lock_policy(session, actor.brand_id)
    before = _policy_snapshot(row)
    if row is None:
        # A concurrent first save may insert first: then this one updates it.
        session.execute(
            insert(ConsentPolicy)
            .values(brand_id=actor.brand_id, channels=channels, purposes=purposes)
            .on_conflict_do_nothing(index_elements=["brand_id"])
        )
        row = lock_policy(session, actor.brand_id)
        assert row is not None
    row.quiet_hours_start = data.quiet_hours.start if data.quiet_hours else None
    row.quiet_hours_end = data.quiet_hours.end if data.quiet_hours else None
    row.channels = channels
    row.purposes = purposes
    session.flush()
    after = _policy_snapshot(row)
    assert after is not None
    changes = {k: v for k, v in after.items() if before is None or before.get(k) != v}
    if changes:
        record_change(
            session,
            actor,
            action="consent_policy.create" if before is None else "consent_policy.update",
            object_type="consent_policy",
            object_id=row.id,
            before={k: before[k] for k in changes} if before else None,
            after=changes,
        )
        record_event(
            session,
            actor.brand_id,
            events.ConsentPolicyChanged(consent_policy_id=row.id, changes=changes),
        )
    return _policy_out(*load_policy(session, actor.brand_id))
