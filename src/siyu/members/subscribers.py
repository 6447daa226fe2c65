"""Members listening to orders: paid and refunded orders keep purchase summaries and
lifecycle stages up to date.

Registered on ``siyu.outbox.dispatcher.registry`` as ``"members.purchase_summary"`` for
``OrderPaid`` and ``OrderRefunded`` when this module is imported (``siyu.jobs.runner`` imports
it). Delivery is at least once; counting is idempotent (``siyu.members.purchases``).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from siyu.members.purchases import count_paid_order, count_refund
from siyu.outbox import dispatcher
from siyu.outbox.dispatcher import SubscriberRegistry
from siyu.outbox.models import OutboxEvent

SUBSCRIBER_NAME = "members.purchase_summary"
ORDER_PAID = "OrderPaid"
ORDER_REFUNDED = "OrderRefunded"


def update_purchase_summary(session: Session, event: OutboxEvent) -> None:
    """Handle one order event (in the dispatcher's savepoint)."""
    payload = event.payload
    if event.event_type == ORDER_PAID:
        count_paid_order(
            session,
            event.brand_id,
            int(payload["order_id"]),
            paid_fen=int(payload["paid_fen"]),
            at=event.occurred_at,
        )
    elif event.event_type == ORDER_REFUNDED:
        count_refund(
            session,
            event.brand_id,
            int(payload["order_id"]),
            int(payload["refund_id"]),
            amount_fen=int(payload["amount_fen"]),
            at=event.occurred_at,
        )


def register(registry: SubscriberRegistry) -> None:
    """Add the subscriber to ``registry`` (once; a second call changes nothing)."""
    if SUBSCRIBER_NAME not in registry.subscribers:
        registry.add(SUBSCRIBER_NAME, update_purchase_summary, {ORDER_PAID, ORDER_REFUNDED})


register(dispatcher.registry)
