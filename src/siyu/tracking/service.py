"""Tracking: storefront write keys, the lookups ingestion needs, stitching anonymous visitors
to members, members' last visits, and the member journey.

Every function takes the caller's session and never commits. Write keys are brand-level and
changed by staff with ``tracking:write`` (audited, published); only their SHA-256 digest is
stored and the plain key is returned once. The batched event API itself lives in
siyu.tracking.ingestion (group commit) and uses the read functions here on cache misses.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime

from sqlalchemy import and_, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from siyu.access.rules import Actor, Permission
from siyu.audit.service import record_change, record_creation
from siyu.catalog.models import Product, Sku
from siyu.core.clock import utc_now
from siyu.core.snapshot import row_snapshot
from siyu.jobs.deferral import defer_job_unless_waiting
from siyu.members.models import Member
from siyu.org.models import Store
from siyu.outbox.service import record_event
from siyu.touchpoints.models import Touchpoint, TouchpointCode
from siyu.touchpoints.rules import is_valid_scene_key
from siyu.tracking import events
from siyu.tracking.errors import InvalidWriteKey, WriteKeyNotFound
from siyu.tracking.locks import lock_write_key, wait_for_loads
from siyu.tracking.models import (
    AnonymousVisitor,
    TrackingBatch,
    TrackingEvent,
    TrackingWriteKey,
)
from siyu.tracking.rules import EventKind
from siyu.tracking.schemas import (
    EventBacklogOut,
    JourneyEventOut,
    SetAsideBatchOut,
    WriteKeyCreate,
)

WRITE_KEY_PREFIX = "siyuw_"
JOURNEY_MAX = 500


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _new_key() -> str:
    return WRITE_KEY_PREFIX + secrets.token_urlsafe(32)


# ---------------------------------------------------------------- write keys


def list_write_keys(session: Session, actor: Actor) -> Sequence[TrackingWriteKey]:
    """The brand's write keys, newest first (revoked ones included)."""
    actor.require(Permission.TRACKING_WRITE)
    return session.scalars(
        select(TrackingWriteKey)
        .where(TrackingWriteKey.brand_id == actor.brand_id)
        .order_by(TrackingWriteKey.id.desc())
    ).all()


def create_write_key(
    session: Session, actor: Actor, data: WriteKeyCreate
) -> tuple[TrackingWriteKey, str]:
    """A new write key for the brand and its plain value (shown once). Audited, published
    (TrackingWriteKeyCreated). Raises PermissionDenied."""
    actor.require(Permission.TRACKING_WRITE)
    plain = _new_key()
    row = TrackingWriteKey(
        brand_id=actor.brand_id,
        name=data.name,
        key_digest=key_digest(plain),
        key_prefix=plain[:12],
        created_by_staff_id=actor.staff_id,
    )
    session.add(row)
    session.flush()
    record_creation(session, actor, object_type="tracking_write_key", row=row)
    record_event(
        session,
        actor.brand_id,
        events.TrackingWriteKeyCreated(tracking_write_key_id=row.id, name=row.name),
    )
    return row, plain


def _locked_key(session: Session, actor: Actor, write_key_id: int) -> TrackingWriteKey:
    row = lock_write_key(session, actor.brand_id, write_key_id)
    if row is None:
        raise WriteKeyNotFound(f"Write key {write_key_id} was not found.")
    return row


def rotate_write_key(
    session: Session, actor: Actor, write_key_id: int
) -> tuple[TrackingWriteKey, str, str]:
    """Replace the key (locks its row): returns the row, the new plain key (shown once) and
    the old key's digest, which stops working at commit (the caller drops it from caches).
    Audited, published. Raises PermissionDenied, WriteKeyNotFound (also when revoked)."""
    actor.require(Permission.TRACKING_WRITE)
    row = _locked_key(session, actor, write_key_id)
    if row.revoked_at is not None:
        raise WriteKeyNotFound(f"Write key {write_key_id} was revoked.")
    old_digest = row.key_digest
    before = row_snapshot(row, exclude=("key_digest",))
    plain = _new_key()
    row.key_digest = key_digest(plain)
    row.key_prefix = plain[:12]
    row.rotated_at = utc_now()
    session.flush()
    record_change(
        session,
        actor,
        action="tracking_write_key.rotate",
        object_type="tracking_write_key",
        object_id=row.id,
        before=before,
        after=row_snapshot(row, exclude=("key_digest",)),
    )
    record_event(
        session, actor.brand_id, events.TrackingWriteKeyRotated(tracking_write_key_id=row.id)
    )
    return row, plain, old_digest


