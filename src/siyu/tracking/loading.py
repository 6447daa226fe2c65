"""Loading accepted batches from ``tracking_batch`` into ``tracking_event``.

The loader job (siyu.tracking.jobs) runs ``EventLoader.load_pending``: transaction after
transaction, it takes up to ``BATCHES_PER_TRANSACTION`` batches (``FOR UPDATE SKIP LOCKED``,
so loaders in several workers share the queue), parses each again exactly as the API did
(siyu.tracking.rules, against the batch's own ``received_at``), leaves out the indices the API
did not accept, resolves scene keys to touchpoints and store codes to ids
(siyu.tracking.references), gives events the member of their consumer, of the member a staff
sender named, or of their anonymous visitor, writes them, raises members' last visits, and
deletes the batches: all in that ONE transaction, so a batch is loaded exactly once.

**Deduplication.** Client retries make duplicates rare, so rows are copied straight into
``tracking_event``; when that hits an existing event id the transaction is redone through an
unlogged session-temporary staging table and ``INSERT .. SELECT .. ON CONFLICT (brand_id,
event_id) DO NOTHING`` (the next ``STAGING_SECONDS`` of loads go that way directly; measured,
the staging path costs 10-15 % more database CPU per event). A resent batch thus adds no row.

**Anonymous visitors.** When some event has neither a member nor a cached visitor, the
transaction takes the brand's visitor-links lock shared, then looks those visitors up (one
query; siyu.tracking.locks), so an event loaded after a login is stitched here and one loaded
before it by the login's stitching.

**Last visits** never make a load wait: member rows locked elsewhere are skipped (SKIP LOCKED)
and a member is written at most once per ``VISIT_WRITE_INTERVAL`` (a minute) by a process
(rules.due_visits); what is left is carried to the next loads and written once due
(``apply_late_visits``, also run by the periodic sweep). So ``member.last_visit_at`` is exact
for a member's first visit and for older visits, and trails a member who keeps visiting by at
most about a minute, as ``consumer.last_seen_at`` does.

An event whose store, product, SKU or member was deleted between the answer and the load is
dropped and logged (``tracking_event_dropped``).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from sqlalchemy import text

from siyu.core.errors import SiyuError
from siyu.core.logging import get_logger
from siyu.db.embedded import libpq_conninfo
from siyu.db.session import Database
from siyu.tracking import rules, service
from siyu.tracking.locks import share_visitor_links
from siyu.tracking.references import ReferenceCache
from siyu.tracking.rules import EventIn, EventKind

log = get_logger("siyu.tracking")

BATCHES_PER_TRANSACTION = 200
VISITOR_TTL = 60.0
STAGING_SECONDS = 1.0
# A member's last visit is written at most this often per process (rules.due_visits), like
# consumer.last_seen_at: each write of a member row makes the foreign-key checks of that
# member's events slower until the row is cleaned up (measured: writing every active member
# each second raised the database's CPU per event from 20 to 39 us; once a minute, 25 us).
VISIT_WRITE_INTERVAL = 60.0
MAX_ATTEMPTS = 3
CACHE_LIMIT = 200_000
RETRYABLE = (pg_errors.DeadlockDetected, pg_errors.LockNotAvailable, pg_errors.SerializationFailure)
# What makes a batch itself unloadable, as opposed to the database being unavailable.
SET_ASIDE_ERRORS = (psycopg.IntegrityError, psycopg.DataError, SiyuError)

_COLUMNS = ", ".join(rules.COPY_COLUMNS)
_BATCH_COLUMNS = "brand_id, id, received_at, consumer_id, member_id, may_name_member, skipped, body"
TAKE_BATCHES = (
    f"SELECT {_BATCH_COLUMNS} FROM tracking_batch WHERE failed_at IS NULL"
    " ORDER BY brand_id, id LIMIT %s FOR UPDATE SKIP LOCKED"
)
TAKE_BATCH = (
    f"SELECT {_BATCH_COLUMNS} FROM tracking_batch WHERE brand_id = %s AND id = %s"
    " AND failed_at IS NULL FOR UPDATE SKIP LOCKED"
)
SET_ASIDE = text(
    "UPDATE tracking_batch SET failed_at = now(), error = :error"
    " WHERE brand_id = :brand_id AND id = :id"
)
PENDING_KEYS = text(
    "SELECT brand_id, id FROM tracking_batch WHERE failed_at IS NULL"
    " ORDER BY brand_id, id LIMIT :limit"
)
# The consumers' members as they are now: a merge since the answer moved a consumer to the
# surviving member, and the member the batch was sent for may be gone.
CONSUMER_MEMBERS = (
    "SELECT c.brand_id, c.id, c.member_id FROM consumer c"
    " JOIN unnest(%s::bigint[], %s::bigint[]) AS w(brand_id, id)"
    " ON c.brand_id = w.brand_id AND c.id = w.id"
)
DELETE_BATCHES = (
    "DELETE FROM tracking_batch b USING unnest(%s::bigint[], %s::bigint[]) AS d(brand_id, id)"
    " WHERE b.brand_id = d.brand_id AND b.id = d.id"
)
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
# done and carried to the next load, so a load cannot deadlock or queue on last visits.
# NO KEY UPDATE, as the UPDATE itself takes, so other loads' foreign-key checks
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

Visit = tuple[int, int, datetime]


@dataclass(frozen=True, slots=True)
class LoadResult:
    """What one transaction of the loader did."""

    batches: int
    events: int
    duplicates: int
    dropped: int


class _Row:
    """An event on its way to COPY, with what the load resolved for it."""

    __slots__ = (
        "brand_id",
        "consumer_id",
        "event",
        "member_id",
        "received_at",
        "store_id",
        "touchpoint_id",
    )

    def __init__(
        self,
        event: EventIn,
        brand_id: int,
        received_at: str,
        consumer_id: int | None,
        member_id: int | None,
        touchpoint_id: int | None,
        store_id: int | None,
    ) -> None:
        self.event = event
        self.brand_id = brand_id
        self.received_at = received_at
        self.consumer_id = consumer_id
        self.member_id = member_id
        self.touchpoint_id = touchpoint_id
        self.store_id = store_id

    @property
    def needs_visitor(self) -> bool:
        return self.member_id is None and self.event.anonymous_id is not None

    def copy_line(self) -> str:
        return rules.copy_line(
            self.brand_id,
            self.event,
            self.received_at,
            self.consumer_id,
            self.member_id,
            self.touchpoint_id,
            self.store_id,
        )


class EventLoader:
    """Moves batches into ``tracking_event`` (module doc). One per process and database
    (``loader_for``), so its caches outlive a job; thread-safe (one load at a time)."""

    def __init__(
        self, database: Database, *, batches_per_transaction: int = BATCHES_PER_TRANSACTION
    ) -> None:
        self.database = database
        self.batches_per_transaction = batches_per_transaction
        self.references = ReferenceCache(database)
        self._lock = threading.Lock()
        self._connection: psycopg.Connection[Any] | None = None
        self._staging_until = 0.0
        self._visitors: dict[tuple[int, str], tuple[float, int, int | None]] = {}
        self._late_visits: list[Visit] = []
        self._visits_written: dict[tuple[int, int], tuple[float, datetime]] = {}

    def load_pending(self) -> int:
        """Load every batch waiting (and those arriving meanwhile), then write the last visits
        that are due; returns the events loaded."""
        loaded = 0
        while True:
            result = self.load_some()
            loaded += result.events
            if result.batches < self.batches_per_transaction:
                break
        self.apply_late_visits(force=False)
        return loaded

    def load_some(self) -> LoadResult:
        """One transaction: up to ``batches_per_transaction`` batches loaded and deleted.

        When its rows are refused (``SET_ASIDE_ERRORS``: a constraint, a value PostgreSQL
        will not take, a body that no longer parses), its batches are loaded one per
        transaction, and a batch refused alone is set aside (``failed_at``, ``error``, logged
        as ``tracking_batch_failed``) so it never blocks the others. Anything else (the
        database unreachable...) is raised with nothing set aside: the job is retried."""
        try:
            return self._load(None)
        except SET_ASIDE_ERRORS:
            log.warning("tracking_load_split", exc_info=True)
        with self.database.sessions() as session:
            keys = [
                (int(brand_id), int(batch_id))
                for brand_id, batch_id in session.execute(
                    PENDING_KEYS, {"limit": self.batches_per_transaction}
                )
            ]
        total = LoadResult(0, 0, 0, 0)
        for key in keys:
            try:
                result = self._load(key)
            except SET_ASIDE_ERRORS as error:
                log.exception("tracking_batch_failed", brand_id=key[0], batch_id=key[1])
                with self.database.unit_of_work() as session:
                    session.execute(
                        SET_ASIDE, {"error": str(error)[:500], "brand_id": key[0], "id": key[1]}
                    )
                result = LoadResult(1, 0, 0, 0)
            total = LoadResult(
                total.batches + result.batches,
                total.events + result.events,
                total.duplicates + result.duplicates,
                total.dropped + result.dropped,
            )
        return total

    def _load(self, only: tuple[int, int] | None) -> LoadResult:
        with self._lock:
            direct = time.monotonic() >= self._staging_until
            attempts = 0
            carried, self._late_visits = self._late_visits, []
            try:
                while True:
                    try:
                        result, late, raised = self._transaction(carried, only, direct=direct)
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
                self._late_visits.extend(carried)
                if self._connection is not None and self._connection.closed:
                    self._connection = None
                raise
            self._remember_visits(raised)
            self._late_visits.extend(late)
            return result

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    # ------------------------------------------------------------ one transaction

    def _connect(self) -> psycopg.Connection[Any]:
        if self._connection is None or self._connection.closed:
            self._connection = psycopg.connect(libpq_conninfo(self.database.url), autocommit=True)
        return self._connection

    def _transaction(
        self, carried: list[Visit], only: tuple[int, int] | None, *, direct: bool
    ) -> tuple[LoadResult, list[Visit], list[Visit]]:
        """(what was loaded; last visits left for later, ``carried`` ones included; last
        visits written). ``only`` takes that one batch instead of the next ones."""
        connection = self._connect()
        with connection.transaction(), connection.cursor() as cursor:
            if only is None:
                cursor.execute(TAKE_BATCHES, (self.batches_per_transaction,))
            else:
                cursor.execute(TAKE_BATCH, only)
            taken = cursor.fetchall()
            if not taken:
                late, raised = self._raise_last_visits(cursor, [], None, carried)
                return LoadResult(0, 0, 0, 0), late, raised
            consumers = list({(row[0], row[3]) for row in taken if row[3] is not None})
            members: dict[tuple[int, int], int | None] = {}
            if consumers:
                cursor.execute(
                    CONSUMER_MEMBERS, ([c[0] for c in consumers], [c[1] for c in consumers])
                )
                members = {(b, c): m for b, c, m in cursor.fetchall()}
            rows, dropped = self._rows(taken, members)
            waiting = [row for row in rows if row.needs_visitor]
            if waiting:
                share_visitor_links(cursor, {row.brand_id for row in waiting})
                self._find_visitors(cursor, waiting)
            data = "".join([row.copy_line() for row in rows]).encode()
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
            cursor.execute(
                DELETE_BATCHES, ([batch[0] for batch in taken], [batch[1] for batch in taken])
            )
        stored = len(rows) if inserted is None else len(inserted)
        return LoadResult(len(taken), stored, len(rows) - stored, dropped), late, raised

    def _rows(
        self, taken: list[tuple[Any, ...]], members: dict[tuple[int, int], int | None]
    ) -> tuple[list[_Row], int]:
        """The rows to write from the batches taken, and how many events were dropped (their
        reference deleted since the answer). ``members`` holds the current member of each
        consumer. Event ids repeated across the batches of this load are written once."""
        parsed = []
        for _, _, received_at, _, _, may_name_member, skipped, body in taken:
            batch = rules.parse_batch(body, received_at, may_name_member=may_name_member)
            left_out = set(skipped)
            parsed.append(
                [e for e, i in zip(batch.events, batch.indices, strict=True) if i not in left_out]
            )
        references = self.references
        references.fill(
            ((row[0], events) for row, events in zip(taken, parsed, strict=True)), scenes=True
        )
        now = time.monotonic()
        visitors = self._visitors
        rows: list[_Row] = []
        seen: set[tuple[int, str]] = set()
        dropped = 0
        for (brand_id, batch_id, received_at, consumer_id, member_id, _, _, _), events in zip(
            taken, parsed, strict=True
        ):
            received_text = received_at.isoformat()
            for event in events:
                key = (brand_id, event.event_id)
                if key in seen:
                    continue
                seen.add(key)
                problem = references.problem(brand_id, 0, event, now)
                if problem is not None:
                    dropped += 1
                    log.warning(
                        "tracking_event_dropped",
                        brand_id=brand_id,
                        batch_id=batch_id,
                        event_id=event.event_id,
                        reason=problem.code,
                    )
                    continue
                event_consumer = consumer_id
                event_member = event.member_id or (
                    members.get((brand_id, consumer_id)) if consumer_id is not None else member_id
                )
                if event_member is None and event.anonymous_id is not None:
                    visitor = visitors.get((brand_id, event.anonymous_id))
                    if visitor is not None and visitor[0] >= now:
                        event_member = visitor[1]
                        event_consumer = event_consumer or visitor[2]
                touchpoint_id = (
                    references.touchpoint_id(brand_id, event.scene_key)
                    if event.scene_key is not None
                    else None
                )
                rows.append(
                    _Row(
                        event,
                        brand_id,
                        received_text,
                        event_consumer,
                        event_member,
                        touchpoint_id,
                        references.store_id(brand_id, event),
                    )
                )
        return rows, dropped

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

    # ------------------------------------------------------------ last visits

    def _remember_visits(self, raised: list[Visit]) -> None:
        now = time.monotonic()
        if len(self._visits_written) >= CACHE_LIMIT:
            self._visits_written.clear()
        for brand_id, member_id, at in raised:
            self._visits_written[(brand_id, member_id)] = (now, at)

    def _raise_last_visits(
        self,
        cursor: psycopg.Cursor[Any],
        rows: list[_Row],
        inserted: set[tuple[int, str]] | None,
        carried: list[Visit],
    ) -> tuple[list[Visit], list[Visit]]:
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
        """Write the last visits loads left (member row locked, or member written less
        than ``VISIT_WRITE_INTERVAL`` ago: those only if ``force``) in a transaction of its
        own, which may wait. What fails is kept for later."""
        with self._lock:
            visits, self._late_visits = self._late_visits, []
            latest = rules.latest_visits(visits)
            if not force:
                latest, deferred = rules.due_visits(
                    latest, self._visits_written, time.monotonic(), VISIT_WRITE_INTERVAL
                )
                self._late_visits.extend(deferred)
            if not latest:
                return
            try:
                with self.database.unit_of_work() as session:
                    service.record_last_visits(session, latest)
                self._remember_visits(latest)
            except Exception:
                log.warning("tracking_last_visits_deferred", members=len(latest), exc_info=True)
                self._late_visits.extend(latest)


_loaders: dict[int, tuple[Database, EventLoader]] = {}
_loaders_lock = threading.Lock()


def loader_for(database: Database) -> EventLoader:
    """This process's loader of ``database`` (created on first use; kept with it)."""
    with _loaders_lock:
        kept = _loaders.get(id(database))
        if kept is None or kept[0] is not database:
            kept = _loaders[id(database)] = (database, EventLoader(database))
        return kept[1]
