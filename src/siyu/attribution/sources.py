"""What attribution reads from tracking: the ``tracking_event`` table (siyu.tracking), the
event kinds that count as touches, and whether accepted events are still loading."""

from __future__ import annotations

from sqlalchemy import Table

from siyu.tracking.models import AnonymousVisitor, TrackingEvent
from siyu.tracking.service import events_still_loading

__all__ = [
    "SCAN",
    "TOUCH_KINDS",
    "VISIT",
    "anonymous_visitor",
    "events_still_loading",
    "tracking_event",
]

tracking_event: Table = TrackingEvent.__table__  # type: ignore[assignment]
anonymous_visitor: Table = AnonymousVisitor.__table__  # type: ignore[assignment]

SCAN = "scan"
VISIT = "visit"
TOUCH_KINDS = (SCAN, VISIT)