def revoke_write_key(session: Session, actor: Actor, write_key_id: int) -> TrackingWriteKey:
    """End the key (locks its row; revoking twice changes nothing). Audited, published.
    Raises PermissionDenied, WriteKeyNotFound."""
    actor.require(Permission.TRACKING_WRITE)
    row = _locked_key(session, actor, write_key_id)
    if row.revoked_at is not None:
        return row
    before = row_snapshot(row, exclude=("key_digest",))
    row.revoked_at = utc_now()
    session.flush()
    record_change(
        session,
        actor,
        action="tracking_write_key.revoke",
        object_type="tracking_write_key",
        object_id=row.id,
        before=before,
        after=row_snapshot(row, exclude=("key_digest",)),
    )
    record_event(
        session, actor.brand_id, events.TrackingWriteKeyRevoked(tracking_write_key_id=row.id)
    )
    return row


def authenticate_write_key(session: Session, key: str) -> tuple[int, int]:
    """(brand id, key id) of a live write key. Raises InvalidWriteKey. Writes nothing."""
    if not key.startswith(WRITE_KEY_PREFIX):
        raise InvalidWriteKey("The write key is not a siyu storefront write key.")
    row = session.execute(
        select(TrackingWriteKey.brand_id, TrackingWriteKey.id).where(
            TrackingWriteKey.key_digest == key_digest(key),
            TrackingWriteKey.revoked_at.is_(None),
        )
    ).one_or_none()
    if row is None:
        raise InvalidWriteKey("The write key is unknown, rotated or revoked.")
    return row[0], row[1]


# ---------------------------------------------------------------- the loader's backlog

SET_ASIDE_SHOWN = 50
# The loader job (siyu.tracking.jobs): its name on the "siyu" job app, queue and queueing lock.
LOAD_TASK_NAME = "load_tracking_events"
LOAD_TASK = f"siyu:{LOAD_TASK_NAME}"
LOAD_QUEUE = "tracking"
LOAD_QUEUEING_LOCK = "load_tracking_events"


def event_backlog(session: Session, actor: Actor) -> EventBacklogOut:
    """The brand's accepted events not loaded yet: waiting, and set aside with their errors.
    Needs tracking:write. Reads only."""
    actor.require(Permission.TRACKING_WRITE)
    waiting_row = TrackingBatch.failed_at.is_(None)
    aside_row = TrackingBatch.failed_at.is_not(None)
    totals = session.execute(
        select(
            func.count().filter(waiting_row),
            func.coalesce(func.sum(TrackingBatch.event_count).filter(waiting_row), 0),
            func.min(TrackingBatch.received_at).filter(waiting_row),
            func.count().filter(aside_row),
            func.coalesce(func.sum(TrackingBatch.event_count).filter(aside_row), 0),
        ).where(TrackingBatch.brand_id == actor.brand_id)
    ).one()
    shown = session.scalars(
        select(TrackingBatch)
        .where(TrackingBatch.brand_id == actor.brand_id, aside_row)
        .order_by(TrackingBatch.id.desc())
        .limit(SET_ASIDE_SHOWN)
    ).all()
    return EventBacklogOut(
        batches_waiting=totals[0],
        events_waiting=totals[1],
        oldest_waiting_received_at=totals[2],
        batches_set_aside=totals[3],
        events_set_aside=totals[4],
        set_aside=[SetAsideBatchOut.model_validate(row) for row in shown],
    )


def retry_set_aside_batches(session: Session, actor: Actor) -> tuple[int, int]:
    """Hand the brand's set-aside batches back to the loader (once their cause is fixed) and
    queue it; returns (batches, events). Audited and published when there were any. Needs
    tracking:write. Locks the batches' rows (UPDATE)."""
    actor.require(Permission.TRACKING_WRITE)
    retried = (
        session.execute(
            update(TrackingBatch)
            .where(TrackingBatch.brand_id == actor.brand_id, TrackingBatch.failed_at.is_not(None))
            .values(failed_at=None, error=None)
            .returning(TrackingBatch.event_count)
        )
        .scalars()
        .all()
    )
    if not retried:
        return 0, 0
    batches, count = len(retried), sum(retried)
    record_change(
        session,
        actor,
        action="tracking_batch.retry",
        object_type="brand",
        object_id=actor.brand_id,
        before={"batches_set_aside": batches, "events_set_aside": count},
        after={"batches_set_aside": 0, "events_set_aside": 0},
    )
    record_event(
        session,
        actor.brand_id,
        events.TrackingBatchesRetried(brand_id=actor.brand_id, batches=batches, events=count),
    )
    defer_job_unless_waiting(
        session, LOAD_TASK, {}, queue=LOAD_QUEUE, queueing_lock=LOAD_QUEUEING_LOCK
    )
    return batches, count


