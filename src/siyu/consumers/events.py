"""Domain events of consumers."""

from __future__ import annotations

from siyu.outbox.events import DomainEvent


class ConsumerRegistered(DomainEvent):
    """A consumer logged in to the mini program for the first time."""

    aggregate_type = "consumer"
    consumer_id: int
    has_unionid: bool


class ConsumerLoggedIn(DomainEvent):
    """A consumer opened a session. ``anonymous_id`` is the visitor id the mini program used
    before logging in (tracking stitches those events to ``member_id``); ``scene_key`` is the
    code scanned to open it, ``scene_known`` false when the brand never issued that key (an
    unknown source)."""

    aggregate_type = "consumer"
    consumer_id: int
    consumer_session_id: int
    member_id: int | None = None
    anonymous_id: str | None = None
    scene_key: str | None = None
    scene_known: bool | None = None
