"""Refusals of carts, checkout and orders."""

from __future__ import annotations

from siyu.core.errors import Conflict, InvalidInput, NotFound


class OrderNotFound(NotFound):
    code = "order_not_found"


class StoreNotSelling(Conflict):
    code = "store_not_selling"


class SkuUnavailable(InvalidInput):
    """Unknown, unlisted or not sold in this channel."""

    code = "sku_unavailable"


class InvalidQuantity(InvalidInput):
    code = "invalid_quantity"


class QuantityOverLimit(InvalidInput):
    code = "quantity_over_limit"


class EmptyOrder(InvalidInput):
    code = "empty_order"


class AddressRequired(InvalidInput):
    code = "address_required"


class OrderNotPayable(Conflict):
    code = "order_not_payable"


class OrderNotCancellable(Conflict):
    code = "order_not_cancellable"


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"


class PickupCodeInvalid(NotFound):
    code = "pickup_code_invalid"


class RefundExceedsPaid(InvalidInput):
    code = "refund_exceeds_paid"


class PaymentRefused(Conflict):
    """The payment provider refused the request (its code is in ``extra``)."""

    code = "payment_provider_refused"
