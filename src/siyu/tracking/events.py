"""Domain events of tracking. Ingested events themselves are not published one by one (the
table is read directly); what is published are the write keys' lifecycle and stitching."""

from __future__ import annotations

from siyu.outbox.events import DomainEvent


class TrackingWriteKeyCreated(DomainEvent):
    aggregate_type = "tracking_write_key"
    tracking_write_key_id: int
    name: str


class TrackingWriteKeyRotated(DomainEvent):
    """The key was replaced: the old one no longer writes."""

    aggregate_type = "tracking_write_key"
    tracking_write_key_id: int


class TrackingWriteKeyRevoked(DomainEvent):
    aggregate_type = "tracking_write_key"
    tracking_write_key_id: int


class AnonymousVisitorLinked(DomainEvent):
    """An anonymous visitor was tied to a member at login; ``events_stitched`` of its earlier
    events (those without a member) now carry the member."""

    aggregate_type = "anonymous_visitor"
    anonymous_visitor_id: int
    member_id: int
    consumer_id: int | None
    events_stitched: int


class TrackingBatchesRetried(DomainEvent):
    """Batches the loader had set aside were handed back to it."""

    aggregate_type = "brand"
    brand_id: int
    batches: int
    events: int
