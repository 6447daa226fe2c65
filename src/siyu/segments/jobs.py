"""Background jobs of segments: recomputing scheduled segments and rule tags when due.

Registered on the siyu job app by ``siyu.jobs.app.make_job_app``. Every five minutes the job
lists what is due (hourly or daily, see siyu.segments.rules.is_due) in every brand and
recomputes each in a transaction of its own, skipping any that another transaction holds.
"""

from __future__ import annotations

import procrastinate

from siyu.core.clock import utc_now
from siyu.core.logging import get_logger
from siyu.db.session import get_database
from siyu.segments import service

log = get_logger("siyu.segments")

tasks = procrastinate.Blueprint()


def refresh_due() -> int:
    """Recompute every due segment and rule tag; returns how many were recomputed."""
    database = get_database()
    now = utc_now()
    with database.sessions() as session:
        segments = service.due_segments(session, now)
        rule_tags = service.due_rule_tags(session, now)
    done = 0
    # Rule tags first: segments may test them.
    for brand_id, tag_id in rule_tags:
        with database.unit_of_work() as session:
            difference = service.recompute_due_rule_tag(session, brand_id, tag_id, now)
        if difference is not None:
            done += 1
            log.info(
                "rule_tag_recomputed",
                brand_id=brand_id,
                tag_id=tag_id,
                added=difference.added,
                removed=difference.removed,
            )
    for brand_id, segment_id in segments:
        with database.unit_of_work() as session:
            difference = service.refresh_due_segment(session, brand_id, segment_id, now)
        if difference is not None:
            done += 1
            log.info(
                "segment_refreshed",
                brand_id=brand_id,
                segment_id=segment_id,
                added=difference.added,
                removed=difference.removed,
                member_count=difference.member_count,
            )
    return done


@tasks.periodic(cron="*/5 * * * *")
@tasks.task(name="refresh_due_segments", queue="maintenance", queueing_lock="refresh_segments")
def refresh_due_segments(timestamp: int) -> int:
    """Every five minutes: recompute the scheduled segments and rule tags that are due."""
    return refresh_due()
