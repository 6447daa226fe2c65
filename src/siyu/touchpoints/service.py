"""Touchpoints (触点) and their codes (布码): reading within scope, changing with audit.

Every staff function takes the acting ``Actor`` and the caller's session; none commits.
A touchpoint placed at a store is visible to whoever sees the store (siyu.org.service.
store_scope); one placed only at a region to that region's manager; one placed only at a
campaign to HQ. Anything else is reported as not found. Every change writes an audit entry and
a domain event in the caller's transaction.

Codes: each touchpoint issues a code on creation, carrying a random scene key (``t`` + 12
base32 characters) and a WeCom ``state`` (``tp_`` + the key). In this slice the QR content is
the sandbox URL ``https://mp.example/launch?scene=KEY``; live mode would ask WeChat for a
mini-program code (``getwxacodeunlimit`` with ``scene=KEY``) through the WeChat adapter, which
is not implemented here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from siyu.access.rules import Actor, Permission, Role, ScopeKind
from siyu.audit.service import record_creation, record_update
from siyu.core.snapshot import row_snapshot
from siyu.org.errors import RegionNotFound, StoreNotFound
from siyu.org.models import Region, Store
from siyu.org.service import region_scope, store_scope
from siyu.outbox.service import record_event
from siyu.staff.errors import StaffNotFound
from siyu.staff.models import Staff
from siyu.touchpoints import events, rules
from siyu.touchpoints.errors import (
    DuplicateTouchpointCode,
    GuideRequired,
    PlacementRequired,
    TouchpointNotFound,
    UnknownKind,
)
from siyu.touchpoints.locks import lock_touchpoint
from siyu.touchpoints.models import Touchpoint, TouchpointCode, TouchpointKind
from siyu.touchpoints.schemas import TouchpointCreate, TouchpointKindCreate, TouchpointUpdate

MAX_KEY_ATTEMPTS = 8


@dataclass(frozen=True)
class TouchpointView:
    touchpoint: Touchpoint
    codes: list[TouchpointCode]


@dataclass(frozen=True)
class SceneResolution:
    """What a scene key names, for the mini-program at launch; ``touchpoint`` None if unknown."""

    scene_key: str
    touchpoint: Touchpoint | None
    carrier: str | None = None


# ---------------------------------------------------------------- scope


def touchpoint_scope(actor: Actor) -> ColumnElement[bool]:
    """The SQL condition for the touchpoints ``actor`` may see (brand condition included)."""
    in_brand = Touchpoint.brand_id == actor.brand_id
    if actor.scope is ScopeKind.BRAND:
        return in_brand
    at_visible_store = Touchpoint.store_id.in_(select(Store.id).where(store_scope(actor)))
    if actor.scope is ScopeKind.REGION:
        at_own_region = and_(Touchpoint.store_id.is_(None), Touchpoint.region_id == actor.region_id)
        return in_brand & or_(at_visible_store, at_own_region)
    return in_brand & at_visible_store


# ---------------------------------------------------------------- kinds


def list_kinds(session: Session, actor: Actor) -> list[rules.Kind]:
    """Built-in kinds, then the brand's own, grouped by carrier."""
    actor.require(Permission.ORG_READ)
    own = session.scalars(
        select(TouchpointKind)
        .where(TouchpointKind.brand_id == actor.brand_id)
        .order_by(TouchpointKind.code)
    ).all()
    kinds = (
        *rules.BUILT_IN_KINDS,
        *(rules.Kind(k.code, k.name, rules.Carrier(k.carrier)) for k in own),
    )
    return [kind for group in rules.kinds_by_carrier(kinds).values() for kind in group]


def create_kind(session: Session, actor: Actor, data: TouchpointKindCreate) -> TouchpointKind:
    """Brand-wide, so HQ only (touchpoint:write and org:write)."""
    actor.require(Permission.TOUCHPOINT_WRITE)
    actor.require(Permission.ORG_WRITE)
    taken = data.code in rules.BUILT_IN_BY_CODE or session.scalar(
        select(TouchpointKind.id).where(
            TouchpointKind.brand_id == actor.brand_id, TouchpointKind.code == data.code
        )
    )
    if taken:
        raise DuplicateTouchpointCode(
            f"A touchpoint kind with code '{data.code}' already exists.", field="code"
        )
    row = TouchpointKind(
        brand_id=actor.brand_id, code=data.code, name=data.name, carrier=data.carrier.value
    )
    session.add(row)
    session.flush()
    record_creation(session, actor, object_type="touchpoint_kind", row=row)
    record_event(
        session,
        actor.brand_id,
        events.TouchpointKindCreated(touchpoint_kind_id=row.id, code=row.code, carrier=row.carrier),
    )
    return row


