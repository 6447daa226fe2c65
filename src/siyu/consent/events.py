"""Domain events of consent. Refused send decisions are kept in the send ledger only."""

from __future__ import annotations

from typing import Any

from siyu.outbox.events import DomainEvent


class MemberConsentChanged(DomainEvent):
    """A member's marketing consent on a channel changed (``changed_by``: consumer, staff,
    import or unsubscribe_link)."""

    aggregate_type = "member"
    member_id: int
    channel: str
    opted_in: bool
    changed_by: str
    source: str


class SubscriptionsReported(DomainEvent):
    """The member answered wx.requestSubscribeMessage: ``accepted`` templates gained one
    credit each, ``refused`` ones were rejected by the member or banned by the platform."""

    aggregate_type = "member"
    member_id: int
    accepted: list[str]
    refused: list[str]


class ConsentPolicyChanged(DomainEvent):
    aggregate_type = "consent_policy"
    consent_policy_id: int
    changes: dict[str, Any]


class SendAllowed(DomainEvent):
    """A message may go out: the send ledger's row ``send_id`` (a subscribe credit spent when
    the channel is subscribe_message)."""

    aggregate_type = "member"
    member_id: int
    send_id: int
    channel: str
    purpose: str
    template_id: str | None
    campaign: str | None


class SendReleased(DomainEvent):
    """The platform did not take an allowed send (``outcome`` released: credit returned,
    not counted toward caps) or took it and failed to deliver (``outcome`` failed)."""

    aggregate_type = "member"
    member_id: int
    send_id: int
    outcome: str
