"""The job queue: one procrastinate app, its tasks, and how siyu runs its workers.

Jobs live in the siyu database. ``siyu worker`` runs them (and the outbox dispatcher) in a
separate process; ``siyu serve`` and ``siyu demo`` run them in-process by default.
"""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache

import procrastinate
from sqlalchemy import delete

from siyu.access.models import LoginAttempt
from siyu.aftersales.jobs import tasks as aftersales_tasks
from siyu.attribution.jobs import tasks as attribution_tasks
from siyu.core.clock import utc_now
from siyu.db.embedded import libpq_conninfo
from siyu.db.session import get_database
from siyu.inventory.jobs import tasks as inventory_tasks
from siyu.loyalty.jobs import tasks as loyalty_tasks
from siyu.members.jobs import tasks as members_tasks
from siyu.orders.jobs import tasks as orders_tasks
from siyu.segments.jobs import tasks as segments_tasks
from siyu.touchpoints.jobs import tasks as touchpoints_tasks
from siyu.tracking.jobs import tasks as tracking_tasks
from siyu.wechat.jobs import tasks as wechat_tasks

tasks = procrastinate.Blueprint()

LOGIN_ATTEMPT_RETENTION = timedelta(days=30)


@tasks.periodic(cron="17 3 * * *")
@tasks.task(name="prune_login_attempts", queue="maintenance", queueing_lock="prune_login")
def prune_login_attempts(timestamp: int) -> int:
    """Forget login attempts older than the retention window (throttling needs 15 minutes)."""
    database = get_database()
    with database.unit_of_work() as session:
        result = session.execute(
            delete(LoginAttempt).where(
                LoginAttempt.attempted_at < utc_now() - LOGIN_ATTEMPT_RETENTION
            )
        )
    return int(getattr(result, "rowcount", 0) or 0)


@tasks.periodic(cron="*/5 * * * *")
@tasks.task(
    name="retry_stalled_jobs", queue="maintenance", queueing_lock="retry_stalled", pass_context=True
)
async def retry_stalled_jobs(context: procrastinate.JobContext, timestamp: int) -> int:
    """Put back to ``todo`` the jobs left ``doing`` by a worker that stopped sending heartbeats
    (a process that died mid-job); returns how many. Every siyu job may run again: a store code
    run starts over (siyu.touchpoints.runs.claim_run), the loader loads what is left."""
    manager = context.app.job_manager
    stalled = list(await manager.get_stalled_jobs())
    for job in stalled:
        await manager.retry_job(job)
    return len(stalled)


# One app per database per process: ``add_tasks_from`` renames the blueprints' tasks in place,
# so registering a blueprint in a second app would name its tasks "siyu:siyu:...".
@lru_cache(maxsize=8)
def make_job_app(database_url: str) -> procrastinate.App:
    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(conninfo=libpq_conninfo(database_url)),
        import_paths=[
            "siyu.jobs.app",
            "siyu.wechat.jobs",
            "siyu.touchpoints.jobs",
            "siyu.attribution.jobs",
            "siyu.segments.jobs",
            "siyu.tracking.jobs",
        ],
    )
    app.add_tasks_from(tasks, namespace="siyu")
    app.add_tasks_from(wechat_tasks, namespace="siyu")
    app.add_tasks_from(inventory_tasks, namespace="siyu")
    app.add_tasks_from(orders_tasks, namespace="siyu")
    app.add_tasks_from(aftersales_tasks, namespace="siyu")
    app.add_tasks_from(touchpoints_tasks, namespace="siyu")
    app.add_tasks_from(loyalty_tasks, namespace="siyu")
    app.add_tasks_from(members_tasks, namespace="siyu")
    app.add_tasks_from(attribution_tasks, namespace="siyu")
    app.add_tasks_from(segments_tasks, namespace="siyu")
    app.add_tasks_from(tracking_tasks, namespace="siyu")
    return app
