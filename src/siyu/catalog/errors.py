"""Refusals of the catalog, each with a stable code."""

from __future__ import annotations

from siyu.core.errors import Conflict, InvalidInput, NotFound


class CategoryNotFound(NotFound):
    code = "category_not_found"


class ProductNotFound(NotFound):
    code = "product_not_found"


class SkuNotFound(NotFound):
    code = "sku_not_found"


class DuplicateCode(Conflict):
    """A category, product or SKU code already used in the brand (same code as org's)."""

    code = "duplicate_code"


class InvalidCategoryParent(InvalidInput):
    """A category cannot sit below itself or one of its own descendants."""

    code = "invalid_category_parent"
