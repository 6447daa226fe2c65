"""Events the server records itself, for pages it renders (the web shop's scan landing).

The mini-program reports its own events through the batched API (``siyu.tracking.ingestion``);
a page served by siyu knows the same facts first-hand, so it writes them in the request's
transaction instead of posting to itself.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from siyu.core.clock import utc_now
from siyu.tracking.models import TrackingEvent
from siyu.tracking.service import record_last_visits

# The mini-program scene value of a scanned link QR (普通链接二维码): what a printed code opens.
SCENE_LINK_QR_SCAN = 1011


def record_scan_visit(
    session: Session,
    brand_id: int,
    *,
    anonymous_id: str | None,
    member_id: int | None,
    consumer_id: int | None,
    scene_key: str | None,
    touchpoint_id: int | None,
    store_id: int | None,
    at: datetime | None = None,
) -> None:
    """Record a scan of ``scene_key`` and the visit it opened (two events, fresh ids).

    ``touchpoint_id`` None with a ``scene_key`` keeps the key as an unknown source. A member's
    ``last_visit_at`` moves forward. No locks beyond the member row's UPDATE; no outbox event
    (tracking events are their own record).
    """
    moment = at or utc_now()
    rows = [
        {
            "brand_id": brand_id,
            "event_id": f"srv-{uuid.uuid4().hex}",
            "kind": kind,
            "occurred_at": moment,
            "received_at": moment,
            "anonymous_id": anonymous_id,
            "consumer_id": consumer_id,
            "member_id": member_id,
            "touchpoint_id": touchpoint_id,
            "scene_key": scene_key,
            "scene": SCENE_LINK_QR_SCAN,
            "store_id": store_id,
            "properties": {"recorded_by": "web_shop"},
        }
        for kind in ("scan", "visit")
    ]
    session.execute(
        insert(TrackingEvent)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["brand_id", "event_id"])
    )
    if member_id is not None:
        record_last_visits(session, [(brand_id, member_id, moment)])
