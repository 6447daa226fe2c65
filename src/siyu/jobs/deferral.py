"""Deferring a procrastinate job inside the caller's transaction.

Services import this (never ``siyu.jobs.app``, which imports every domain's tasks): the job
row is written by the same SQL procrastinate uses, on the caller's connection, so the job
exists only if the caller commits, and a worker can never see it before the rows it reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.orm import Session

from siyu.core.clock import utc_now


def defer_job(
    session: Session,
    task_name: str,
    args: Mapping[str, Any],
    *,
    queue: str,
    delay_seconds: int = 0,
) -> int:
    """Queue ``task_name`` (its full name, e.g. ``siyu:print_store_codes``) with ``args`` on
    ``queue``, due now or in ``delay_seconds``; returns the job id."""
    scheduled_at = utc_now() + timedelta(seconds=delay_seconds) if delay_seconds > 0 else None
    return int(
        session.execute(
            text(
                "SELECT unnest(procrastinate_defer_jobs_v1(ARRAY[ROW(:queue, :task, 0, NULL, "
                "NULL, CAST(:args AS jsonb), CAST(:scheduled_at AS timestamptz))"
                "::procrastinate_job_to_defer_v1]))"
            ),
            {
                "queue": queue,
                "task": task_name,
                "args": orjson.dumps(dict(args)).decode(),
                "scheduled_at": scheduled_at,
            },
        ).scalar_one()
    )
