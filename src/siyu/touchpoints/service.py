"""Touchpoints (触点) and their codes (布码): reading within scope, changing with audit.

Every staff function takes the acting ``Actor`` and the caller's session; none commits.
A touchpoint placed at a store is visible to whoever sees the store (siyu.org.service.
store_scope); one placed only at a region to that region's manager; one placed only at a
campaign to HQ. Anything else is reported as not found. Every change writes an audit entry and
a domain event in the caller's transaction.

Codes: a touchpoint issues its first (default) code on creation and may issue more
(``siyu.touchpoints.codes``): each carries its own random scene key (``t`` + 12 base32
characters) and WeCom ``state`` (``tp_`` + the key), a label, a medium and an active flag.
``resolve_scene`` resolves the key of any of them. Bulk 布码 is in ``siyu.touchpoints.runs``.
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
    PageNotApplicable,
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
    """What a scene key names, for the mini-program at launch; ``touchpoint`` None if unknown.

    ``active`` is False when the code or its touchpoint was deactivated: still known (the
    source is recorded), but no longer counted as live."""

    scene_key: str
    touchpoint: Touchpoint | None
    carrier: str | None = None
    code: TouchpointCode | None = None

    @property
    def active(self) -> bool | None:
        if self.touchpoint is None or self.code is None:
            return None
        return self.touchpoint.active and self.code.active


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


def check_kind(session: Session, brand_id: int, kind: str) -> None:
    """Raises UnknownTouchpointKind unless ``kind`` is built in or the brand's own."""
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


def visible_touchpoint(session: Session, actor: Actor, touchpoint_id: int) -> Touchpoint:
    """The touchpoint if ``actor`` may see it, else TouchpointNotFound. No permission check."""
    row = session.scalar(
        select(Touchpoint).where(touchpoint_scope(actor), Touchpoint.id == touchpoint_id)
    )
    if row is None:
        raise TouchpointNotFound(f"Touchpoint {touchpoint_id} was not found.")
    return row


def get_touchpoint(session: Session, actor: Actor, touchpoint_id: int) -> TouchpointView:
    actor.require(Permission.ORG_READ)
    return _views(session, [visible_touchpoint(session, actor, touchpoint_id)])[0]


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


def check_page(medium: rules.Medium, page: str | None) -> None:
    """Raises PageNotApplicable when a page is given for a medium other than a mini-program
    code (only that opens a page)."""
    if page is not None and medium is not rules.Medium.MINI_PROGRAM_CODE:
        raise PageNotApplicable("Only a mini-program code opens a page.", field="page")


def issue_scene_codes(
    session: Session,
    brand_id: int,
    touchpoint_ids: Sequence[int],
    *,
    label: str = rules.DEFAULT_CODE_LABEL,
    medium: rules.Medium = rules.Medium.LINK_QR,
    page: str | None = None,
) -> list[TouchpointCode]:
    """Add a code with a fresh scene key to each touchpoint (flushed; no audit, no event: the
    caller records them). One query checks all the drawn keys. Raises PageNotApplicable when
    a page is given for a medium other than a mini-program code."""
    check_page(medium, page)
    keys: list[str] = []
    for _ in range(MAX_KEY_ATTEMPTS):
        drawn = {rules.new_scene_key() for _ in range(len(touchpoint_ids) - len(keys))}
        drawn -= set(keys)
        taken = set(
            session.scalars(
                select(TouchpointCode.scene_key).where(
                    TouchpointCode.brand_id == brand_id, TouchpointCode.scene_key.in_(drawn)
                )
            )
        )
        keys += sorted(drawn - taken)
        if len(keys) == len(touchpoint_ids):
            break
    else:  # pragma: no cover - 2**60 keys
        raise RuntimeError("could not draw free scene keys")
    codes = [
        TouchpointCode(
            brand_id=brand_id,
            touchpoint_id=touchpoint_id,
            scene_key=key,
            wecom_state=rules.state_for(key),
            label=label,
            medium=medium.value,
            page=page,
            active=True,
        )
        for touchpoint_id, key in zip(touchpoint_ids, keys, strict=True)
    ]
    session.add_all(codes)
    session.flush()
    return codes


