"""Row locks of tags and segments (FOR UPDATE, held until the caller's transaction ends).

Order when several are needed: the segment, then the tag. A refresh holds its segment's (or
rule tag's) lock so two refreshes of the same set never interleave their differences.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.segments.models import Segment, Tag


def lock_segment(session: Session, brand_id: int, segment_id: int) -> Segment | None:
    return session.scalar(
        select(Segment)
        .where(Segment.brand_id == brand_id, Segment.id == segment_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def lock_tag(session: Session, brand_id: int, tag_id: int) -> Tag | None:
    return session.scalar(
        select(Tag)
        .where(Tag.brand_id == brand_id, Tag.id == tag_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def try_lock_segment(session: Session, brand_id: int, segment_id: int) -> Segment | None:
    """The segment locked, or None when another transaction holds it (the job skips it)."""
    return session.scalar(
        select(Segment)
        .where(Segment.brand_id == brand_id, Segment.id == segment_id)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )


def try_lock_tag(session: Session, brand_id: int, tag_id: int) -> Tag | None:
    return session.scalar(
        select(Tag)
        .where(Tag.brand_id == brand_id, Tag.id == tag_id)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