def events_still_loading(session: Session, brand_id: int, received_by: datetime) -> bool:
    """Whether a batch of the brand accepted at or before ``received_by`` is still waiting
    for the loader (set-aside batches are not counted: they may never load). What reads
    touches at a moment (attribution) waits until this is False. One index probe; no locks."""
    oldest = session.scalar(
        select(TrackingBatch.received_at)
        .where(TrackingBatch.brand_id == brand_id, TrackingBatch.failed_at.is_(None))
        .order_by(TrackingBatch.brand_id, TrackingBatch.id)
        .limit(1)
    )
    return oldest is not None and oldest <= received_by


# ---------------------------------------------------------------- lookups for ingestion


def scene_touchpoints(
    session: Session, brand_id: int, scene_keys: Collection[str]
) -> dict[str, int]:
    """The touchpoint each known scene key names (any of a touchpoint's codes, active or
    not); unknown and malformed keys are simply absent. One query."""
    wanted = [key for key in scene_keys if is_valid_scene_key(key)]
    if not wanted:
        return {}
    rows = session.execute(
        select(TouchpointCode.scene_key, TouchpointCode.touchpoint_id).where(
            TouchpointCode.brand_id == brand_id, TouchpointCode.scene_key.in_(wanted)
        )
    )
    return {key: touchpoint_id for key, touchpoint_id in rows}


def store_codes(session: Session, brand_id: int) -> dict[str, int]:
    """Every store of the brand by code (a few thousand at most). One query."""
    rows = session.execute(select(Store.code, Store.id).where(Store.brand_id == brand_id))
    return {code: store_id for code, store_id in rows}


_ID_TABLES: dict[str, type[Product] | type[Sku] | type[Member]] = {
    "product": Product,
    "sku": Sku,
    "member": Member,
}


def existing_ids(session: Session, brand_id: int, table: str, ids: Collection[int]) -> set[int]:
    """Which of ``ids`` exist in the brand's ``table`` (product, sku or member). One query."""
    if not ids:
        return set()
    model = _ID_TABLES[table]
    return set(
        session.scalars(select(model.id).where(model.brand_id == brand_id, model.id.in_(ids)))
    )


def record_last_visits(session: Session, visits: Iterable[tuple[int, int, datetime]]) -> int:
    """Raise ``member.last_visit_at`` to each (brand_id, member_id, time) if later, in one
    statement; member rows are locked in (brand_id, id) order. Returns the members changed."""
    rows = sorted(visits)
    if not rows:
        return 0
    result = session.execute(
        text(
            "WITH visit AS (SELECT * FROM unnest(CAST(:brands AS bigint[]),"
            " CAST(:members AS bigint[]), CAST(:times AS timestamptz[]))"
            " AS v(brand_id, member_id, at)),"
            " locked AS (SELECT m.brand_id, m.id, v.at FROM member m JOIN visit v"
            " ON m.brand_id = v.brand_id AND m.id = v.member_id"
            " WHERE m.last_visit_at IS NULL OR m.last_visit_at < v.at"
            " ORDER BY m.brand_id, m.id FOR NO KEY UPDATE OF m)"
            " UPDATE member m SET last_visit_at = locked.at FROM locked"
            " WHERE m.brand_id = locked.brand_id AND m.id = locked.id"
            " AND (m.last_visit_at IS NULL OR m.last_visit_at < locked.at)"
        ),
        {
            "brands": [r[0] for r in rows],
            "members": [r[1] for r in rows],
            "times": [r[2] for r in rows],
        },
    )
    return int(getattr(result, "rowcount", 0) or 0)


# ---------------------------------------------------------------- stitching


