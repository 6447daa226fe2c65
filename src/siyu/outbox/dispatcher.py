"""Handing committed outbox events to their subscribers.

Delivery is at least once per subscriber: each subscriber's success is recorded in
``outbox_delivery`` in the same savepoint as its work, so a retry skips the subscribers that
already succeeded. A failing subscriber leaves the event pending with a growing backoff (capped
at an hour); it is never dropped. Events are claimed with ``FOR UPDATE SKIP LOCKED``, so any
number of dispatchers may run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import psycopg
from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from siyu.core.clock import utc_now
from siyu.core.logging import get_logger
from siyu.db.embedded import libpq_conninfo
from siyu.db.session import Database
from siyu.outbox.models import OutboxDelivery, OutboxEvent
from siyu.outbox.service import NOTIFY_CHANNEL

Handler = Callable[[Session, OutboxEvent], None]
log = get_logger("siyu.outbox")

MAX_BACKOFF = timedelta(hours=1)


@dataclass(frozen=True)
class Subscriber:
    name: str
    event_types: frozenset[str] | None
    handle: Handler

    def wants(self, event_type: str) -> bool:
        return self.event_types is None or event_type in self.event_types


@dataclass
class SubscriberRegistry:
    subscribers: dict[str, Subscriber] = field(default_factory=dict)

    def add(self, name: str, handle: Handler, event_types: set[str] | None = None) -> None:
        """Register ``handle`` for ``event_types`` (all events when None) under a unique name."""
        if name in self.subscribers:
            raise ValueError(f"subscriber '{name}' is already registered")
        self.subscribers[name] = Subscriber(
            name, frozenset(event_types) if event_types is not None else None, handle
        )

    def remove(self, name: str) -> None:
        self.subscribers.pop(name, None)

    def for_event(self, event_type: str) -> list[Subscriber]:
        return [s for s in self.subscribers.values() if s.wants(event_type)]


registry = SubscriberRegistry()


def backoff(attempts: int) -> timedelta:
    return min(timedelta(seconds=2 ** min(attempts, 12)), MAX_BACKOFF)


@dataclass(frozen=True)
class DispatchReport:
    claimed: int
    dispatched: int
    failed: int


def dispatch_pending(
    database: Database,
    subscribers: SubscriberRegistry | None = None,
    *,
    batch_size: int = 200,
    now: datetime | None = None,
) -> DispatchReport:
    """Deliver one batch of due events in one transaction (each subscriber in a savepoint)."""
    subscribers = subscribers or registry
    now = now or utc_now()
    with database.unit_of_work() as session:
        events = session.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.dispatched_at.is_(None), OutboxEvent.next_attempt_at <= now)
            .order_by(OutboxEvent.id)
            .limit(batch_size)
            .with_for_update(skip_locked=True)
        ).all()
        if not events:
            return DispatchReport(0, 0, 0)
        done = {
            (row.event_id, row.subscriber)
            for row in session.execute(
                select(OutboxDelivery.event_id, OutboxDelivery.subscriber).where(
                    tuple_(OutboxDelivery.brand_id, OutboxDelivery.event_id).in_(
                        [(e.brand_id, e.id) for e in events]
                    )
                )
            )
        }
        dispatched = failed = 0
        for event in events:
            errors: list[str] = []
            for subscriber in subscribers.for_event(event.event_type):
                if (event.id, subscriber.name) in done:
                    continue
                try:
                    with session.begin_nested():
                        subscriber.handle(session, event)
                        session.add(
                            OutboxDelivery(
                                brand_id=event.brand_id,
                                event_id=event.id,
                                subscriber=subscriber.name,
                            )
                        )
                except Exception as error:  # a subscriber's bug must not stop the others
                    errors.append(f"{subscriber.name}: {error!r}"[:500])
                    log.warning(
                        "outbox_subscriber_failed",
                        subscriber=subscriber.name,
                        event_id=event.id,
                        event_type=event.event_type,
                        error=repr(error),
                    )
            if errors:
                failed += 1
                event.attempts += 1
                event.last_error = "; ".join(errors)[:2000]
                event.next_attempt_at = now + backoff(event.attempts)
            else:
                dispatched += 1
                event.dispatched_at = now
        return DispatchReport(len(events), dispatched, failed)


def run_dispatcher(
    database: Database,
    stop: threading.Event,
    *,
    subscribers: SubscriberRegistry | None = None,
    poll_seconds: float = 1.0,
) -> None:
    """Dispatch until ``stop`` is set: woken by NOTIFY on commit, and polling every
    ``poll_seconds`` for retries and for events committed while it was not listening."""
    conninfo = libpq_conninfo(database.url)
    while not stop.is_set():
        try:
            with psycopg.connect(conninfo, autocommit=True) as listener:
                listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
                while not stop.is_set():
                    while dispatch_pending(database, subscribers).claimed:
                        if stop.is_set():
                            return
                    for _ in listener.notifies(timeout=poll_seconds, stop_after=1):
                        pass
        except psycopg.OperationalError as error:
            log.warning("outbox_dispatcher_reconnecting", error=repr(error))
            stop.wait(poll_seconds)
