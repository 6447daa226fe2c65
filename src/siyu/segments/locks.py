"""Row locks of tags and segments (FOR UPDATE, held until the caller's transaction ends).

Order when several are needed: the segment, then the tag. A refresh holds its segment's (or
rule tag's) lock so two refreshes of the same set never interleave their differences.
"""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.segments.models import Segment, Tag

Locked = TypeVar("Locked", Segment, Tag)


def _lock(
    session: Session, model: type[Locked], brand_id: int, row_id: int, *, skip_locked: bool
) -> Locked | None:
    return session.scalar(
        select(model)
        .where(model.brand_id == brand_id, model.id == row_id)
        .with_for_update(skip_locked=skip_locked)
        .execution_options(populate_existing=True)
    )


def lock_segment(session: Session, brand_id: int, segment_id: int) -> Segment | None:
    return _lock(session, Segment, brand_id, segment_id, skip_locked=False)


def lock_tag(session: Session, brand_id: int, tag_id: int) -> Tag | None:
    return _lock(session, Tag, brand_id, tag_id, skip_locked=False)


def try_lock_segment(session: Session, brand_id: int, segment_id: int) -> Segment | None:
    """The segment locked, or None when another transaction holds it (the job skips it)."""
    return _lock(session, Segment, brand_id, segment_id, skip_locked=True)


def try_lock_tag(session: Session, brand_id: int, tag_id: int) -> Tag | None:
    return _lock(session, Tag, brand_id, tag_id, skip_locked=True)
