"""After-sales listening to orders: a refund that succeeded closes its after-sale request.

``register`` adds the subscriber to the outbox dispatcher's registry; siyu.aftersales.jobs
calls it on import, which every process hosting the dispatcher does (``make_job_app``).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from siyu.aftersales.service import settle_after_sale_refund
from siyu.outbox.dispatcher import SubscriberRegistry
from siyu.outbox.dispatcher import registry as default_registry
from siyu.outbox.models import OutboxEvent

SUBSCRIBER = "aftersales.refund_settled"


def on_order_refunded(session: Session, event: OutboxEvent) -> None:
    """Idempotent: a request already refunded is left alone."""
    settle_after_sale_refund(session, event.brand_id, int(event.payload["refund_id"]))


def register(registry: SubscriberRegistry | None = None) -> None:
    """Subscribe to ``OrderRefunded`` (once per registry)."""
    registry = registry or default_registry
    if SUBSCRIBER not in registry.subscribers:
        registry.add(SUBSCRIBER, on_order_refunded, {"OrderRefunded"})
