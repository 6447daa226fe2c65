"""The outbox subscriber that posts order events to the settlement ledger.

Registered on ``siyu.outbox.dispatcher.registry`` as ``"settlement.ledger"`` for
``OrderPaid``, ``OrderRefunded`` and ``OrderFulfilled`` **when this module is imported**.
``siyu.jobs.runner`` imports it, so every dispatcher started by ``siyu serve``, ``siyu demo``
or ``siyu worker`` delivers to it; anything else that dispatches with the default registry must
import it too. Tests may ``register`` it on a registry of their own.

Delivery is at least once; posting is idempotent by source key (``siyu.settlement.posting``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from siyu.outbox import dispatcher
from siyu.outbox.dispatcher import SubscriberRegistry
from siyu.outbox.models import OutboxEvent
from siyu.settlement.posting import POSTED_EVENTS, REFUND_EVENT, post_order_event

SUBSCRIBER_NAME = "settlement.ledger"


def post_to_ledger(session: Session, event: OutboxEvent) -> None:
    """Handle one order event (in the dispatcher's savepoint)."""
    payload = event.payload
    refund_id = payload.get("refund_id") if event.event_type == REFUND_EVENT else None
    occurred_at: datetime | None = event.occurred_at
    post_order_event(
        session,
        event.brand_id,
        event.event_type,
        int(payload["order_id"]),
        refund_id=int(refund_id) if refund_id is not None else None,
        moment=occurred_at,
    )


def register(registry: SubscriberRegistry) -> None:
    """Add the ledger subscriber to ``registry`` (once; a second call changes nothing)."""
    if SUBSCRIBER_NAME not in registry.subscribers:
        registry.add(SUBSCRIBER_NAME, post_to_ledger, set(POSTED_EVENTS))


register(dispatcher.registry)