def link_anonymous_visitor(
    session: Session,
    brand_id: int,
    anonymous_id: str,
    member_id: int,
    consumer_id: int | None,
) -> int:
    """Tie ``anonymous_id`` to the member who just logged in with it and stitch its events.

    Upserts the visitor link (the latest login wins), waits for the brand's running ingestion
    loads to end (siyu.tracking.locks), then gives every event of the visitor that has no
    member this member and consumer (one statement), and raises the member's last visit to
    its latest stitched visit. Idempotent. Publishes AnonymousVisitorLinked. Returns the
    number of events stitched.
    """
    now = utc_now()
    visitor_id = session.scalar(
        insert(AnonymousVisitor)
        .values(
            brand_id=brand_id,
            anonymous_id=anonymous_id,
            member_id=member_id,
            consumer_id=consumer_id,
            linked_at=now,
        )
        .on_conflict_do_update(
            index_elements=["brand_id", "anonymous_id"],
            set_={"member_id": member_id, "consumer_id": consumer_id, "linked_at": now},
        )
        .returning(AnonymousVisitor.id)
    )
    assert visitor_id is not None
    wait_for_loads(session, brand_id)
    stitched = session.execute(
        update(TrackingEvent)
        .where(
            TrackingEvent.brand_id == brand_id,
            TrackingEvent.anonymous_id == anonymous_id,
            TrackingEvent.member_id.is_(None),
        )
        .values(
            member_id=member_id, consumer_id=func.coalesce(TrackingEvent.consumer_id, consumer_id)
        )
        .returning(TrackingEvent.kind, TrackingEvent.occurred_at),
        execution_options={"synchronize_session": False},
    ).all()
    visits = [at for kind, at in stitched if kind == EventKind.VISIT]
    if visits:
        record_last_visits(session, [(brand_id, member_id, max(visits))])
    record_event(
        session,
        brand_id,
        events.AnonymousVisitorLinked(
            anonymous_visitor_id=visitor_id,
            member_id=member_id,
            consumer_id=consumer_id,
            events_stitched=len(stitched),
        ),
    )
    return len(stitched)


# ---------------------------------------------------------------- the member's journey


def member_journey(
    session: Session, brand_id: int, member_id: int, limit: int = 50
) -> list[JourneyEventOut]:
    """The member's events, newest first, with touchpoint (name, kind, code) and store
    (the event's, else the touchpoint's) resolved: events tied to the member, and events of
    the member's anonymous visitors not stitched yet. For the member 360; the caller checks
    that the member is in the actor's scope. No locks."""
    limit = max(1, min(limit, JOURNEY_MAX))
    visitors = select(AnonymousVisitor.anonymous_id).where(
        AnonymousVisitor.brand_id == brand_id, AnonymousVisitor.member_id == member_id
    )
    store_id = func.coalesce(TrackingEvent.store_id, Touchpoint.store_id)
    rows = session.execute(
        select(
            TrackingEvent,
            Touchpoint.code,
            Touchpoint.name,
            Touchpoint.kind,
            store_id,
            Store.code,
            Store.name,
        )
        .outerjoin(
            Touchpoint,
            and_(
                Touchpoint.brand_id == TrackingEvent.brand_id,
                Touchpoint.id == TrackingEvent.touchpoint_id,
            ),
        )
        .outerjoin(Store, and_(Store.brand_id == TrackingEvent.brand_id, Store.id == store_id))
        .where(
            TrackingEvent.brand_id == brand_id,
            or_(
                TrackingEvent.member_id == member_id,
                and_(
                    TrackingEvent.member_id.is_(None),
                    TrackingEvent.anonymous_id.in_(visitors),
                ),
            ),
        )
        .order_by(TrackingEvent.occurred_at.desc(), TrackingEvent.id.desc())
        .limit(limit)
    ).all()
    return [
        JourneyEventOut(
            id=event.id,
            event_id=event.event_id,
            kind=event.kind,
            name=event.name,
            occurred_at=event.occurred_at,
            received_at=event.received_at,
            anonymous_id=event.anonymous_id,
            consumer_id=event.consumer_id,
            scene_key=event.scene_key,
            scene=event.scene,
            touchpoint_id=event.touchpoint_id,
            touchpoint_code=touchpoint_code,
            touchpoint_name=touchpoint_name,
            touchpoint_kind=touchpoint_kind,
            store_id=resolved_store_id,
            store_code=store_code,
            store_name=store_name,
            product_id=event.product_id,
            sku_id=event.sku_id,
            properties=event.properties,
        )
        for (
            event,
            touchpoint_code,
            touchpoint_name,
            touchpoint_kind,
            resolved_store_id,
            store_code,
            store_name,
        ) in rows
    ]
