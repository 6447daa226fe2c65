"""Attribution listening to orders and members on the outbox.

- ``attribution.order_credit`` (OrderPaid, OrderRefunded): replace the order's credits under the
  brand's model; the amount credited is the paid amount net of refunds, so a refund scales the
  order's credits down (recomputed, not patched). Idempotent: the same data gives the same rows.
- ``attribution.acquisition`` (MemberJoined, ConsumerLoggedIn): give a joined member without a
  source their last touch before joining. ConsumerLoggedIn carries the visitor's
  ``anonymous_id`` when the consumer arrived anonymously, so the touches are found even if the
  tracking stitch of that login has not run yet. Idempotent: a member with a source is left
  alone.

``register`` adds both to the dispatcher's registry; importing siyu.attribution.jobs (done by
``siyu.jobs.runner``) registers them on the default registry.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from siyu.attribution.service import attribute_acquisition, credit_order
from siyu.outbox.dispatcher import SubscriberRegistry
from siyu.outbox.dispatcher import registry as default_registry
from siyu.outbox.models import OutboxEvent

ORDER_CREDIT = "attribution.order_credit"
ACQUISITION = "attribution.acquisition"


def on_order_paid_or_refunded(session: Session, event: OutboxEvent) -> None:
    credit_order(session, event.brand_id, int(event.payload["order_id"]))


def on_member_joined_or_logged_in(session: Session, event: OutboxEvent) -> None:
    member_id = event.payload.get("member_id")
    if member_id is None:
        return
    anonymous_id = event.payload.get("anonymous_id")
    attribute_acquisition(
        session,
        event.brand_id,
        int(member_id),
        anonymous_ids=[str(anonymous_id)] if anonymous_id else [],
    )


def register(registry: SubscriberRegistry | None = None) -> None:
    """Subscribe both handlers (once per registry)."""
    registry = registry or default_registry
    if ORDER_CREDIT not in registry.subscribers:
        registry.add(ORDER_CREDIT, on_order_paid_or_refunded, {"OrderPaid", "OrderRefunded"})
    if ACQUISITION not in registry.subscribers:
        registry.add(
            ACQUISITION, on_member_joined_or_logged_in, {"MemberJoined", "ConsumerLoggedIn"}
        )
