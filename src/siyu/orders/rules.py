"""Pure rules of orders: numbers, pickup codes, the display status derived from the axes."""

from __future__ import annotations

import secrets
from datetime import datetime

from siyu.core.clock import to_shanghai

PICKUP_CODE_DIGITS = 8


def order_number(order_id: int, placed_at: datetime) -> str:
    """``YYMMDD`` (Shanghai date) then the id, zero-padded: sortable, unique, 16+ characters."""
    return f"{to_shanghai(placed_at):%y%m%d}{order_id:010d}"


def out_trade_no(brand_id: int, order_id: int, attempt: int) -> str:
    """Unique across the deployment (the provider's notification carries only this)."""
    return f"SY{brand_id}O{order_id}P{attempt}"


def new_pickup_code() -> str:
    return f"{secrets.randbelow(10**PICKUP_CODE_DIGITS):0{PICKUP_CODE_DIGITS}d}"


def display_status(
    *, lifecycle: str, payment: str, fulfilment: str, after_sale: str, method: str
) -> str:
    """The one status a consumer sees, derived from the separate axes (never stored)."""
    if lifecycle == "cancelled":
        return "cancelled"
    if payment == "unpaid":
        return "awaiting_payment"
    if payment == "refunded":
        return "refunded"
    if after_sale in {"requested", "in_progress"}:
        return "after_sale"
    if fulfilment == "fulfilled" or lifecycle == "completed":
        return "completed"
    if fulfilment == "shipped":
        return "shipped"
    if fulfilment == "ready_for_pickup" or method == "pickup":
        return "awaiting_pickup"
    return "awaiting_shipment"
