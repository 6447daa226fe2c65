"""Background work of after-sales: reporting complaints nobody answered in time.

Registered on the siyu job app by ``siyu.jobs.app.make_job_app``; importing this module also
subscribes after-sales to refunds on the outbox (siyu.aftersales.subscribers).
"""

from __future__ import annotations

import procrastinate

from siyu.aftersales import subscribers
from siyu.aftersales.complaints import report_overdue_complaints
from siyu.core.logging import get_logger
from siyu.db.session import get_database

tasks = procrastinate.Blueprint()
log = get_logger("siyu.aftersales")

BATCH = 500

subscribers.register()


@tasks.periodic(cron="*/5 * * * *")
@tasks.task(
    name="report_overdue_complaints", queue="maintenance", queueing_lock="overdue_complaints"
)
def report_overdue_complaints_job(timestamp: int) -> int:
    """Every five minutes: report each complaint that passed its response deadline
    unanswered, once (a log line and ComplaintOverdue). Returns how many were reported."""
    database = get_database()
    reported = 0
    while True:
        with database.unit_of_work() as session:
            batch = len(report_overdue_complaints(session, limit=BATCH))
        reported += batch
        if batch < BATCH:
            break
    if reported:
        log.info("overdue_complaints_reported", count=reported)
    return reported
