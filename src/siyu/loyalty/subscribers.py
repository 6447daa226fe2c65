"""Tiers and points listening to orders: earning on payment, taking back on refund.

``register`` adds the subscriber to the outbox dispatcher's registry (once per registry); this
module registers it on the default registry when imported, and siyu.jobs.runner imports it, so
every dispatcher started by ``siyu serve``, ``siyu demo`` or ``siyu worker`` delivers to it.
Tests may ``register`` it on a registry of their own.

Delivery is at least once; both handlers are idempotent (siyu.loyalty.earning).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from siyu.loyalty.earning import earn_for_paid_order, reverse_for_refund
from siyu.outbox.dispatcher import SubscriberRegistry
from siyu.outbox.dispatcher import registry as default_registry
from siyu.outbox.models import OutboxEvent

SUBSCRIBER = "loyalty.points"
ORDER_EVENTS = {"OrderPaid", "OrderRefunded"}


def on_order_event(session: Session, event: OutboxEvent) -> None:
    """Handle one order event (in the dispatcher's savepoint)."""
    payload = event.payload
    if event.event_type == "OrderPaid":
        earn_for_paid_order(
            session,
            event.brand_id,
            int(payload["order_id"]),
            int(payload["paid_fen"]),
            now=event.occurred_at,
        )
    elif event.event_type == "OrderRefunded":
        reverse_for_refund(
            session, event.brand_id, int(payload["refund_id"]), now=event.occurred_at
        )


def register(registry: SubscriberRegistry | None = None) -> None:
    """Subscribe to ``OrderPaid`` and ``OrderRefunded`` (once per registry)."""
    registry = registry or default_registry
    if SUBSCRIBER not in registry.subscribers:
        registry.add(SUBSCRIBER, on_order_event, set(ORDER_EVENTS))


register()
