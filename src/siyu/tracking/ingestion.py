"""Ingesting tracking events: group commit into PostgreSQL.

**Authentication** is siyu.tracking.credentials (``EventIngestor.credentials``): a credential
costs no query once cached.

**Group commit** (``EventIngestor.ingest``): a request hands its validated events to the
ingestor and waits; a flusher thread takes everything waiting, resolves scene keys, stores,
products, SKUs, named members and anonymous visitors from per-process caches (filled by a few
queries per flush on misses, never one per event), formats the COPY rows, and writes them in
ONE transaction: when some event has neither a member nor a cached visitor, the brand's
visitor-links lock shared and one query for those visitors' members (siyu.tracking.locks);
one ``COPY tracking_event FROM STDIN``; one UPDATE raising members' last visits. Only after
COMMIT (durable) are the requests answered. Client retries make duplicates rare, so the rows
are copied straight into ``tracking_event``; when that hits an existing event id the
transaction is redone through an unlogged session-temporary staging table and ``INSERT ..
SELECT .. ON CONFLICT (brand_id, event_id) DO NOTHING RETURNING``, which also tells the
duplicates apart (the next ``STAGING_SECONDS`` of flushes go that way directly; measured, the
staging path costs 10-15 % more database CPU per event). A flush that fails is retried on
deadlocks, then split per request, so one request's failure never fails another's.

**Last visits** never make a flush wait: member rows locked elsewhere are skipped (SKIP
LOCKED) and a member is written at most once per ``VISIT_WRITE_INTERVAL`` (a minute) by a
process (rules.due_visits); what is left is carried to the next flushes and written once due,
by a flush or by an idle flusher (``apply_late_visits``). So ``member.last_visit_at`` is
exact for a member's first visit and for older visits, and trails a member who keeps visiting
by at most about a minute, as ``consumer.last_seen_at`` does.

``background=False`` runs no threads: ``ingest`` flushes on a worker thread of its own, and
tests call ``submit`` and ``flush`` explicitly.
"""

from __future__ import annotations

import asyncio
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
from siyu.tracking import rules, service
from siyu.tracking.credentials import CredentialCache, Principal
from siyu.tracking.locks import share_visitor_links
from siyu.tracking.rules import EventIn, EventKind, IngestOutcome, ParsedBatch, Rejection

log = get_logger("siyu.tracking")

REFERENCE_TTL = 60.0
VISITOR_TTL = 60.0
# A store missing from the cached list reloads it, at most this often per brand.
STORE_RELOAD_SECONDS = 1.0
STAGING_SECONDS = 1.0
# A member's last visit is written at most this often per process (rules.due_visits), like
# consumer.last_seen_at: each write of a member row makes the foreign-key checks of that
# member's events slower until the row is cleaned up (measured: writing every active member
# each second raised the database's CPU per event from 20 to 39 us; once a minute, 25 us).
VISIT_WRITE_INTERVAL = 60.0
MAX_ATTEMPTS = 3
CACHE_LIMIT = 200_000
RETRYABLE = (pg_errors.DeadlockDetected, pg_errors.LockNotAvailable, pg_errors.SerializationFailure)

