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


def test_a_job_left_doing_by_a_dead_worker_is_put_back_to_todo(db: Database) -> None:
    from siyu.jobs.app import make_job_app

    # given a loader job that a worker took and then died with (no worker holds it any more)
    app = make_job_app(db.url)
    with app.open():
        job_id = app.configure_task("siyu:load_tracking_events").defer()
    with db.unit_of_work() as session:
        session.execute(
            text("UPDATE procrastinate_jobs SET status = 'doing' WHERE id = :id"), {"id": job_id}
        )
        maintenance_id = session.execute(
            text(
                "SELECT unnest(procrastinate_defer_jobs_v1(ARRAY[ROW('maintenance',"
                " 'siyu:retry_stalled_jobs', 0, NULL, NULL, CAST(:args AS jsonb), NULL)"
                "::procrastinate_job_to_defer_v1]))"
            ),
            {"args": '{"timestamp": 0}'},
        ).scalar_one()
    # when the maintenance queue runs
    with app.open():
        app.run_worker(queues=["maintenance"], wait=False, install_signal_handlers=False)
    # then the stalled job is waiting again, and the sweep itself succeeded
    with db.sessions() as session:
        statuses = dict(
            session.execute(
                text("SELECT id, status FROM procrastinate_jobs WHERE id IN (:a, :b)"),
                {"a": job_id, "b": maintenance_id},
            ).all()
        )
    assert statuses == {job_id: "todo", maintenance_id: "succeeded"}
