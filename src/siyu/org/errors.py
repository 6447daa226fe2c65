"""Refusals of the organization domain, each with a stable code."""

from __future__ import annotations

from siyu.core.errors import Conflict, InvalidInput, NotFound


class RegionNotFound(NotFound):
    code = "region_not_found"


class StoreNotFound(NotFound):
    code = "store_not_found"


class FranchiseeNotFound(NotFound):
    code = "franchisee_not_found"


class StockLocationNotFound(NotFound):
    code = "stock_location_not_found"


class DuplicateCode(Conflict):
    code = "duplicate_code"


class InvalidOwnership(InvalidInput):
    code = "invalid_ownership"


class InvalidOpeningHours(InvalidInput):
    code = "invalid_opening_hours"
