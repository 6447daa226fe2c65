"""Accepting tracking events: validated batches appended to ``tracking_batch`` with group commit.

The answer to ``POST /api/storefront/events`` says which events are accepted, and an accepted
event is durable: its batch is committed before the answer. What the answer needs is checked
here, against per-process caches (siyu.tracking.references): the shape of every event (in
the request, siyu.tracking.rules) and that the stores, products, SKUs and members it names
are the brand's. Everything else (scene keys to touchpoints, store codes to ids, anonymous
visitors to members, members' last visits, and deduplication against the events stored
before) is the loader's (siyu.tracking.loading), which moves the batches into
``tracking_event`` in the background, within about a second when a worker runs.

Why two steps: an event in ``tracking_event`` costs PostgreSQL 25-30 us (its member foreign
key and five indexes: docs/benchmarks.md, ingest), which capped the API near 30,000 events/s
on two cores; a batch of 100 appended whole costs it about as much as one event. The price:
a resent batch is accepted again and stored once, and its events are queryable a moment after
the answer instead of with it.

**Group commit** (``EventIngestor.ingest``): a request hands its validated batch to the
ingestor and waits; a flusher thread takes every batch waiting, checks their references (a few
queries on cache misses, never one per event), appends them with one binary ``COPY
tracking_batch`` in one transaction, and answers the requests only after COMMIT. Then it
queues the loader job (siyu.tracking.jobs) unless one is waiting already. A flush that fails is
split per request, so one request's failure never fails another's.

``background=False`` runs no threads: ``ingest`` flushes on a worker thread of its own, and
tests call ``submit`` and ``flush`` explicitly.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import anyio.to_thread
import psycopg
from psycopg import errors as pg_errors

from siyu.core.logging import get_logger
from siyu.db.embedded import libpq_conninfo
from siyu.db.session import Database
from siyu.tracking.credentials import CredentialCache, Principal
from siyu.tracking.references import ReferenceCache
from siyu.tracking.rules import IngestOutcome, ParsedBatch, Rejection
from siyu.tracking.service import LOAD_QUEUE, LOAD_QUEUEING_LOCK, LOAD_TASK

log = get_logger("siyu.tracking")

COPY_BATCHES = (
    "COPY tracking_batch (brand_id, received_at, consumer_id, member_id, may_name_member,"
    " event_count, skipped, body) FROM STDIN (FORMAT BINARY)"
)
BATCH_TYPES = ["int8", "timestamptz", "int8", "int8", "bool", "int4", "int4[]", "bytea"]


@dataclass(eq=False, slots=True)
class PendingBatch:
    """A validated batch waiting for its flush, and what the flush made of it."""

    principal: Principal
    received_at: datetime
    parsed: ParsedBatch
    body: bytes
    accepted: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    error: BaseException | None = None
    finished: bool = False
    on_done: Callable[[], None] | None = None

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.accepted = 0
        self.rejected = list(self.parsed.rejected)

    def outcome(self) -> IngestOutcome:
        return IngestOutcome(
            self.accepted,
            self.parsed.duplicates,
            tuple(sorted(self.rejected, key=lambda r: r.index)),
        )

    def row(self) -> tuple[Any, ...]:
        """The ``tracking_batch`` row (COPY_BATCHES' columns): every index of the batch that
        is not accepted is skipped by the loader."""
        skipped = (
            []
            if self.accepted == self.parsed.size
            else sorted(
                set(range(self.parsed.size)) - set(self.parsed.indices)
                | {rejection.index for rejection in self.rejected}
            )
        )
        principal = self.principal
        return (
            principal.brand_id,
            self.received_at,
            principal.consumer_id,
            principal.member_id,
            principal.may_name_member,
            self.accepted,
            skipped,
            self.body,
        )


class EventIngestor:
    """Appends senders' batches with group commit (module doc); ``credentials`` authenticates
    the senders.

    Thread-safe. ``background=True`` starts ``flushers`` threads on the first submit, each
    with its own connection; ``stop`` flushes what is left and closes them.
    """

    def __init__(self, database: Database, *, background: bool = True, flushers: int = 2) -> None:
        self.database = database
        self.background = background
        self.flushers = flushers
        self._condition = threading.Condition()
        self._pending: list[PendingBatch] = []
        self._threads: list[threading.Thread] = []
        self._stopping = False
        self._inline_lock = threading.Lock()
        self._inline_connection: psycopg.Connection[Any] | None = None
        self.credentials = CredentialCache(database)
        self.references = ReferenceCache(database)

    # ------------------------------------------------------------ submitting

    async def ingest(
        self, principal: Principal, parsed: ParsedBatch, received_at: datetime, body: bytes
    ) -> IngestOutcome:
        """Append ``parsed`` (decoded from ``body``) for ``principal``; returns once it is
        committed (or refused)."""
        batch = PendingBatch(principal, received_at, parsed, body)
        if not parsed.events:
            return batch.outcome()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()

        def settle() -> None:
            if not future.done():
                future.set_result(None)

        def done() -> None:
            loop.call_soon_threadsafe(settle)

        batch.on_done = done
        self.submit(batch)
        if not self.background:
            await anyio.to_thread.run_sync(self.flush)
        await future
        if batch.error is not None:
            raise batch.error
        return batch.outcome()

    def submit(self, batch: PendingBatch) -> None:
        """Queue a batch for the next flush (and start the flushers on first use)."""
        with self._condition:
            if self._stopping:
                raise RuntimeError("the event ingestor is stopped")
            self._pending.append(batch)
            if self.background and not self._threads:
                self._start()
            self._condition.notify()

    def flush(self) -> int:
        """Flush everything queued now, on the calling thread. Returns the batches flushed."""
        with self._condition:
            batches, self._pending = self._pending, []
        if batches:
            with self._inline_lock:
                self._inline_connection = self._flush(batches, self._inline_connection)
        return len(batches)

    def _start(self) -> None:
        for number in range(self.flushers):
            thread = threading.Thread(
                target=self._run_flusher, name=f"siyu-tracking-flusher-{number}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def _run_flusher(self) -> None:
        connection: psycopg.Connection[Any] | None = None
        try:
            while True:
                with self._condition:
                    while not self._pending and not self._stopping:
                        self._condition.wait()
                    if self._stopping and not self._pending:
                        return
                    batches, self._pending = self._pending, []
                connection = self._flush(batches, connection)
        finally:
            if connection is not None:
                connection.close()

    def stop(self) -> None:
        """Flush what is queued, stop the flushers and close their connections."""
        with self._condition:
            self._stopping = True
            self._condition.notify_all()
        for thread in self._threads:
            thread.join(timeout=30)
        with self._condition:
            batches, self._pending = self._pending, []
        with self._inline_lock:
            if batches:
                self._inline_connection = self._flush(batches, self._inline_connection)
            if self._inline_connection is not None:
                self._inline_connection.close()
                self._inline_connection = None

    # ------------------------------------------------------------ flushing

    def _flush(
        self, batches: list[PendingBatch], connection: psycopg.Connection[Any] | None
    ) -> psycopg.Connection[Any] | None:
        """Check, append and answer ``batches``; returns the connection to keep using (the
        caller closes it), or None when it broke."""
        try:
            self._check(batches)
            rows = [batch.row() for batch in batches if batch.accepted]
            if rows:
                if connection is None or connection.closed:
                    connection = psycopg.connect(libpq_conninfo(self.database.url), autocommit=True)
                with (
                    connection.transaction(),
                    connection.cursor() as cursor,
                    cursor.copy(COPY_BATCHES) as copy,
                ):
                    copy.set_types(BATCH_TYPES)
                    for row in rows:
                        copy.write_row(row)
                queue_loading(connection)
        except Exception as error:
            if connection is not None and connection.closed:
                connection = None
            if len(batches) > 1:
                for batch in batches:
                    batch.reset()
                    connection = self._flush([batch], connection)
                return connection
            log.exception("tracking_flush_failed", events=len(batches[0].parsed.events))
            batches[0].error = error
        for batch in batches:
            batch.finished = True
            if batch.on_done is not None:
                batch.on_done()
        return connection

    def _check(self, batches: list[PendingBatch]) -> None:
        """Refuse the events naming what their brand does not have; count the others."""
        references = self.references
        references.fill(
            ((batch.principal.brand_id, batch.parsed.events) for batch in batches), scenes=False
        )
        now = time.monotonic()
        for batch in batches:
            brand_id = batch.principal.brand_id
            accepted = 0
            for event, index in zip(batch.parsed.events, batch.parsed.indices, strict=True):
                problem = references.problem(brand_id, index, event, now)
                if problem is None:
                    accepted += 1
                else:
                    batch.rejected.append(problem)
            batch.accepted = accepted


# Queues the loader unless a job is queued and not started yet: that one will see this
# commit. A race with another flusher ends in the queueing lock's unique violation: fine.
_QUEUE_LOADING = (
    "SELECT procrastinate_defer_jobs_v1(ARRAY[ROW(%(queue)s, %(task)s, 0, NULL, %(lock)s,"
    " '{}'::jsonb, NULL)::procrastinate_job_to_defer_v1])"
    " WHERE NOT EXISTS (SELECT 1 FROM procrastinate_jobs"
    " WHERE queueing_lock = %(lock)s AND status = 'todo')"
)


def queue_loading(connection: psycopg.Connection[Any]) -> None:
    """Make sure a loader job will run after what ``connection`` committed (autocommit).
    Never raises: the batches are committed and answered whatever happens here, and the
    minute's sweep loads them if no job was queued."""
    try:
        with contextlib.suppress(pg_errors.UniqueViolation):
            connection.execute(
                _QUEUE_LOADING,
                {"queue": LOAD_QUEUE, "task": LOAD_TASK, "lock": LOAD_QUEUEING_LOCK},
            )
    except Exception:
        log.warning("tracking_loader_not_queued", exc_info=True)
