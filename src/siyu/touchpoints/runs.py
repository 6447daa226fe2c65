"""布码 in bulk: one code of a kind per store, as a ZIP ready to print.

``store_codes`` prints a few stores (at most ``SYNC_STORE_LIMIT``) within the caller's
transaction. ``start_run`` records a ``StoreCodeRun`` and defers a job
(``siyu.touchpoints.jobs``) that prints the stores in small transactions through
``claim_run`` / ``print_run_stores`` / ``record_progress`` / ``finish_run`` (or ``fail_run``),
so its progress can be watched and the ZIP is left on the run.

Either way, a store that already has an active touchpoint of the kind (and campaign) keeps it
and prints its first active code of the medium (and page), issuing one if it has none; the
other stores get a new touchpoint, coded ``<store code>-<kind>``, through
``create_touchpoint`` (audited, published). A second run prints the same codes and creates
nothing. Codes are printed from their kept images (``siyu.touchpoints.codes.images_of``).

Runs are seen by HQ (brand scope) and by the staff member who started them; anything else is
not found. The job acts as the requester's actor as it was when they asked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, false, select, update
from sqlalchemy.orm import Session

from siyu.access.rules import Actor, ActorKind, Permission, Role, ScopeKind
from siyu.audit.service import record_change
from siyu.core.clock import utc_now
from siyu.core.snapshot import row_snapshot
from siyu.jobs.deferral import defer_job
from siyu.org.errors import RegionNotFound, StoreNotFound
from siyu.org.models import Region, Store
from siyu.org.service import region_scope, store_scope
from siyu.outbox.service import record_event
from siyu.touchpoints import events, rules
from siyu.touchpoints.codes import images_of, issue_code
from siyu.touchpoints.errors import (
    ArchiveExpired,
    ArchiveNotReady,
    NoStores,
    StoreCodeRunNotFound,
    TooManyStores,
)
from siyu.touchpoints.locks import lock_store_code_run, lock_store_codes
from siyu.touchpoints.models import StoreCodeRun, Touchpoint, TouchpointCode
from siyu.touchpoints.rules import CodeImage, Medium, PrintedCode
from siyu.touchpoints.schemas import StoreCodesRequest, TouchpointCodeCreate, TouchpointCreate
from siyu.touchpoints.service import (
    TouchpointView,
    check_kind,
    check_page,
    list_kinds,
    place_touchpoints,
)

SYNC_STORE_LIMIT = 100
RUN_TASK = "siyu:print_store_codes"
RUN_QUEUE = "touchpoints"
ARCHIVE_RETENTION = timedelta(days=30)
QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "running", "succeeded", "failed"

PrintedImage = tuple[PrintedCode, CodeImage]


# ---------------------------------------------------------------- printing


def _check_request(session: Session, actor: Actor, data: StoreCodesRequest) -> None:
    actor.require(Permission.TOUCHPOINT_WRITE)
    check_kind(session, actor.brand_id, data.kind)
    check_page(data.medium, data.page)


def stores_in_request(session: Session, actor: Actor, data: StoreCodesRequest) -> list[Store]:
    """The stores in ``actor``'s scope narrowed by ``store_ids`` and ``region_id``, by code.
    Raises StoreNotFound (a named store outside scope), RegionNotFound, NoStores."""
    conditions: list[ColumnElement[bool]] = [store_scope(actor)]
    if data.store_ids is not None:
        conditions.append(Store.id.in_(data.store_ids))
    if data.region_id is not None:
        visible = session.scalar(
            select(Region.id).where(region_scope(actor), Region.id == data.region_id)
        )
        if visible is None:
            raise RegionNotFound(f"Region {data.region_id} was not found.", field="region_id")
        conditions.append(Store.region_id == data.region_id)
    stores = list(session.scalars(select(Store).where(*conditions).order_by(Store.code)))
    if data.store_ids is not None:
        missing = sorted(set(data.store_ids) - {store.id for store in stores})
        if missing:
            raise StoreNotFound(f"Store {missing[0]} was not found.", field="store_ids")
    if not stores:
        raise NoStores("No store in your scope matches: there is nothing to print.")
    return stores


def _free_touchpoint_code(session: Session, brand_id: int, wanted: str, taken: set[str]) -> str:
    """``wanted`` (cut to 32 characters), or it with ``-2``, ``-3``... if taken (a touchpoint
    of the same store and kind placed at another campaign, or a long store code cut short)."""
    candidate, number = wanted[:32], 1
    while candidate in taken or session.scalar(
        select(Touchpoint.id).where(Touchpoint.brand_id == brand_id, Touchpoint.code == candidate)
    ):
        number += 1
        suffix = f"-{number}"
        candidate = wanted[: 32 - len(suffix)] + suffix
    return candidate


def _place_store_touchpoints(
    session: Session,
    actor: Actor,
    stores: Sequence[Store],
    data: StoreCodesRequest,
    kind_label: str,
) -> list[TouchpointView]:
    """A touchpoint of ``data.kind`` at each store (in scope: the caller found them through
    store_scope), coded ``<store code>-<kind>``, created together (see place_touchpoints)."""
    if not stores:
        return []
    wanted = {store.id: f"{store.code}-{data.kind}"[:32] for store in stores}
    clashing = set(
        session.scalars(
            select(Touchpoint.code).where(
                Touchpoint.brand_id == actor.brand_id, Touchpoint.code.in_(wanted.values())
            )
        )
    )
    assigned: set[str] = set()
    rows = []
    for store in stores:
        code = wanted[store.id]
        if code in clashing or code in assigned:
            code = _free_touchpoint_code(session, actor.brand_id, code, assigned)
        assigned.add(code)
        name = f"{kind_label} · {store.name}" + (f" · {data.campaign}" if data.campaign else "")
        checked = TouchpointCreate(
            code=code,
            name=name[:200],
            kind=data.kind,
            store_id=store.id,
            campaign=data.campaign,
            medium=data.medium,
            page=data.page,
        )
        rows.append(
            Touchpoint(
                brand_id=actor.brand_id,
                code=checked.code,
                name=checked.name,
                kind=checked.kind,
                store_id=store.id,
                campaign=checked.campaign,
                active=True,
            )
        )
    return place_touchpoints(session, actor, rows, medium=data.medium, page=data.page)


def print_store_codes(
    session: Session, actor: Actor, stores: Sequence[Store], data: StoreCodesRequest
) -> list[PrintedImage]:
    """One code of ``data.kind`` per store of ``stores`` (in their order), with its image.

    Takes the brand's store-codes lock for the kind (so concurrent runs never create a
    store's touchpoint twice), then touchpoint locks for codes it issues. Side effects:
    touchpoints and codes created (audited, published), images kept. Raises PermissionDenied
    and what place_touchpoints, issue_code and images_of raise."""
    actor.require(Permission.TOUCHPOINT_WRITE)
    lock_store_codes(session, actor.brand_id, data.kind)
    kind_label = {k.code: k.label for k in list_kinds(session, actor)}.get(data.kind, data.kind)
    existing: dict[int | None, Touchpoint] = {}
    for row in session.scalars(
        select(Touchpoint)
        .where(
            Touchpoint.brand_id == actor.brand_id,
            Touchpoint.kind == data.kind,
            Touchpoint.active.is_(True),
            Touchpoint.store_id.in_([store.id for store in stores]),
            Touchpoint.campaign.is_(None)
            if data.campaign is None
            else Touchpoint.campaign == data.campaign,
        )
        .order_by(Touchpoint.id.desc())
    ):
        existing[row.store_id] = row  # the oldest wins
    usable: dict[int, TouchpointCode] = {}
    for code in session.scalars(
        select(TouchpointCode)
        .where(
            TouchpointCode.brand_id == actor.brand_id,
            TouchpointCode.touchpoint_id.in_([row.id for row in existing.values()]),
            TouchpointCode.active.is_(True),
            TouchpointCode.medium == data.medium.value,
            TouchpointCode.page.is_(None)
            if data.page is None
            else TouchpointCode.page == data.page,
        )
        .order_by(TouchpointCode.id.desc())
    ):
        usable[code.touchpoint_id] = code  # the first wins
    missing = [store for store in stores if store.id not in existing]
    for view in _place_store_touchpoints(session, actor, missing, data, kind_label):
        existing[view.touchpoint.store_id] = view.touchpoint
        usable[view.touchpoint.id] = view.codes[0]
    chosen: list[tuple[Store, Touchpoint, TouchpointCode]] = []
    for store in stores:
        touchpoint = existing[store.id]
        code = usable.get(touchpoint.id) or issue_code(
            session,
            actor,
            touchpoint.id,
            TouchpointCodeCreate(
                label=rules.MEDIUM_LABELS[data.medium], medium=data.medium, page=data.page
            ),
        )
        chosen.append((store, touchpoint, code))
    images = images_of(session, actor.brand_id, [code for _, _, code in chosen])
    return [
        (
            PrintedCode(
                store_code=store.code,
                store_name=store.name,
                touchpoint_code=touchpoint.code,
                kind_label=kind_label,
                scene_key=code.scene_key,
                wecom_state=code.wecom_state,
                medium=Medium(code.medium),
                label=code.label,
                page=code.page,
            ),
            images[code.id],
        )
        for store, touchpoint, code in chosen
    ]


def store_codes(session: Session, actor: Actor, data: StoreCodesRequest) -> list[PrintedImage]:
    """布码 for a few stores within the caller's transaction (see the module docstring).
    Raises PermissionDenied, UnknownTouchpointKind, PageNotApplicable, StoreNotFound,
    RegionNotFound, NoStores, TooManyStores (more than SYNC_STORE_LIMIT: start a run), and
    what print_store_codes raises."""
    _check_request(session, actor, data)
    stores = stores_in_request(session, actor, data)
    if len(stores) > SYNC_STORE_LIMIT:
        raise TooManyStores(
            f"{len(stores)} stores are more than {SYNC_STORE_LIMIT} printed at once: "
            "start a bulk code run instead.",
            field="store_ids",
        )
    return print_store_codes(session, actor, stores, data)


# ---------------------------------------------------------------- runs (staff side)


def _actor_snapshot(actor: Actor) -> dict[str, Any]:
    return {
        "kind": actor.kind.value,
        "label": actor.label,
        "permissions": sorted(permission.value for permission in actor.permissions),
        "scope": actor.scope.value,
        "role": actor.role.value if actor.role else None,
        "staff_id": actor.staff_id,
        "token_id": actor.token_id,
        "region_id": actor.region_id,
        "store_id": actor.store_id,
        "franchisee_id": actor.franchisee_id,
    }


def _actor_from(brand_id: int, snapshot: dict[str, Any]) -> Actor:
    return Actor(
        brand_id=brand_id,
        kind=ActorKind(snapshot["kind"]),
        label=snapshot["label"],
        permissions=frozenset(Permission(p) for p in snapshot["permissions"]),
        scope=ScopeKind(snapshot["scope"]),
        role=Role(snapshot["role"]) if snapshot["role"] else None,
        staff_id=snapshot["staff_id"],
        token_id=snapshot["token_id"],
        region_id=snapshot["region_id"],
        store_id=snapshot["store_id"],
        franchisee_id=snapshot["franchisee_id"],
    )


def start_run(
    session: Session, actor: Actor, data: StoreCodesRequest, *, defer: bool = True
) -> StoreCodeRun:
    """Record a queued run for the stores ``data`` names (checked now, so a refusal writes
    nothing) and, unless ``defer`` is False (the CLI runs it itself), defer its job in the
    caller's transaction. Audited (store_code_run.create), published (StoreCodeRunStarted).
    Raises PermissionDenied, UnknownTouchpointKind, PageNotApplicable, StoreNotFound,
    RegionNotFound, NoStores."""
    _check_request(session, actor, data)
    stores = stores_in_request(session, actor, data)
    run = StoreCodeRun(
        brand_id=actor.brand_id,
        kind=data.kind,
        campaign=data.campaign,
        medium=data.medium.value,
        page=data.page,
        store_ids=[store.id for store in stores],
        status=QUEUED,
        stores_total=len(stores),
        stores_done=0,
        requested_by_staff_id=actor.staff_id,
        actor=_actor_snapshot(actor),
    )
    session.add(run)
    session.flush()
    record_change(
        session,
        actor,
        action="store_code_run.create",
        object_type="store_code_run",
        object_id=run.id,
        before=None,
        after=row_snapshot(run, exclude={"store_ids", "actor", "archive"}),
    )
    record_event(
        session,
        actor.brand_id,
        events.StoreCodeRunStarted(
            store_code_run_id=run.id,
            kind=run.kind,
            medium=run.medium,
            campaign=run.campaign,
            stores_total=run.stores_total,
        ),
    )
    if defer:
        defer_job(
            session, RUN_TASK, {"brand_id": actor.brand_id, "run_id": run.id}, queue=RUN_QUEUE
        )
    return run


def _run_scope(actor: Actor) -> ColumnElement[bool]:
    in_brand = StoreCodeRun.brand_id == actor.brand_id
    if actor.scope is ScopeKind.BRAND:
        return in_brand
    if actor.staff_id is None:
        return false()
    return in_brand & (StoreCodeRun.requested_by_staff_id == actor.staff_id)


def list_runs(session: Session, actor: Actor, *, limit: int = 20) -> list[StoreCodeRun]:
    """The runs ``actor`` may see, newest first."""
    actor.require(Permission.TOUCHPOINT_WRITE)
    return list(
        session.scalars(
            select(StoreCodeRun)
            .where(_run_scope(actor))
            .order_by(StoreCodeRun.id.desc())
            .limit(limit)
        )
    )


def get_run(session: Session, actor: Actor, run_id: int) -> StoreCodeRun:
    """Raises PermissionDenied, StoreCodeRunNotFound (another brand's, or someone else's
    outside HQ)."""
    actor.require(Permission.TOUCHPOINT_WRITE)
    run = session.scalar(select(StoreCodeRun).where(_run_scope(actor), StoreCodeRun.id == run_id))
    if run is None:
        raise StoreCodeRunNotFound(f"Code run {run_id} was not found.")
    return run


def run_archive(session: Session, actor: Actor, run_id: int) -> tuple[StoreCodeRun, bytes]:
    """The run and its ZIP. Raises what get_run raises, ArchiveNotReady (not succeeded),
    ArchiveExpired (dropped after ARCHIVE_RETENTION)."""
    run = get_run(session, actor, run_id)
    if run.status != SUCCEEDED:
        raise ArchiveNotReady(f"Code run {run_id} is {run.status}: there is no ZIP yet.")
    archive = session.scalar(
        select(StoreCodeRun.archive).where(
            StoreCodeRun.brand_id == run.brand_id, StoreCodeRun.id == run.id
        )
    )
    if archive is None:
        raise ArchiveExpired(
            f"The ZIP of code run {run_id} was dropped after {ARCHIVE_RETENTION.days} days; "
            "start the run again: it prints the same codes."
        )
    return run, archive


# ---------------------------------------------------------------- runs (job side)


@dataclass(frozen=True)
class RunWork:
    """What the job needs to print a run: who asked, what, and for which stores."""

    brand_id: int
    run_id: int
    actor: Actor
    request: StoreCodesRequest
    store_ids: list[int]


def claim_run(session: Session, brand_id: int, run_id: int) -> RunWork | None:
    """Start the run (or start it over, after a worker died): running, no store done. None
    when the run does not exist or has finished (a job delivered twice). Locks the run."""
    run = lock_store_code_run(session, brand_id, run_id)
    if run is None or run.status in {SUCCEEDED, FAILED}:
        return None
    run.status, run.stores_done, run.error = RUNNING, 0, None
    run.started_at = utc_now()
    request = StoreCodesRequest(
        kind=run.kind, campaign=run.campaign, medium=Medium(run.medium), page=run.page
    )
    return RunWork(brand_id, run_id, _actor_from(brand_id, run.actor), request, run.store_ids)


def print_run_stores(
    session: Session, work: RunWork, store_ids: Sequence[int]
) -> list[PrintedImage]:
    """Print a slice of the run's stores, in the run's order, as its requester. Raises
    StoreNotFound when one is no longer in their scope, and what print_store_codes raises."""
    found = {
        store.id: store
        for store in session.scalars(
            select(Store).where(store_scope(work.actor), Store.id.in_(store_ids))
        )
    }
    missing = [store_id for store_id in store_ids if store_id not in found]
    if missing:
        raise StoreNotFound(f"Store {missing[0]} is no longer in the requester's scope.")
    return print_store_codes(
        session, work.actor, [found[store_id] for store_id in store_ids], work.request
    )


def record_progress(session: Session, brand_id: int, run_id: int, stores: int) -> int:
    """Count ``stores`` more as done; returns how many are done."""
    done = session.scalar(
        update(StoreCodeRun)
        .where(StoreCodeRun.brand_id == brand_id, StoreCodeRun.id == run_id)
        .values(stores_done=StoreCodeRun.stores_done + stores, updated_at=utc_now())
        .returning(StoreCodeRun.stores_done)
    )
    return int(done or 0)


def _finish(session: Session, run: StoreCodeRun, status: str, error: str | None) -> None:
    run.status, run.error, run.finished_at = status, error, utc_now()
    record_event(
        session,
        run.brand_id,
        events.StoreCodeRunFinished(
            store_code_run_id=run.id,
            status=status,
            stores_done=run.stores_done,
            stores_total=run.stores_total,
            error=error,
        ),
    )


def finish_run(session: Session, brand_id: int, run_id: int, archive: bytes) -> None:
    """Leave the ZIP on the run: succeeded. Locks the run. Published (StoreCodeRunFinished)."""
    run = lock_store_code_run(session, brand_id, run_id)
    assert run is not None
    run.archive, run.archive_bytes = archive, len(archive)
    _finish(session, run, SUCCEEDED, None)


def fail_run(session: Session, brand_id: int, run_id: int, reason: str) -> None:
    """The run failed for ``reason`` (shown to its requester). Locks the run. Published."""
    run = lock_store_code_run(session, brand_id, run_id)
    if run is not None and run.status != SUCCEEDED:
        _finish(session, run, FAILED, reason[:500])


def expire_archives(session: Session) -> int:
    """Drop the ZIPs of runs finished more than ARCHIVE_RETENTION ago (the runs stay); returns
    how many. Every brand: a maintenance job's work."""
    result = session.execute(
        update(StoreCodeRun)
        .where(
            StoreCodeRun.archive.is_not(None),
            StoreCodeRun.finished_at < utc_now() - ARCHIVE_RETENTION,
        )
        .values(archive=None, archive_bytes=None)
    )
    return int(getattr(result, "rowcount", 0) or 0)