def _carrier_of(session: Session, brand_id: int, kind: str) -> str | None:
    built_in = rules.BUILT_IN_BY_CODE.get(kind)
    if built_in is not None:
        return built_in.carrier.value
    return session.scalar(
        select(TouchpointKind.carrier).where(
            TouchpointKind.brand_id == brand_id, TouchpointKind.code == kind
        )
    )


def _check_kind(session: Session, brand_id: int, kind: str) -> None:
    if _carrier_of(session, brand_id, kind) is None:
        raise UnknownKind(f"There is no touchpoint kind '{kind}'.", field="kind")


# ---------------------------------------------------------------- touchpoints


def _views(session: Session, rows: Sequence[Touchpoint]) -> list[TouchpointView]:
    if not rows:
        return []
    codes = session.scalars(
        select(TouchpointCode)
        .where(
            TouchpointCode.brand_id == rows[0].brand_id,
            TouchpointCode.touchpoint_id.in_([r.id for r in rows]),
        )
        .order_by(TouchpointCode.id)
    ).all()
    by_touchpoint: dict[int, list[TouchpointCode]] = {r.id: [] for r in rows}
    for code in codes:
        by_touchpoint[code.touchpoint_id].append(code)
    return [TouchpointView(r, by_touchpoint[r.id]) for r in rows]


def list_touchpoints(
    session: Session,
    actor: Actor,
    *,
    store_id: int | None = None,
    kind: str | None = None,
    active: bool | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[TouchpointView], int]:
    actor.require(Permission.ORG_READ)
    condition = touchpoint_scope(actor)
    if store_id is not None:
        condition = condition & (Touchpoint.store_id == store_id)
    if kind is not None:
        condition = condition & (Touchpoint.kind == kind)
    if active is not None:
        condition = condition & (Touchpoint.active == active)
    total = session.scalar(select(func.count()).select_from(Touchpoint).where(condition)) or 0
    rows = session.scalars(
        select(Touchpoint).where(condition).order_by(Touchpoint.code).limit(limit).offset(offset)
    ).all()
    return _views(session, rows), total


def _get(session: Session, actor: Actor, touchpoint_id: int) -> Touchpoint:
    row = session.scalar(
        select(Touchpoint).where(touchpoint_scope(actor), Touchpoint.id == touchpoint_id)
    )
    if row is None:
        raise TouchpointNotFound(f"Touchpoint {touchpoint_id} was not found.")
    return row


def get_touchpoint(session: Session, actor: Actor, touchpoint_id: int) -> TouchpointView:
    actor.require(Permission.ORG_READ)
    return _views(session, [_get(session, actor, touchpoint_id)])[0]


def _resolve_placement(
    session: Session, actor: Actor, data: TouchpointCreate
) -> tuple[int | None, int | None]:
    """(store_id, region_id) after checking every placement is in the brand and in scope.

    A guide placement brings the guide's store. Outside HQ, a touchpoint must sit at a store
    in scope (or, for a region manager, at their own region) so its placer can see it."""
    store_id, region_id = data.store_id, data.region_id
    if data.staff_id is not None:
        guide = session.scalar(
            select(Staff).where(Staff.brand_id == actor.brand_id, Staff.id == data.staff_id)
        )
        if guide is None:
            raise StaffNotFound(f"Staff {data.staff_id} was not found.", field="staff_id")
        if guide.role != Role.GUIDE.value:
            raise GuideRequired("A guide placement needs a guide.", field="staff_id")
        if store_id is None:
            store_id = guide.store_id
        elif store_id != guide.store_id:
            raise GuideRequired("The guide works at another store.", field="staff_id")
    if store_id is not None:
        visible = session.scalar(select(Store.id).where(store_scope(actor), Store.id == store_id))
        if visible is None:
            field = "store_id" if data.store_id is not None else "staff_id"
            raise StoreNotFound(f"Store {store_id} was not found.", field=field)
    if region_id is not None:
        visible = session.scalar(
            select(Region.id).where(region_scope(actor), Region.id == region_id)
        )
        if visible is None:
            raise RegionNotFound(f"Region {region_id} was not found.", field="region_id")
    if store_id is None and region_id is None and data.campaign is None:
        raise PlacementRequired(
            "Place the touchpoint at a store, a region, a guide or a campaign.", field="store_id"
        )
    if store_id is None and actor.scope is not ScopeKind.BRAND:
        own_region = actor.scope is ScopeKind.REGION and region_id == actor.region_id
        if not own_region:
            raise PlacementRequired(
                "Place the touchpoint at a store in your scope.", field="store_id"
            )
    return store_id, region_id


