"""Domain events of the brands domain."""

from __future__ import annotations

from siyu.outbox.events import DomainEvent


class BrandCreated(DomainEvent):
    aggregate_type = "brand"
    brand_id: int
    slug: str
    name: str
