"""Domain events of the cloud stores."""

from __future__ import annotations

from siyu.outbox.events import DomainEvent


class ListingOverrideSet(DomainEvent):
    """A region's or store's override was created or changed; the fields are its new values
    (None: inherited)."""

    aggregate_type = "listing_override"
    listing_override_id: int
    region_id: int | None
    store_id: int | None
    product_id: int
    sku_id: int | None
    is_listed: bool | None
    price_fen: int | None
    stock_source: str | None


class ListingOverrideCleared(DomainEvent):
    aggregate_type = "listing_override"
    listing_override_id: int
    region_id: int | None
    store_id: int | None
    product_id: int
    sku_id: int | None