def issue_scene_code(
    session: Session,
    brand_id: int,
    touchpoint_id: int,
    *,
    label: str = rules.DEFAULT_CODE_LABEL,
    medium: rules.Medium = rules.Medium.LINK_QR,
    page: str | None = None,
) -> TouchpointCode:
    """``issue_scene_codes`` for one touchpoint."""
    return issue_scene_codes(
        session, brand_id, [touchpoint_id], label=label, medium=medium, page=page
    )[0]


def place_touchpoints(
    session: Session,
    actor: Actor,
    rows: Sequence[Touchpoint],
    *,
    medium: rules.Medium = rules.Medium.LINK_QR,
    page: str | None = None,
) -> list[TouchpointView]:
    """Insert touchpoints the caller has checked (touchpoint:write held, kind known, placement
    in scope, codes free) and issue each its first code; each is audited
    (touchpoint.create) and published (TouchpointCreated). Inserts go out in batches, so 50
    stores' touchpoints cost a handful of statements. Raises PageNotApplicable."""
    session.add_all(rows)
    session.flush()
    codes = issue_scene_codes(
        session, actor.brand_id, [row.id for row in rows], medium=medium, page=page
    )
    for row, code in zip(rows, codes, strict=True):
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
    return [TouchpointView(row, [code]) for row, code in zip(rows, codes, strict=True)]


def create_touchpoint(session: Session, actor: Actor, data: TouchpointCreate) -> TouchpointView:
    """Create a touchpoint and issue its first (default) code of ``data.medium``: scene key +
    WeCom state. Raises PermissionDenied, UnknownTouchpointKind, StoreNotFound, RegionNotFound,
    StaffNotFound, GuideRequired, PlacementRequired, DuplicateTouchpointCode,
    PageNotApplicable."""
    actor.require(Permission.TOUCHPOINT_WRITE)
    check_kind(session, actor.brand_id, data.kind)
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
    return place_touchpoints(session, actor, [row], medium=data.medium, page=data.page)[0]


def update_touchpoint(
    session: Session, actor: Actor, touchpoint_id: int, data: TouchpointUpdate
) -> TouchpointView:
    """Locks the touchpoint row. The placement is fixed once created (codes are printed)."""
    actor.require(Permission.TOUCHPOINT_WRITE)
    visible_touchpoint(session, actor, touchpoint_id)
    changes = data.model_dump(exclude_unset=True)
    if changes.get("kind") is not None:
        check_kind(session, actor.brand_id, changes["kind"])
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


# ---------------------------------------------------------------- scenes


def resolve_scene(session: Session, brand_id: int, scene_key: str) -> SceneResolution:
    """What ``scene_key`` names in the brand: the code (any of a touchpoint's codes) and its
    touchpoint; a code's WeCom ``state`` (``tp_`` + key, what WeCom reports for a contact
    added through it) resolves too. An unknown or malformed key is simply unknown, a
    deactivated code known but inactive (never an error: the consumer still launches).
    Writes nothing."""
    if not rules.is_valid_scene_key(scene_key):
        return SceneResolution(scene_key, None)
    found = session.execute(
        select(Touchpoint, TouchpointCode)
        .join(
            TouchpointCode,
            (TouchpointCode.brand_id == Touchpoint.brand_id)
            & (TouchpointCode.touchpoint_id == Touchpoint.id),
        )
        .where(
            TouchpointCode.brand_id == brand_id,
            or_(TouchpointCode.scene_key == scene_key, TouchpointCode.wecom_state == scene_key),
        )
    ).first()
    if found is None:
        return SceneResolution(scene_key, None)
    touchpoint, code = found
    carrier = _carrier_of(session, brand_id, touchpoint.kind)
    return SceneResolution(scene_key, touchpoint, carrier, code)
