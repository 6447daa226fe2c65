"""Refusals of after-sales requests and complaints, each with a stable code."""

from __future__ import annotations

from siyu.core.errors import Conflict, InvalidInput, NotFound


class AfterSaleNotFound(NotFound):
    code = "after_sale_not_found"


class ComplaintNotFound(NotFound):
    code = "complaint_not_found"


class OrderNotRefundable(Conflict):
    """Unpaid, cancelled or already refunded in full."""

    code = "order_not_refundable"


class AfterSaleAlreadyOpen(Conflict):
    code = "after_sale_already_open"


class UnknownOrderLine(InvalidInput):
    code = "unknown_order_line"


class QuantityExceedsPurchased(InvalidInput):
    code = "quantity_exceeds_purchased"


class DuplicateOrderLine(InvalidInput):
    code = "duplicate_order_line"


class ReturnBeforeDelivery(InvalidInput):
    """Goods that never left cannot be returned; before delivery only a full refund."""

    code = "return_before_delivery"


class WholeOrderBeforeDelivery(InvalidInput):
    code = "whole_order_refund_before_delivery"


class ApprovedExceedsRequested(InvalidInput):
    code = "approved_exceeds_requested"


class AfterSaleNotPending(Conflict):
    """The request is not in the state the action needs (already decided, ...)."""

    code = "after_sale_not_pending"


class ReturnNotExpected(Conflict):
    code = "return_not_expected"


class ComplaintAlreadyClosed(Conflict):
    code = "complaint_already_closed"


class OwnerNotEligible(InvalidInput):
    code = "owner_not_eligible"