_COLUMNS = ", ".join(rules.COPY_COLUMNS)
COPY_EVENTS = f"COPY tracking_event ({_COLUMNS}) FROM STDIN"
CREATE_STAGING = (
    "CREATE TEMP TABLE IF NOT EXISTS tracking_event_staging ON COMMIT DELETE ROWS AS"
    f" SELECT {_COLUMNS} FROM tracking_event WITH NO DATA"
)
COPY_STAGING = f"COPY tracking_event_staging ({_COLUMNS}) FROM STDIN"
INSERT_FROM_STAGING = (
    f"INSERT INTO tracking_event ({_COLUMNS}) SELECT {_COLUMNS} FROM tracking_event_staging"
    " ON CONFLICT (brand_id, event_id) DO NOTHING RETURNING brand_id, event_id"
)
FIND_VISITORS = (
    "SELECT v.brand_id, v.anonymous_id, v.member_id, v.consumer_id FROM anonymous_visitor v"
    " JOIN unnest(%s::bigint[], %s::text[]) AS w(brand_id, anonymous_id)"
    " ON v.brand_id = w.brand_id AND v.anonymous_id = w.anonymous_id"
)
# Never waits for a member row (SKIP LOCKED): a member locked elsewhere is returned as not
# done and carried to the next flush, so a flush cannot deadlock or queue on last visits.
# NO KEY UPDATE, as the UPDATE itself takes, so other flushes' foreign-key checks
# (KEY SHARE) on the member never wait for it.
RAISE_LAST_VISITS = (
    "WITH visit AS (SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::timestamptz[])"
    " AS v(brand_id, member_id, at)),"
    " locked AS (SELECT m.brand_id, m.id, v.at FROM member m JOIN visit v"
    " ON m.brand_id = v.brand_id AND m.id = v.member_id"
    " ORDER BY m.brand_id, m.id FOR NO KEY UPDATE OF m SKIP LOCKED),"
    " raised AS (UPDATE member m SET last_visit_at = locked.at FROM locked"
    " WHERE m.brand_id = locked.brand_id AND m.id = locked.id"
    " AND (m.last_visit_at IS NULL OR m.last_visit_at < locked.at))"
    " SELECT brand_id, id FROM locked"
)


@dataclass(eq=False, slots=True)
class PendingBatch:
    """A validated batch waiting for its flush, and what the flush made of it."""

    principal: Principal
    received_at: datetime
    parsed: ParsedBatch
    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    error: BaseException | None = None
    finished: bool = False
    on_done: Callable[[], None] | None = None
    received_text: str = ""

    def __post_init__(self) -> None:
        self.received_text = self.received_at.isoformat()
        self.reset()

    def reset(self) -> None:
        self.accepted = 0
        self.duplicates = self.parsed.duplicates
        self.rejected = list(self.parsed.rejected)

    def outcome(self) -> IngestOutcome:
        return IngestOutcome(
            self.accepted, self.duplicates, tuple(sorted(self.rejected, key=lambda r: r.index))
        )


class _Row:
    """An event on its way to COPY, with what the flush resolved for it."""

    __slots__ = (
        "batch",
        "brand_id",
        "consumer_id",
        "event",
        "line",
        "member_id",
        "store_id",
        "touchpoint_id",
    )

    def __init__(
        self,
        batch: PendingBatch,
        event: EventIn,
        brand_id: int,
        consumer_id: int | None,
        member_id: int | None,
        touchpoint_id: int | None,
        store_id: int | None,
    ) -> None:
        self.batch = batch
        self.event = event
        self.brand_id = brand_id
        self.consumer_id = consumer_id
        self.member_id = member_id
        self.touchpoint_id = touchpoint_id
        self.store_id = store_id
        self.line: str | None = None

    @property
    def needs_visitor(self) -> bool:
        return self.member_id is None and self.event.anonymous_id is not None

    def copy_line(self) -> str:
        return rules.copy_line(
            self.brand_id,
            self.event,
            self.batch.received_text,
            self.consumer_id,
            self.member_id,
            self.touchpoint_id,
            self.store_id,
        )


@dataclass(slots=True)
class _Stores:
    deadline: float
    loaded_at: float
    by_code: dict[str, int]
    ids: frozenset[int]


