"""Refusals of the cloud stores, each with a stable code."""

from __future__ import annotations

from siyu.core.errors import InvalidInput, NotFound


class ListingOverrideNotFound(NotFound):
    code = "listing_override_not_found"


class EmptyListingOverride(InvalidInput):
    """An override must set at least one of is_listed, price_fen, stock_source."""

    code = "empty_listing_override"
