"""The outbox subscriber that restores merged members' consent from the ledger.

Registered on ``siyu.outbox.dispatcher.registry`` as ``"consent.merge"`` for ``MembersMerged``
when this module is imported (``siyu.jobs.runner`` imports it). Delivery is at least once;
``reconcile_consent`` is idempotent.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from siyu.consent.service import reconcile_consent
from siyu.outbox import dispatcher
from siyu.outbox.dispatcher import SubscriberRegistry
from siyu.outbox.models import OutboxEvent

SUBSCRIBER_NAME = "consent.merge"


def reconcile_merged_member(session: Session, event: OutboxEvent) -> None:
    """Handle one MembersMerged event (in the dispatcher's savepoint): the survivor's consent
    becomes the latest choice recorded by either profile."""
    reconcile_consent(session, event.brand_id, int(event.payload["member_id"]))


def register(registry: SubscriberRegistry) -> None:
    """Add the subscriber to ``registry`` (once; a second call changes nothing)."""
    if SUBSCRIBER_NAME not in registry.subscribers:
        registry.add(SUBSCRIBER_NAME, reconcile_merged_member, {"MembersMerged"})


register(dispatcher.registry)
