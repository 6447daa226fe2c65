"""Domain events of orders: what analytics, settlement and messages subscribe to."""

from __future__ import annotations

from siyu.outbox.events import DomainEvent


class OrderPlaced(DomainEvent):
    aggregate_type = "order"
    order_id: int
    number: str
    consumer_id: int
    selling_store_id: int
    guide_staff_id: int | None
    touchpoint_id: int | None
    channel: str
    fulfilment_method: str
    total_fen: int
    placed_after_hours: bool


class OrderPaid(DomainEvent):
    aggregate_type = "order"
    order_id: int
    selling_store_id: int
    paid_fen: int
    payment_id: int


class OrderCancelled(DomainEvent):
    aggregate_type = "order"
    order_id: int
    selling_store_id: int
    reason: str


class OrderFulfilled(DomainEvent):
    aggregate_type = "order"
    order_id: int
    selling_store_id: int
    fulfilment_method: str
    total_fen: int


class OrderRefunded(DomainEvent):
    aggregate_type = "order"
    order_id: int
    selling_store_id: int
    refund_id: int
    amount_fen: int
