"""Domain events of consumers."""

from __future__ import annotations

from siyu.outbox.events import DomainEvent


class ConsumerRegistered(DomainEvent):
    """A consumer logged in to the mini program for the first time."""

    aggregate_type = "consumer"
    consumer_id: int
    has_unionid: bool


class ConsumerLoggedIn(DomainEvent):
    aggregate_type = "consumer"
    consumer_id: int
    consumer_session_id: int
