"""Running background work: the procrastinate worker and the outbox dispatcher.

``BackgroundWorkers`` runs both on threads of the current process (the embedded default);
``siyu worker`` uses the same class in a process of its own.

Outbox subscribers register themselves on ``siyu.outbox.dispatcher.registry`` when their
module is imported; the imports below make sure the dispatcher started here delivers to them.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

import procrastinate

from siyu.aftersales import subscribers as aftersales_subscribers
from siyu.attribution import subscribers as attribution_subscribers
from siyu.consent import subscribers as consent_subscribers
from siyu.core.logging import get_logger
from siyu.db.session import Database
from siyu.jobs.app import make_job_app
from siyu.loyalty import subscribers as loyalty_subscribers
from siyu.members import subscribers as members_subscribers
from siyu.outbox.dispatcher import run_dispatcher
from siyu.settlement import subscribers as settlement_subscribers
from siyu.tracking import subscribers as tracking_subscribers

log = get_logger("siyu.jobs")

# Registered on import (see the module docstring); named so the import is not unused.
SUBSCRIBER_MODULES = (
    aftersales_subscribers,
    attribution_subscribers,
    loyalty_subscribers,
    members_subscribers,
    settlement_subscribers,
    consent_subscribers,
    tracking_subscribers,
)


class BackgroundWorkers:
    def __init__(self, database: Database, *, concurrency: int = 2) -> None:
        self.database = database
        self.concurrency = concurrency
        self.job_app: procrastinate.App = make_job_app(database.url)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._worker_task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._stop.clear()
        self._threads = [
            threading.Thread(
                target=run_dispatcher,
                args=(self.database, self._stop),
                name="siyu-outbox",
                daemon=True,
            ),
            threading.Thread(target=self._run_jobs, name="siyu-jobs", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        log.info("background_workers_started", concurrency=self.concurrency)

    def _run_jobs(self) -> None:
        asyncio.run(self._jobs_main())

    async def _jobs_main(self) -> None:
        self._loop = asyncio.get_running_loop()
        async with self.job_app.open_async():
            self._worker_task = asyncio.create_task(
                self.job_app.run_worker_async(
                    concurrency=self.concurrency, install_signal_handlers=False
                )
            )
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker_task

    def stop(self, timeout: float = 10.0) -> None:
        """Ask both loops to finish their current work and wait for them."""
        self._stop.set()
        if self._loop is not None and self._worker_task is not None:
            self._loop.call_soon_threadsafe(self._worker_task.cancel)
        for thread in self._threads:
            thread.join(timeout)
        log.info("background_workers_stopped")

    def wait(self) -> None:
        """Block until stopped (for ``siyu worker``)."""
        try:
            while not self._stop.wait(1.0):
                pass
        except KeyboardInterrupt:
            self.stop()
