"""What attribution reads from tracking: the ``tracking_event`` table (siyu.tracking) and the
event kinds that count as touches."""

from __future__ import annotations

from sqlalchemy import Table

from siyu.tracking.models import AnonymousVisitor, TrackingEvent

tracking_event: Table = TrackingEvent.__table__  # type: ignore[assignment]
anonymous_visitor: Table = AnonymousVisitor.__table__  # type: ignore[assignment]

SCAN = "scan"
VISIT = "visit"
TOUCH_KINDS = (SCAN, VISIT)
