"""Row locks of the staff domain (one staff row at a time, ``FOR UPDATE``)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.staff.models import Staff


def lock_staff(session: Session, brand_id: int, staff_id: int) -> Staff | None:
    return session.scalar(
        select(Staff).where(Staff.brand_id == brand_id, Staff.id == staff_id).with_for_update()
    )
