"""Locks of tracking, in the order they are taken.

0. ``tracking_batch`` rows: the loader takes the batches it loads ``FOR UPDATE SKIP LOCKED``
   (siyu.tracking.loading), so loaders never wait for each other, and deletes them in the
   same transaction.
1. The brand's *visitor links* advisory lock (``hashtextextended('tracking-visitors:<brand>')``):
   a load (siyu.tracking.loading) writing events with an anonymous id and no member holds it
   shared for its transaction, and looks their visitors up only after taking it. Stitching passes
   through it exclusively (``wait_for_loads``: taken and released in one statement, so
   nothing is held afterwards) before it updates events, so every load that could have
   missed a new link has committed by then and its events are stitched, and every later
   load sees the link.
2. ``lock_write_key`` (FOR UPDATE).

Member rows whose last visit is raised are locked in (brand_id, id) order: by a load with
SKIP LOCKED (it never waits for them), by ``record_last_visits`` in a transaction of its own
that holds no tracking lock.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from psycopg import Cursor
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from siyu.tracking.models import TrackingWriteKey

VISITOR_LINKS_KEY = "tracking-visitors:{brand_id}"

# The CTE runs first (MATERIALIZED), so the lock is held and released by this one statement.
_PASS_VISITOR_LINKS = text(
    "WITH taken AS MATERIALIZED (SELECT pg_advisory_lock(hashtextextended(:key, 0)) AS locked)"
    " SELECT pg_advisory_unlock(hashtextextended(:key, 0)) FROM taken"
)


def share_visitor_links(cursor: Cursor[Any], brand_ids: Iterable[int]) -> None:
    """Hold the visitor links of ``brand_ids`` shared until the cursor's transaction ends
    (taken in key order). A statement without parameters: it runs on every load."""
    keys = sorted(VISITOR_LINKS_KEY.format(brand_id=int(b)) for b in set(brand_ids))
    cursor.execute(
        "SELECT "
        + ", ".join(f"pg_advisory_xact_lock_shared(hashtextextended('{key}', 0))" for key in keys)
    )


def wait_for_loads(session: Session, brand_id: int) -> None:
    """Return once every load of the brand running now has ended; holds nothing."""
    session.execute(_PASS_VISITOR_LINKS, {"key": VISITOR_LINKS_KEY.format(brand_id=brand_id)})


def lock_write_key(session: Session, brand_id: int, write_key_id: int) -> TrackingWriteKey | None:
    return session.scalar(
        select(TrackingWriteKey)
        .where(TrackingWriteKey.brand_id == brand_id, TrackingWriteKey.id == write_key_id)
        .with_for_update()
    )