def _issue_code(session: Session, brand_id: int, touchpoint_id: int) -> TouchpointCode:
    for _ in range(MAX_KEY_ATTEMPTS):
        key = rules.new_scene_key()
        taken = session.scalar(
            select(TouchpointCode.id).where(
                TouchpointCode.brand_id == brand_id, TouchpointCode.scene_key == key
            )
        )
        if taken is None:
            code = TouchpointCode(
                brand_id=brand_id,
                touchpoint_id=touchpoint_id,
                scene_key=key,
                wecom_state=rules.state_for(key),
            )
            session.add(code)
            session.flush()
            return code
    raise RuntimeError("could not draw a free scene key")  # pragma: no cover - 2**60 keys


def create_touchpoint(session: Session, actor: Actor, data: TouchpointCreate) -> TouchpointView:
    """Create a touchpoint and issue its first code (scene key + WeCom state)."""
    actor.require(Permission.TOUCHPOINT_WRITE)
    _check_kind(session, actor.brand_id, data.kind)
    store_id, region_id = _resolve_placement(session, actor, data)
    taken = session.scalar(
        select(Touchpoint.id).where(
            Touchpoint.brand_id == actor.brand_id, Touchpoint.code == data.code
        )
    )
    if taken is not None:
        raise DuplicateTouchpointCode(
            f"A touchpoint with code '{data.code}' already exists.", field="code"
        )
    row = Touchpoint(
        brand_id=actor.brand_id,
        code=data.code,
        name=data.name,
        kind=data.kind,
        store_id=store_id,
        region_id=region_id,
        staff_id=data.staff_id,
        campaign=data.campaign,
        cost_fen=data.cost_fen,
        active=data.active,
    )
    session.add(row)
    session.flush()
    code = _issue_code(session, actor.brand_id, row.id)
    record_creation(session, actor, object_type="touchpoint", row=row)
    record_event(
        session,
        actor.brand_id,
        events.TouchpointCreated(
            touchpoint_id=row.id,
            code=row.code,
            kind=row.kind,
            store_id=row.store_id,
            region_id=row.region_id,
            staff_id=row.staff_id,
            campaign=row.campaign,
            scene_key=code.scene_key,
        ),
    )
    return TouchpointView(row, [code])


def update_touchpoint(
    session: Session, actor: Actor, touchpoint_id: int, data: TouchpointUpdate
) -> TouchpointView:
    """Locks the touchpoint row. The placement is fixed once created (codes are printed)."""
    actor.require(Permission.TOUCHPOINT_WRITE)
    _get(session, actor, touchpoint_id)
    changes = data.model_dump(exclude_unset=True)
    if changes.get("kind") is not None:
        _check_kind(session, actor.brand_id, changes["kind"])
    row = lock_touchpoint(session, actor.brand_id, touchpoint_id)
    assert row is not None
    before = row_snapshot(row)
    for key, value in changes.items():
        if value is not None or key in {"campaign", "cost_fen"}:
            setattr(row, key, value)
    unplaced = row.store_id is None and row.region_id is None and row.staff_id is None
    if unplaced and row.campaign is None:
        raise PlacementRequired(
            "A touchpoint placed only at a campaign keeps its campaign.", field="campaign"
        )
    session.flush()
    changed = record_update(session, actor, object_type="touchpoint", row=row, before=before)
    if changed:
        record_event(
            session,
            actor.brand_id,
            events.TouchpointChanged(touchpoint_id=row.id, changes=changed),
        )
    return _views(session, [row])[0]


# ---------------------------------------------------------------- codes


def code_content(session: Session, actor: Actor, touchpoint_id: int) -> str:
    """The QR content of the touchpoint's first code (sandbox: a launch URL with the key)."""
    view = get_touchpoint(session, actor, touchpoint_id)
    return rules.launch_url(view.codes[0].scene_key)


