"""Refusals of the inventory domain, each with a stable code."""

from __future__ import annotations

from siyu.core.errors import Conflict, InvalidInput, NotFound


class SkuNotFound(NotFound):
    code = "sku_not_found"


class InsufficientStock(Conflict):
    """Fewer units are available than asked for. ``extra``: sku_id, location_id, available."""

    code = "insufficient_stock"


class StockBelowPromised(Conflict):
    """An adjustment or snapshot would leave fewer units on hand than carts and orders hold."""

    code = "stock_below_promised"


class InvalidQuantity(InvalidInput):
    code = "invalid_quantity"
