"""Factories of tracking: event bodies, write keys, and batches handed to an ingestor."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

import orjson
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.access.rules import Actor
from siyu.core.clock import utc_now
from siyu.db.session import Database
from siyu.tracking import rules
from siyu.tracking.credentials import Principal
from siyu.tracking.ingestion import EventIngestor, PendingBatch
from siyu.tracking.loading import EventLoader
from siyu.tracking.models import TrackingEvent, TrackingWriteKey
from siyu.tracking.schemas import WriteKeyCreate
from siyu.tracking.service import create_write_key

_numbers = itertools.count(1)


def event(
    kind: str = "view_item",
    *,
    event_id: str | None = None,
    ago: timedelta | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """One event as a client sends it: occurred ``ago`` before now (default a minute)."""
    at = utc_now() - (ago if ago is not None else timedelta(minutes=1))
    return {
        "event_id": event_id or f"evt-{next(_numbers):06d}",
        "kind": kind,
        "occurred_at": at.isoformat(),
        **fields,
    }


def make_write_key(
    session: Session, actor: Actor, name: str = "mini program"
) -> tuple[TrackingWriteKey, str]:
    return create_write_key(session, actor, WriteKeyCreate(name=name))


def post_events(
    client: TestClient,
    headers: dict[str, str],
    events: list[dict[str, Any]],
    *,
    load: bool = True,
) -> Response:
    """POST a batch; then, unless ``load`` is False, load what is waiting into
    ``tracking_event`` as the worker's loader job would."""
    response: Response = client.post(
        "/api/storefront/events", headers=headers, json={"events": events}
    )
    if load:
        load_events(client.app.state.database)  # type: ignore[attr-defined]
    return response


def load_events(database: Database) -> int:
    """Run the loader once over every waiting batch (a fresh loader: no cache from earlier
    tests); returns the events loaded."""
    loader = EventLoader(database)
    try:
        return loader.load_pending()
    finally:
        loader.close()


def write_key_headers(key: str) -> dict[str, str]:
    return {"X-Siyu-Write-Key": key}


def queue_batch(
    ingestor: EventIngestor,
    principal: Principal,
    events: list[dict[str, Any]],
    received_at: datetime | None = None,
) -> PendingBatch:
    """Validate ``events`` and queue them on ``ingestor`` without flushing."""
    received_at = received_at or utc_now()
    body = orjson.dumps({"events": events})
    parsed = rules.parse_batch(
        body,
        received_at,
        may_name_member=principal.may_name_member,
    )
    batch = PendingBatch(principal, received_at, parsed, body)
    ingestor.submit(batch)
    return batch


def stored_events(session: Session, brand_id: int) -> list[TrackingEvent]:
    session.expire_all()
    return list(
        session.scalars(
            select(TrackingEvent)
            .where(TrackingEvent.brand_id == brand_id)
            .order_by(TrackingEvent.id)
        )
    )
