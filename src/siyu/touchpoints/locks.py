"""Row locks of touchpoints. Only one kind is locked: the touchpoint row (FOR UPDATE, held until
the caller's transaction ends); take org locks (siyu.org.locks) before it if both are needed."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.touchpoints.models import Touchpoint


def lock_touchpoint(session: Session, brand_id: int, touchpoint_id: int) -> Touchpoint | None:
    return session.scalar(
        select(Touchpoint)
        .where(Touchpoint.brand_id == brand_id, Touchpoint.id == touchpoint_id)
        .with_for_update()
    )
