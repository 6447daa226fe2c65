"""Tracking listening to logins: stitching an anonymous visitor to the member who logged in.

Registered on ``siyu.outbox.dispatcher.registry`` as ``"tracking.stitch_visitor"`` for
``ConsumerLoggedIn`` **when this module is imported** (``siyu.jobs.runner`` imports it). A login
that carries the ``anonymous_id`` the visitor browsed with, and the member, links them: the
visitor's earlier events without a member get the member and consumer, later ones get them at
ingestion. Delivery is at least once; stitching is idempotent.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from siyu.outbox import dispatcher
from siyu.outbox.dispatcher import SubscriberRegistry
from siyu.outbox.models import OutboxEvent
from siyu.tracking.service import link_anonymous_visitor

SUBSCRIBER_NAME = "tracking.stitch_visitor"
LOGIN_EVENT = "ConsumerLoggedIn"


def stitch_visitor(session: Session, event: OutboxEvent) -> None:
    """Handle one ConsumerLoggedIn (in the dispatcher's savepoint); a login without an
    anonymous id or a member changes nothing."""
    payload = event.payload
    anonymous_id = payload.get("anonymous_id")
    member_id = payload.get("member_id")
    if not anonymous_id or member_id is None:
        return
    consumer_id = payload.get("consumer_id")
    link_anonymous_visitor(
        session,
        event.brand_id,
        str(anonymous_id),
        int(member_id),
        int(consumer_id) if consumer_id is not None else None,
    )


def register(registry: SubscriberRegistry) -> None:
    """Add the stitching subscriber to ``registry`` (once; a second call changes nothing)."""
    if SUBSCRIBER_NAME not in registry.subscribers:
        registry.add(SUBSCRIBER_NAME, stitch_visitor, {LOGIN_EVENT})


register(dispatcher.registry)