def code_png(session: Session, actor: Actor, touchpoint_id: int) -> bytes:
    return rules.qr_png(code_content(session, actor, touchpoint_id))


def code_svg(session: Session, actor: Actor, touchpoint_id: int) -> str:
    return rules.qr_svg(code_content(session, actor, touchpoint_id))


def resolve_scene(session: Session, brand_id: int, scene_key: str) -> SceneResolution:
    """What ``scene_key`` names in the brand; an unknown or malformed key is simply unknown
    (never an error: the consumer still launches). Writes nothing."""
    if not rules.is_valid_scene_key(scene_key):
        return SceneResolution(scene_key, None)
    touchpoint = session.scalar(
        select(Touchpoint)
        .join(
            TouchpointCode,
            (TouchpointCode.brand_id == Touchpoint.brand_id)
            & (TouchpointCode.touchpoint_id == Touchpoint.id),
        )
        .where(TouchpointCode.brand_id == brand_id, TouchpointCode.scene_key == scene_key)
    )
    if touchpoint is None:
        return SceneResolution(scene_key, None)
    return SceneResolution(scene_key, touchpoint, _carrier_of(session, brand_id, touchpoint.kind))


def store_codes(
    session: Session,
    actor: Actor,
    *,
    kind: str,
    store_ids: Sequence[int] | None = None,
    campaign: str | None = None,
) -> list[rules.PrintedCode]:
    """One code of ``kind`` per store (布码): every store in the actor's scope, or those named.

    A store that already has an active touchpoint of this kind (and campaign) keeps it and its
    first code, so a second run prints the same codes; the others get a new touchpoint, coded
    ``<store code>-<kind>``, through ``create_touchpoint`` (audited, published). Ordered by
    store code. Raises PermissionDenied, StoreNotFound (a named store outside scope),
    UnknownTouchpointKind."""
    actor.require(Permission.TOUCHPOINT_WRITE)
    _check_kind(session, actor.brand_id, kind)
    labels = {k.code: k.label for k in list_kinds(session, actor)}
    conditions: list[ColumnElement[bool]] = [store_scope(actor)]
    if store_ids is not None:
        conditions.append(Store.id.in_(store_ids))
    stores = session.scalars(select(Store).where(*conditions).order_by(Store.code)).all()
    if store_ids is not None and len(stores) != len(set(store_ids)):
        missing = sorted(set(store_ids) - {store.id for store in stores})
        raise StoreNotFound(f"Store {missing[0]} was not found.", field="store_ids")
    existing = {
        row.store_id: row
        for row in session.scalars(
            select(Touchpoint)
            .where(
                Touchpoint.brand_id == actor.brand_id,
                Touchpoint.kind == kind,
                Touchpoint.active.is_(True),
                Touchpoint.store_id.in_([store.id for store in stores]),
                Touchpoint.campaign.is_(None)
                if campaign is None
                else Touchpoint.campaign == campaign,
            )
            .order_by(Touchpoint.id.desc())
        )
    }
    first_codes: dict[int, TouchpointCode] = {}
    for code in session.scalars(
        select(TouchpointCode)
        .where(
            TouchpointCode.brand_id == actor.brand_id,
            TouchpointCode.touchpoint_id.in_([row.id for row in existing.values()]),
        )
        .order_by(TouchpointCode.id.desc())
    ):
        first_codes[code.touchpoint_id] = code
    printed: list[rules.PrintedCode] = []
    for store in stores:
        touchpoint = existing.get(store.id)
        if touchpoint is not None and touchpoint.id in first_codes:
            code = first_codes[touchpoint.id]
        else:
            view = create_touchpoint(
                session,
                actor,
                TouchpointCreate(
                    code=f"{store.code}-{kind}"[:32],
                    name=f"{labels.get(kind, kind)} · {store.name}"[:200],
                    kind=kind,
                    store_id=store.id,
                    campaign=campaign,
                ),
            )
            touchpoint, code = view.touchpoint, view.codes[0]
        printed.append(
            rules.PrintedCode(
                store_code=store.code,
                store_name=store.name,
                touchpoint_code=touchpoint.code,
                kind_label=labels.get(kind, kind),
                scene_key=code.scene_key,
                wecom_state=code.wecom_state,
            )
        )
    return printed