class EventIngestor:
    """Writes senders' events with group commit (module doc); ``credentials`` authenticates
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
        self._staging_until = 0.0
        self.credentials = CredentialCache(database)
        self._scenes: dict[tuple[int, str], tuple[float, int | None]] = {}
        self._stores: dict[int, _Stores] = {}
        self._known: dict[tuple[str, int, int], float] = {}
        self._visitors: dict[tuple[int, str], tuple[float, int, int | None]] = {}
        self._late_visits: list[tuple[int, int, datetime]] = []
        self._late_visits_lock = threading.Lock()
        self._visits_written: dict[tuple[int, int], tuple[float, datetime]] = {}

    # ------------------------------------------------------------ submitting

    async def ingest(
        self, principal: Principal, parsed: ParsedBatch, received_at: datetime
    ) -> IngestOutcome:
        """Write ``parsed`` for ``principal`` and return once it is committed (or refused)."""
        batch = PendingBatch(principal, received_at, parsed)
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
                    if not self._pending and not self._stopping:
                        # Idle: wake up in time for last visits that are waiting.
                        self._condition.wait(VISIT_WRITE_INTERVAL if self._late_visits else None)
                    if self._stopping and not self._pending:
                        return
                    batches, self._pending = self._pending, []
                if batches:
                    connection = self._flush(batches, connection)
                else:
                    self.apply_late_visits(force=False)
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
        self.apply_late_visits()

    # ------------------------------------------------------------ flushing

    def _flush(
        self, batches: list[PendingBatch], connection: psycopg.Connection[Any] | None
    ) -> psycopg.Connection[Any] | None:
        """Resolve, write and answer ``batches``; returns the connection to keep using (the
        caller closes it), or None when it broke."""
        try:
            self._resolve(batches)
            rows = self._rows(batches)
            if rows:
                if connection is None or connection.closed:
                    connection = self._connect()
                self._write(rows, connection)
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
            self._finish(batch)
        return connection

    @staticmethod
    def _finish(batch: PendingBatch) -> None:
        batch.finished = True
        if batch.on_done is not None:
            batch.on_done()

    def _resolve(self, batches: list[PendingBatch]) -> None:
        """Fill the caches for whatever these batches name that they miss: a few queries."""
        now = time.monotonic()
        scenes: dict[int, set[str]] = {}
        store_brands: set[int] = set()
        ids: dict[tuple[str, int], set[int]] = {}
        known = self._known
        for batch in batches:
            brand_id = batch.principal.brand_id
            stores = self._stores.get(brand_id)
            for event in batch.parsed.events:
                if event.scene_key is not None:
                    cached = self._scenes.get((brand_id, event.scene_key))
                    if cached is None or cached[0] < now:
                        scenes.setdefault(brand_id, set()).add(event.scene_key)
                if (event.store_id is not None or event.store_code is not None) and (
                    stores is None
                    or stores.deadline < now
                    or (
                        (
                            event.store_id not in stores.ids
                            if event.store_id is not None
                            else event.store_code not in stores.by_code
                        )
                        and now - stores.loaded_at > STORE_RELOAD_SECONDS
                    )
                ):
                    store_brands.add(brand_id)
                for table, value in (
                    ("product", event.product_id),
                    ("sku", event.sku_id),
                    ("member", event.member_id),
                ):
                    if value is not None and known.get((table, brand_id, value), 0.0) < now:
                        ids.setdefault((table, brand_id), set()).add(value)
        if not (scenes or store_brands or ids):
            return
        with self.database.sessions() as session:
            for brand_id, keys in scenes.items():
                found = service.scene_touchpoints(session, brand_id, keys)
                for key in keys:
                    self._scenes[(brand_id, key)] = (now + REFERENCE_TTL, found.get(key))
            for brand_id in store_brands:
                by_code = service.store_codes(session, brand_id)
                self._stores[brand_id] = _Stores(
                    now + REFERENCE_TTL, now, by_code, frozenset(by_code.values())
                )
            for (table, brand_id), wanted in ids.items():
                for value in service.existing_ids(session, brand_id, table, wanted):
                    known[(table, brand_id, value)] = now + REFERENCE_TTL
            session.rollback()
        for cache in (self._scenes, self._known):
            if len(cache) >= CACHE_LIMIT:
                cache.clear()

    def _rows(self, batches: list[PendingBatch]) -> list[_Row]:
        """The rows to write; events naming what the brand does not have are rejected, and
        an event id already in this flush is a duplicate."""
        now = time.monotonic()
        rows: list[_Row] = []
        seen: set[tuple[int, str]] = set()
        scenes = self._scenes
        known = self._known
        visitors = self._visitors
        for batch in batches:
            principal = batch.principal
            brand_id = principal.brand_id
            stores = self._stores.get(brand_id)
            for event, index in zip(batch.parsed.events, batch.parsed.indices, strict=True):
                store_id = event.store_id
                if event.store_code is not None:
                    store_id = stores.by_code.get(event.store_code) if stores else None
                    if store_id is None:
                        batch.rejected.append(_unknown(index, "store", "store_code"))
                        continue
                elif store_id is not None and (stores is None or store_id not in stores.ids):
                    batch.rejected.append(_unknown(index, "store", "store_id"))
                    continue
                product_id, sku_id, named_member = event.product_id, event.sku_id, event.member_id
                if (
                    product_id is not None
                    and known.get(("product", brand_id, product_id), 0.0) < now
                ):
                    batch.rejected.append(_unknown(index, "product", "product_id"))
                    continue
                if sku_id is not None and known.get(("sku", brand_id, sku_id), 0.0) < now:
                    batch.rejected.append(_unknown(index, "sku", "sku_id"))
                    continue
                if (
                    named_member is not None
                    and known.get(("member", brand_id, named_member), 0.0) < now
                ):
                    batch.rejected.append(_unknown(index, "member", "member_id"))
                    continue
                key = (brand_id, event.event_id)
                if key in seen:
                    batch.duplicates += 1
                    continue
                seen.add(key)
                consumer_id = principal.consumer_id
                member_id = named_member or principal.member_id
                if member_id is None and event.anonymous_id is not None:
                    visitor = visitors.get((brand_id, event.anonymous_id))
                    if visitor is not None and visitor[0] >= now:
                        member_id = visitor[1]
                        consumer_id = consumer_id or visitor[2]
                touchpoint_id = None
                if event.scene_key is not None:
                    scene = scenes.get((brand_id, event.scene_key))
                    touchpoint_id = scene[1] if scene is not None else None
                rows.append(
                    _Row(batch, event, brand_id, consumer_id, member_id, touchpoint_id, store_id)
                )
        return rows

    def _connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(libpq_conninfo(self.database.url), autocommit=True)

    def _write(self, rows: list[_Row], connection: psycopg.Connection[Any]) -> None:
        """Write the rows in one transaction (retried on deadlocks; through staging when an
        event id exists already) and account for them in their batches."""
        direct = time.monotonic() >= self._staging_until
        attempts = 0
        # Formatted before the transaction (all but rows waiting for their visitor's member),
        # so it stays open only for the database's work.
        for row in rows:
            if not row.needs_visitor:
                row.line = row.copy_line()
        with self._late_visits_lock:
            carried, self._late_visits = self._late_visits, []
        try:
            while True:
                try:
                    inserted, late, raised = self._transaction(
                        connection, rows, carried, direct=direct
                    )
                    break
                except pg_errors.UniqueViolation:
                    if not direct:
                        raise
                    direct = False
                    self._staging_until = time.monotonic() + STAGING_SECONDS
                except RETRYABLE:
                    attempts += 1
                    if attempts >= MAX_ATTEMPTS:
                        raise
        except BaseException:
            with self._late_visits_lock:
                self._late_visits.extend(carried)
            raise
        for row in rows:
            if inserted is None or (row.brand_id, row.event.event_id) in inserted:
                row.batch.accepted += 1
            else:
                row.batch.duplicates += 1
        self._remember_visits(raised)
        if late:
            with self._late_visits_lock:
                self._late_visits.extend(late)

    def _remember_visits(self, raised: list[tuple[int, int, datetime]]) -> None:
        now = time.monotonic()
        if len(self._visits_written) >= CACHE_LIMIT:
            self._visits_written.clear()
        for brand_id, member_id, at in raised:
            self._visits_written[(brand_id, member_id)] = (now, at)

    def _transaction(
        self,
        connection: psycopg.Connection[Any],
        rows: list[_Row],
        carried: list[tuple[int, int, datetime]],
        *,
        direct: bool,
    ) -> tuple[
        set[tuple[int, str]] | None,
        list[tuple[int, int, datetime]],
        list[tuple[int, int, datetime]],
    ]:
        """One flush transaction: (keys inserted, or None when all were; last visits left
        for later, ``carried`` ones from earlier flushes included; last visits written)."""
        with connection.transaction(), connection.cursor() as cursor:
            waiting = [row for row in rows if row.needs_visitor]
            if waiting:
                share_visitor_links(cursor, {row.brand_id for row in waiting})
                self._find_visitors(cursor, waiting)
                for row in waiting:
                    row.line = row.copy_line()
            data = "".join([row.line or "" for row in rows]).encode()
            inserted: set[tuple[int, str]] | None = None
            if direct:
                with cursor.copy(COPY_EVENTS) as copy:
                    copy.write(data)
            else:
                cursor.execute(CREATE_STAGING)
                with cursor.copy(COPY_STAGING) as copy:
                    copy.write(data)
                cursor.execute(INSERT_FROM_STAGING)
                inserted = {(brand_id, event_id) for brand_id, event_id in cursor.fetchall()}
            late, raised = self._raise_last_visits(cursor, rows, inserted, carried)
        return inserted, late, raised

    def _find_visitors(self, cursor: psycopg.Cursor[Any], rows: list[_Row]) -> None:
        """Give anonymous ``rows`` the member their visitor is linked to (one query), inside the
        transaction that holds the visitor-links lock, so no link committed before can be
        missed (siyu.tracking.locks)."""
        pairs = list({(row.brand_id, row.event.anonymous_id) for row in rows})
        cursor.execute(FIND_VISITORS, ([p[0] for p in pairs], [p[1] for p in pairs]))
        found = {(b, a): (m, c) for b, a, m, c in cursor.fetchall()}
        if not found:
            return
        deadline = time.monotonic() + VISITOR_TTL
        if len(self._visitors) >= CACHE_LIMIT:
            self._visitors.clear()
        for key, (member_id, consumer_id) in found.items():
            self._visitors[key] = (deadline, member_id, consumer_id)
        for row in rows:
            link = found.get((row.brand_id, row.event.anonymous_id))
            if link is not None:
                row.member_id = link[0]
                row.consumer_id = row.consumer_id or link[1]

    def _raise_last_visits(
        self,
        cursor: psycopg.Cursor[Any],
        rows: list[_Row],
        inserted: set[tuple[int, str]] | None,
        carried: list[tuple[int, int, datetime]],
    ) -> tuple[list[tuple[int, int, datetime]], list[tuple[int, int, datetime]]]:
        """Raise members' last visits (one statement): (visits left for later: deferred by
        rules.due_visits or whose member row was locked; visits written)."""
        latest = rules.latest_visits(
            [
                (row.brand_id, row.member_id, row.event.occurred_at)
                for row in rows
                if row.member_id is not None
                and row.event.kind == EventKind.VISIT
                and (inserted is None or (row.brand_id, row.event.event_id) in inserted)
            ]
            + carried
        )
        visits, deferred = rules.due_visits(
            latest, self._visits_written, time.monotonic(), VISIT_WRITE_INTERVAL
        )
        if not visits:
            return deferred, []
        cursor.execute(
            RAISE_LAST_VISITS,
            ([v[0] for v in visits], [v[1] for v in visits], [v[2] for v in visits]),
        )
        done = {(brand_id, member_id) for brand_id, member_id in cursor.fetchall()}
        locked = [v for v in visits if (v[0], v[1]) not in done]
        return deferred + locked, [v for v in visits if (v[0], v[1]) in done]

    def apply_late_visits(self, *, force: bool = True) -> None:
        """Write the last visits flushes left (member row locked, or member written less
        than ``VISIT_WRITE_INTERVAL`` ago: those only if ``force``) in a transaction of its
        own, which may wait; idle flushers call it. What fails is kept for later."""
        with self._late_visits_lock:
            visits, self._late_visits = self._late_visits, []
        latest = rules.latest_visits(visits)
        if not force:
            latest, deferred = rules.due_visits(
                latest, self._visits_written, time.monotonic(), VISIT_WRITE_INTERVAL
            )
            with self._late_visits_lock:
                self._late_visits.extend(deferred)
        if not latest:
            return
        try:
            with self.database.unit_of_work() as session:
                service.record_last_visits(session, latest)
            self._remember_visits(latest)
        except Exception:
            log.warning("tracking_last_visits_deferred", members=len(latest), exc_info=True)
            with self._late_visits_lock:
                self._late_visits.extend(latest)


def _unknown(index: int, what: str, field_name: str) -> Rejection:
    return Rejection(index, f"unknown_{what}", f"the brand has no such {what}", field_name)
