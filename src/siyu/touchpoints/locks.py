"""Locks of touchpoints, each held until the caller's transaction ends; take org locks
(siyu.org.locks) before them if both are needed, and these in this order:

1. ``lock_store_codes``: a transaction-scoped advisory lock per brand and kind, so two bulk
   runs (or a run and the synchronous endpoint) never both create a store's touchpoint;
2. ``lock_touchpoint`` (FOR UPDATE);
3. ``lock_touchpoint_code`` (FOR UPDATE);
4. ``lock_store_code_run`` (FOR UPDATE).
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.touchpoints.models import StoreCodeRun, Touchpoint, TouchpointCode


def lock_store_codes(session: Session, brand_id: int, kind: str) -> None:
    session.execute(
        select(
            func.pg_advisory_xact_lock(func.hashtextextended(f"store-codes:{brand_id}:{kind}", 0))
        )
    )


def lock_touchpoint(session: Session, brand_id: int, touchpoint_id: int) -> Touchpoint | None:
    return session.scalar(
        select(Touchpoint)
        .where(Touchpoint.brand_id == brand_id, Touchpoint.id == touchpoint_id)
        .with_for_update()
    )


def lock_touchpoint_code(
    session: Session, brand_id: int, touchpoint_id: int, code_id: int
) -> TouchpointCode | None:
    return session.scalar(
        select(TouchpointCode)
        .where(
            TouchpointCode.brand_id == brand_id,
            TouchpointCode.touchpoint_id == touchpoint_id,
            TouchpointCode.id == code_id,
        )
        .with_for_update()
    )


def lock_store_code_run(session: Session, brand_id: int, run_id: int) -> StoreCodeRun | None:
    return session.scalar(
        select(StoreCodeRun)
        .where(StoreCodeRun.brand_id == brand_id, StoreCodeRun.id == run_id)
        .with_for_update()
    )
