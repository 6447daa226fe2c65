"""The purchase summary kept on the member row (order count, spend, first and last order).

Online orders are counted when paid and taken back on a full refund; offline (POS) orders are
counted when imported. Segments and lifecycle rules read these columns instead of scanning
orders. Every function here updates one member row with a single UPDATE (row lock held until
the caller's transaction ends).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, update
from sqlalchemy.orm import Session

from siyu.members.models import Member


def record_purchase(
    session: Session, brand_id: int, member_id: int, *, amount_fen: int, at: datetime
) -> None:
    """Count one order of ``amount_fen`` made at ``at`` (which may be in the past)."""
    session.execute(
        update(Member)
        .where(Member.brand_id == brand_id, Member.id == member_id)
        .values(
            order_count=Member.order_count + 1,
            total_spent_fen=Member.total_spent_fen + amount_fen,
            first_order_at=func.least(func.coalesce(Member.first_order_at, at), at),
            last_order_at=func.greatest(func.coalesce(Member.last_order_at, at), at),
        )
    )


def record_refund(
    session: Session, brand_id: int, member_id: int, *, amount_fen: int, whole_order: bool
) -> None:
    """Take back ``amount_fen`` of spend; a whole-order refund also uncounts the order.

    First and last order times are left as they were: a refunded visit still happened.
    """
    session.execute(
        update(Member)
        .where(Member.brand_id == brand_id, Member.id == member_id)
        .values(
            order_count=func.greatest(Member.order_count - (1 if whole_order else 0), 0),
            total_spent_fen=func.greatest(Member.total_spent_fen - amount_fen, 0),
        )
    )
