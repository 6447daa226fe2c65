"""Row locks of members. Member rows are locked in ascending id order, always, so that two
merges (or a merge and a purchase) touching the same members cannot deadlock. Take consumer
locks (siyu.consumers.locks) before member locks if both are needed."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.members.models import Member


def lock_members(session: Session, brand_id: int, member_ids: Iterable[int]) -> dict[int, Member]:
    """Lock the named member rows (FOR UPDATE, in id order, held until the transaction ends);
    the ones that exist, by id. The returned rows are refreshed from the database."""
    wanted = sorted(set(member_ids))
    rows = session.scalars(
        select(Member)
        .where(Member.brand_id == brand_id, Member.id.in_(wanted))
        .order_by(Member.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    return {row.id: row for row in rows}


def lock_member(session: Session, brand_id: int, member_id: int) -> Member | None:
    return lock_members(session, brand_id, [member_id]).get(member_id)
