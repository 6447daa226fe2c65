"""Background work of attribution: re-attributing every paid order of a brand after its model
changed (deferred by ``siyu.attribution.service.defer_recompute``).

Registered on the siyu job app by ``siyu.jobs.app.make_job_app``; importing this module also
subscribes attribution to order and member events on the outbox (siyu.attribution.subscribers).
"""

from __future__ import annotations

import procrastinate

from siyu.attribution import subscribers
from siyu.attribution.recompute import recompute_brand
from siyu.core.logging import get_logger
from siyu.db.session import get_database

tasks = procrastinate.Blueprint()
log = get_logger("siyu.attribution")

subscribers.register()


@tasks.task(name="recompute_attribution", queue="attribution")
def recompute_attribution(brand_id: int) -> int:
    """Re-attribute every paid order of the brand under its current model, one committed batch
    at a time (siyu.attribution.recompute). Jobs of one brand never overlap (their procrastinate
    lock is ``attribution:<brand>``). Returns how many orders were re-attributed."""
    report = recompute_brand(get_database().unit_of_work, brand_id)
    log.info(
        "attribution_recomputed",
        brand_id=brand_id,
        orders=report.orders,
        credits=report.credits,
        batches=report.batches,
    )
    return report.orders
