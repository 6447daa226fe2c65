"""Background jobs of tracking: loading accepted batches into ``tracking_event``.

Registered on the siyu job app by ``siyu.jobs.app.make_job_app``. The API queues
``load_tracking_events`` after each commit of batches unless one is queued and not started
(its queueing lock), so a worker loads them within about a second; the periodic run each
minute catches batches whose queueing was lost (a process ending between its commit and the
queueing) and writes members' last visits left for later.
"""

from __future__ import annotations

import procrastinate

from siyu.core.logging import get_logger
from siyu.db.session import get_database
from siyu.tracking.loading import loader_for
from siyu.tracking.service import LOAD_QUEUE, LOAD_QUEUEING_LOCK, LOAD_TASK_NAME

log = get_logger("siyu.tracking")

tasks = procrastinate.Blueprint()


@tasks.task(name=LOAD_TASK_NAME, queue=LOAD_QUEUE, queueing_lock=LOAD_QUEUEING_LOCK)
def load_tracking_events() -> int:
    """Load every waiting batch (siyu.tracking.loading); returns the events loaded."""
    loaded = loader_for(get_database()).load_pending()
    if loaded:
        log.info("tracking_events_loaded", events=loaded)
    return loaded


@tasks.periodic(cron="* * * * *")
@tasks.task(name="sweep_tracking_batches", queue=LOAD_QUEUE, queueing_lock="sweep_tracking")
def sweep_tracking_batches(timestamp: int) -> int:
    """Load what is waiting and write every last visit left for later."""
    loader = loader_for(get_database())
    loaded = loader.load_pending()
    loader.apply_late_visits(force=True)
    return loaded
