"""Background jobs: procrastinate runs siyu's tasks, in-process or in `siyu worker`."""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import func, select, text

from siyu.access.models import LoginAttempt
from siyu.core.clock import utc_now
from siyu.db.session import Database
from siyu.jobs.app import prune_login_attempts
from siyu.jobs.runner import BackgroundWorkers


def _attempt(age: timedelta) -> LoginAttempt:
    return LoginAttempt(
        brand_slug="demo",
        login="x",
        client_ip="127.0.0.1",
        succeeded=False,
        attempted_at=utc_now() - age,
    )


def test_old_login_attempts_are_pruned_and_recent_ones_kept(db: Database) -> None:
    # given
    with db.unit_of_work() as session:
        session.add_all([_attempt(timedelta(days=31)), _attempt(timedelta(minutes=5))])
    # when
    removed = prune_login_attempts(int(time.time()))
    # then
    assert removed == 1
    with db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(LoginAttempt)) == 1


def test_the_in_process_worker_runs_a_deferred_job(db: Database) -> None:
    # given an old login attempt and a job deferred to prune it
    with db.unit_of_work() as session:
        session.add(_attempt(timedelta(days=40)))
    workers = BackgroundWorkers(db, concurrency=1)
    with workers.job_app.open():
        job_id = workers.job_app.configure_task("siyu:prune_login_attempts").defer(
            timestamp=int(time.time())
        )
    # when the workers run
    workers.start()
    try:
        deadline = time.monotonic() + 10
        status = None
        while time.monotonic() < deadline:
            with db.sessions() as session:
                status = session.execute(
                    text("SELECT status FROM procrastinate_jobs WHERE id = :id"), {"id": job_id}
                ).scalar_one()
            if status == "succeeded":
                break
            time.sleep(0.1)
    finally:
        workers.stop()
    # then
    assert status == "succeeded"
    with db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(LoginAttempt)) == 0
