"""Refusals of the brands domain."""

from __future__ import annotations

from siyu.core.errors import Conflict, InvalidInput, NotFound


class BrandNotFound(NotFound):
    code = "brand_not_found"


class DuplicateBrand(Conflict):
    code = "duplicate_brand"


class InvalidBrandSlug(InvalidInput):
    code = "invalid_brand_slug"
