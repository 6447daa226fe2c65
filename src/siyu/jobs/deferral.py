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
    lock: str | None = None,
) -> int:
    """Queue ``task_name`` (its full name, e.g. ``siyu:print_store_codes``) with ``args`` on
    ``queue``, due now or in ``delay_seconds``; returns the job id. Jobs sharing a ``lock``
    never run at once (procrastinate's lock)."""
    return _defer(session, task_name, args, queue, delay_seconds, lock, None)


def defer_job_unless_waiting(
    session: Session,
    task_name: str,
    args: Mapping[str, Any],
    *,
    queue: str,
    queueing_lock: str,
    lock: str | None = None,
) -> int | None:
    """Queue the job unless one with the same ``queueing_lock`` is waiting to start (it will
    see whatever the caller commits, since it has not started yet); returns the new job's id,
    or None. ``lock`` as for ``defer_job``."""
    waiting = session.scalar(
        text(
            "SELECT EXISTS (SELECT 1 FROM procrastinate_jobs WHERE queueing_lock = :key"
            " AND status = 'todo')"
        ),
        {"key": queueing_lock},
    )
    if waiting:
        return None
    return _defer(session, task_name, args, queue, 0, lock, queueing_lock)


def _defer(
    session: Session,
    task_name: str,
    args: Mapping[str, Any],
    queue: str,
    delay_seconds: int,
    lock: str | None,
    queueing_lock: str | None,
) -> int:
    scheduled_at = utc_now() + timedelta(seconds=delay_seconds) if delay_seconds > 0 else None
    job_id = session.execute(
        text(
            "SELECT unnest(procrastinate_defer_jobs_v1(ARRAY[ROW(:queue, :task, 0, :lock,"
            " :queueing_lock, CAST(:args AS jsonb), CAST(:scheduled_at AS timestamptz))"
            "::procrastinate_job_to_defer_v1]))"
        ),
        {
            "queue": queue,
            "task": task_name,
            "lock": lock,
            "queueing_lock": queueing_lock,
            "args": orjson.dumps(dict(args)).decode(),
            "scheduled_at": scheduled_at,
        },
    ).scalar_one()
    return int(job_id)
