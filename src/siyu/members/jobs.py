"""Background work of members: the daily lifecycle refresh (dormant, churned, thresholds)."""

from __future__ import annotations

import procrastinate

from siyu.core.logging import get_logger
from siyu.db.session import get_database
from siyu.members.lifecycle import refresh_lifecycle_stages

tasks = procrastinate.Blueprint()
log = get_logger("siyu.members")


@tasks.periodic(cron="40 2 * * *")
@tasks.task(
    name="refresh_lifecycle_stages", queue="members", queueing_lock="refresh_lifecycle_stages"
)
def refresh_lifecycle_stages_job(timestamp: int) -> dict[str, int]:
    """Every night (02:40 UTC, before Shanghai's morning): move idle buyers to dormant and
    churned, and everyone else to the stage the brand's thresholds give, one UPDATE per stage
    across all brands. Durable and safe to run on several workers (queueing lock)."""
    database = get_database()
    with database.unit_of_work() as session:
        moved = refresh_lifecycle_stages(session)
    if any(moved.values()):
        log.info("lifecycle_stages_refreshed", **moved)
    return moved
