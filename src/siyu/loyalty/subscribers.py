"""Tiers and points listening to orders (earning on payment, taking back on refund) and to
member merges (the survivor's summed growth value may reach a higher tier).

``register`` adds the subscriber to the outbox dispatcher's registry (once per registry); this
module registers it on the default registry when imported, and siyu.jobs.runner imports it, so
every dispatcher started by ``siyu serve``, ``siyu demo`` or ``siyu worker`` delivers to it.
Tests may ``register`` it on a registry of their own.

Delivery is at least once; every handler is idempotent (siyu.loyalty.earning; re-tiering
twice lands on the same tier).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from siyu.loyalty.earning import earn_for_paid_order, reverse_for_refund
from siyu.loyalty.service import retier_member
from siyu.members.locks import lock_member
from siyu.outbox.dispatcher import SubscriberRegistry
from siyu.outbox.dispatcher import registry as default_registry
from siyu.outbox.models import OutboxEvent

SUBSCRIBER = "loyalty.points"
ORDER_EVENTS = {"OrderPaid", "OrderRefunded"}
MERGE_SUBSCRIBER = "loyalty.tiers"
MERGE_EVENTS = {"MembersMerged"}


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


def on_members_merged(session: Session, event: OutboxEvent) -> None:
    """Re-tier the survivor of a merge (its row locked until the delivery commits)."""
    survivor = lock_member(session, event.brand_id, int(event.payload["member_id"]))
    if survivor is not None and survivor.status == "active":
        retier_member(session, survivor)


def register(registry: SubscriberRegistry | None = None) -> None:
    """Subscribe to ``OrderPaid``, ``OrderRefunded`` and ``MembersMerged`` (once per
    registry)."""
    registry = registry or default_registry
    if SUBSCRIBER not in registry.subscribers:
        registry.add(SUBSCRIBER, on_order_event, set(ORDER_EVENTS))
    if MERGE_SUBSCRIBER not in registry.subscribers:
        registry.add(MERGE_SUBSCRIBER, on_members_merged, set(MERGE_EVENTS))


register()
