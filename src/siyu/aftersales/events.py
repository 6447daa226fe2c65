"""Domain events of after-sales and complaints: what settlement, analytics and messages hear."""

from __future__ import annotations

from siyu.outbox.events import DomainEvent


class AfterSaleRequested(DomainEvent):
    aggregate_type = "after_sale"
    after_sale_id: int
    order_id: int
    store_id: int
    kind: str
    requested_refund_fen: int


class AfterSaleApproved(DomainEvent):
    aggregate_type = "after_sale"
    after_sale_id: int
    order_id: int
    store_id: int
    kind: str
    approved_refund_fen: int
    staff_id: int | None


class AfterSaleRejected(DomainEvent):
    aggregate_type = "after_sale"
    after_sale_id: int
    order_id: int
    store_id: int
    staff_id: int | None


class AfterSaleCancelled(DomainEvent):
    aggregate_type = "after_sale"
    after_sale_id: int
    order_id: int
    store_id: int


class ReturnedGoodsReceived(DomainEvent):
    aggregate_type = "after_sale"
    after_sale_id: int
    order_id: int
    store_id: int
    restocked_units: int


class AfterSaleRefunded(DomainEvent):
    aggregate_type = "after_sale"
    after_sale_id: int
    order_id: int
    store_id: int
    refund_id: int
    amount_fen: int


class ComplaintFiled(DomainEvent):
    aggregate_type = "complaint"
    complaint_id: int
    store_id: int
    order_id: int | None
    owner_staff_id: int | None


class ComplaintAssigned(DomainEvent):
    aggregate_type = "complaint"
    complaint_id: int
    store_id: int
    owner_staff_id: int


class ComplaintAnswered(DomainEvent):
    aggregate_type = "complaint"
    complaint_id: int
    store_id: int
    staff_id: int | None
    within_deadline: bool


class ComplaintClosed(DomainEvent):
    aggregate_type = "complaint"
    complaint_id: int
    store_id: int


class ComplaintOverdue(DomainEvent):
    aggregate_type = "complaint"
    complaint_id: int
    store_id: int
    owner_staff_id: int | None
    respond_by: str
