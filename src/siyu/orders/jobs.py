"""Background work of orders: cancelling orders nobody paid for in time."""

from __future__ import annotations

import procrastinate

from siyu.core.logging import get_logger
from siyu.db.session import get_database
from siyu.orders.service import cancel_overdue_orders

tasks = procrastinate.Blueprint()
log = get_logger("siyu.orders")


@tasks.periodic(cron="* * * * *")
@tasks.task(name="cancel_overdue_orders", queue="orders", queueing_lock="cancel_overdue_orders")
def cancel_overdue_orders_job(timestamp: int) -> int:
    """Every minute: cancel open orders whose payment deadline passed, releasing their stock.
    Durable (procrastinate in PostgreSQL) and safe to run on several workers."""
    database = get_database()
    cancelled = 0
    while True:
        with database.unit_of_work() as session:
            report = cancel_overdue_orders(session)
        cancelled += report.cancelled
        if report.cancelled == 0:
            break
    if cancelled:
        log.info("overdue_orders_cancelled", count=cancelled)
    return cancelled
