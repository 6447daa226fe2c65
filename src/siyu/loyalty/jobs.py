"""Background work of tiers and points: expiring points every day."""

from __future__ import annotations

import procrastinate

from siyu.core.logging import get_logger
from siyu.db.session import get_database
from siyu.loyalty.expiry import expire_points

tasks = procrastinate.Blueprint()
log = get_logger("siyu.loyalty")


# Cron times are UTC: 16:10 UTC is 00:10 in Asia/Shanghai, just after the day's lots fall due.
@tasks.periodic(cron="10 16 * * *")
@tasks.task(name="expire_points", queue="loyalty", queueing_lock="expire_points")
def expire_points_job(timestamp: int) -> int:
    """Every day: expire the points lots whose expiry has passed (all brands), a batch of
    members per transaction. Durable and safe to run on several workers (members are claimed
    with SKIP LOCKED, and a lot can expire only once)."""
    database = get_database()
    expired = 0
    while True:
        with database.unit_of_work() as session:
            report = expire_points(session)
        expired += report.points
        if report.members == 0:
            break
    if expired:
        log.info("points_expired", points=expired)
    return expired
