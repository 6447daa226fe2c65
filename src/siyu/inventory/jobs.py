"""Background jobs of inventory: expiring cart reservations and the nightly reconciler.

Registered on the siyu job app by ``siyu.jobs.app.make_job_app``.
"""

from __future__ import annotations

import procrastinate
from sqlalchemy import select

from siyu.brands.models import Brand
from siyu.core.logging import get_logger
from siyu.db.session import get_database
from siyu.inventory.maintenance import (
    ReconciliationReport,
    expire_reservations,
    reconcile_stock,
)

log = get_logger("siyu.inventory")

tasks = procrastinate.Blueprint()

EXPIRY_BATCH = 500


@tasks.periodic(cron="* * * * *")
@tasks.task(name="expire_reservations", queue="maintenance", queueing_lock="expire_reservations")
def expire_reservations_job(timestamp: int) -> int:
    """Release cart holds whose time ran out, in batches of one transaction each."""
    database = get_database()
    released = 0
    while True:
        with database.unit_of_work() as session:
            batch = expire_reservations(session, limit=EXPIRY_BATCH)
        released += batch
        if batch < EXPIRY_BATCH:
            break
    if released:
        log.info("reservations_expired", holds=released)
    return released


def reconcile_brand(brand_id: int) -> ReconciliationReport:
    """Reconcile one brand in a transaction of its own and log the report."""
    with get_database().unit_of_work() as session:
        report = reconcile_stock(session, brand_id)
    log.info(
        "stock_reconciled",
        brand_id=brand_id,
        levels_checked=report.levels_checked,
        levels_repaired=len(report.repaired),
        levels_unrepairable=len(report.unrepairable),
        repaired=[repair.__dict__ for repair in report.repaired],
        unrepairable=[repair.__dict__ for repair in report.unrepairable],
    )
    return report


@tasks.periodic(cron="43 2 * * *")
@tasks.task(name="reconcile_stock", queue="maintenance", queueing_lock="reconcile_stock")
def reconcile_stock_job(timestamp: int) -> int:
    """Nightly: reconcile every brand; returns how many levels were repaired."""
    with get_database().sessions() as session:
        brand_ids = list(session.scalars(select(Brand.id).order_by(Brand.id)))
    return sum(len(reconcile_brand(brand_id).repaired) for brand_id in brand_ids)
