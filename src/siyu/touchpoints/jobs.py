"""Background jobs of touchpoints: printing a bulk code run, and dropping old run ZIPs.

Registered on the siyu job app by ``siyu.jobs.app.make_job_app``. ``execute_store_code_run``
is also what ``siyu touchpoints store-codes`` calls in its own process.
"""

from __future__ import annotations

from collections.abc import Callable

import procrastinate

from siyu.core.errors import SiyuError
from siyu.core.logging import get_logger
from siyu.db.session import Database, get_database
from siyu.touchpoints import runs
from siyu.touchpoints.rules import CodeArchive

log = get_logger("siyu.touchpoints")

tasks = procrastinate.Blueprint()

# Stores printed per transaction: progress moves every few hundred milliseconds, and a
# failure loses little.
BATCH_STORES = 50

ProgressCallback = Callable[[int, int], None]


def execute_store_code_run(
    database: Database,
    brand_id: int,
    run_id: int,
    *,
    on_progress: ProgressCallback | None = None,
) -> str:
    """Print the run: claim it, then BATCH_STORES stores per unit of work (their touchpoints,
    codes and images committed with the run's progress), then leave the ZIP on the run.
    Returns the run's final status ("succeeded", "failed", or "skipped" when there was
    nothing to claim). A refusal (SiyuError) fails the run with its message; anything else
    fails it too and is raised again. ``on_progress(done, total)`` after each batch."""
    with database.unit_of_work() as session:
        work = runs.claim_run(session, brand_id, run_id)
    if work is None:
        return "skipped"
    archive = CodeArchive()
    total = len(work.store_ids)
    try:
        for start in range(0, total, BATCH_STORES):
            batch = work.store_ids[start : start + BATCH_STORES]
            with database.unit_of_work() as session:
                for printed, image in runs.print_run_stores(session, work, batch):
                    archive.add(printed, image)
                done = runs.record_progress(session, brand_id, run_id, len(batch))
            if on_progress is not None:
                on_progress(done, total)
        content = archive.close()
        with database.unit_of_work() as session:
            runs.finish_run(session, brand_id, run_id, content)
    except SiyuError as error:
        log.warning("store_code_run_failed", brand_id=brand_id, run_id=run_id, code=error.code)
        with database.unit_of_work() as session:
            runs.fail_run(session, brand_id, run_id, error.message)
        return runs.FAILED
    except Exception as error:
        with database.unit_of_work() as session:
            runs.fail_run(session, brand_id, run_id, f"Internal error ({type(error).__name__}).")
        raise
    log.info("store_code_run_succeeded", brand_id=brand_id, run_id=run_id, stores=total)
    return runs.SUCCEEDED


@tasks.task(name="print_store_codes", queue=runs.RUN_QUEUE)
def print_store_codes(brand_id: int, run_id: int) -> str:
    """The job ``start_run`` defers (as ``siyu:print_store_codes``)."""
    return execute_store_code_run(get_database(), brand_id, run_id)


@tasks.periodic(cron="37 4 * * *")
@tasks.task(
    name="expire_store_code_archives",
    queue="maintenance",
    queueing_lock="expire_store_code_archives",
)
def expire_store_code_archives(timestamp: int) -> int:
    """Drop the ZIPs of runs finished more than runs.ARCHIVE_RETENTION ago."""
    with get_database().unit_of_work() as session:
        return runs.expire_archives(session)
