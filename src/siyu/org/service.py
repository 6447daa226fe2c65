"""Regions, franchisees, stores and stock locations: reading within scope, changing with audit.

Every function takes the acting ``Actor`` and the caller's session; none commits. Objects
outside the actor's brand or scope are reported as not found. Every change writes an audit
entry and a domain event in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, false, func, or_, select
from sqlalchemy.orm import Session

from siyu.access.rules import Actor, Permission, ScopeKind
from siyu.audit.service import record_creation, record_update
from siyu.core.errors import PermissionDenied
from siyu.core.snapshot import row_snapshot
from siyu.core.text import contains_pattern
from siyu.org import events
from siyu.org.errors import (
    DuplicateCode,
    FranchiseeNotFound,
    InvalidOpeningHours,
    InvalidOwnership,
    RegionNotFound,
    StockLocationNotFound,
    StoreNotFound,
)
from siyu.org.locks import lock_franchisee, lock_region, lock_stock_location, lock_store
from siyu.org.models import Franchisee, LocationKind, Ownership, Region, StockLocation, Store
from siyu.org.rules import (
    OpeningHours,
    OpeningHoursError,
    ownership_problem,
    parse_opening_hours,
    validate_opening_hours,
)
from siyu.org.schemas import (
    FranchiseeCreate,
    FranchiseeUpdate,
    OpeningHoursValue,
    RegionCreate,
    RegionUpdate,
    StockLocationUpdate,
    StoreCreate,
    StoreUpdate,
    WarehouseCreate,
)
from siyu.outbox.service import record_event

# ---------------------------------------------------------------- scope filters


def store_scope(actor: Actor) -> ColumnElement[bool]:
    """The SQL condition for the stores ``actor`` may see (brand condition included)."""
    in_brand = Store.brand_id == actor.brand_id
    match actor.scope:
        case ScopeKind.BRAND:
            return in_brand
        case ScopeKind.REGION:
            return in_brand & (Store.region_id == actor.region_id)
        case ScopeKind.FRANCHISEE:
            return in_brand & (Store.franchisee_id == actor.franchisee_id)
        case ScopeKind.STORE | ScopeKind.SELF:
            return in_brand & (Store.id == actor.store_id)
    return false()


def _visible_store_column(column: Any, actor: Actor) -> ColumnElement[bool]:
    condition: ColumnElement[bool] = column.in_(select(Store.id).where(store_scope(actor)))
    return condition


def region_scope(actor: Actor) -> ColumnElement[bool]:
    in_brand = Region.brand_id == actor.brand_id
    if actor.scope is ScopeKind.BRAND:
        return in_brand
    if actor.scope is ScopeKind.REGION:
        return in_brand & (Region.id == actor.region_id)
    return in_brand & Region.id.in_(select(Store.region_id).where(store_scope(actor)))


def franchisee_scope(actor: Actor) -> ColumnElement[bool]:
    in_brand = Franchisee.brand_id == actor.brand_id
    if actor.scope is ScopeKind.BRAND:
        return in_brand
    if actor.scope is ScopeKind.FRANCHISEE:
        return in_brand & (Franchisee.id == actor.franchisee_id)
    return in_brand & Franchisee.id.in_(
        select(Store.franchisee_id).where(store_scope(actor), Store.franchisee_id.is_not(None))
    )


def stock_location_scope(actor: Actor) -> ColumnElement[bool]:
    in_brand = StockLocation.brand_id == actor.brand_id
    if actor.scope is ScopeKind.BRAND:
        return in_brand
    own_stores = _visible_store_column(StockLocation.store_id, actor)
    if actor.scope is ScopeKind.REGION:
        return in_brand & or_(own_stores, StockLocation.region_id == actor.region_id)
    if actor.scope is ScopeKind.FRANCHISEE:
        return in_brand & or_(own_stores, StockLocation.franchisee_id == actor.franchisee_id)
    return in_brand & own_stores


# ---------------------------------------------------------------- regions


def list_regions(session: Session, actor: Actor) -> Sequence[Region]:
    actor.require(Permission.ORG_READ)
    return session.scalars(select(Region).where(region_scope(actor)).order_by(Region.code)).all()


def get_region(session: Session, actor: Actor, region_id: int) -> Region:
    actor.require(Permission.ORG_READ)
    region = session.scalar(select(Region).where(region_scope(actor), Region.id == region_id))
    if region is None:
        raise RegionNotFound(f"Region {region_id} was not found.")
    return region


def _check_code_free(session: Session, model: Any, brand_id: int, code: str, what: str) -> None:
    taken = session.scalar(select(model.id).where(model.brand_id == brand_id, model.code == code))
    if taken is not None:
        raise DuplicateCode(f"A {what} with code '{code}' already exists.", field="code")


def create_region(session: Session, actor: Actor, data: RegionCreate) -> Region:
    actor.require(Permission.ORG_WRITE)
    _check_code_free(session, Region, actor.brand_id, data.code, "region")
    region = Region(brand_id=actor.brand_id, code=data.code, name=data.name)
    session.add(region)
    session.flush()
    record_creation(session, actor, object_type="region", row=region)
    record_event(
        session,
        actor.brand_id,
        events.RegionCreated(region_id=region.id, code=region.code, name=region.name),
    )
    return region


def update_region(session: Session, actor: Actor, region_id: int, data: RegionUpdate) -> Region:
    """Locks the region row."""
    actor.require(Permission.ORG_WRITE)
    get_region(session, actor, region_id)
    region = lock_region(session, actor.brand_id, region_id)
    assert region is not None
    before = row_snapshot(region)
    for key, value in data.model_dump(exclude_unset=True).items():
        if value is not None:
            setattr(region, key, value)
    _finish_update(session, actor, region, "region", before, events.RegionChanged, "region_id")
    return region


def _finish_update(
    session: Session,
    actor: Actor,
    row: Any,
    object_type: str,
    before: dict[str, Any],
    event_class: Any,
    id_field: str,
) -> dict[str, Any]:
    """Audit and publish an update if anything changed; return the changed fields."""
    changes = record_update(session, actor, object_type=object_type, row=row, before=before)
    if changes:
        record_event(session, actor.brand_id, event_class(**{id_field: row.id, "changes": changes}))
    return changes


# ---------------------------------------------------------------- franchisees


def list_franchisees(session: Session, actor: Actor) -> Sequence[Franchisee]:
    actor.require(Permission.ORG_READ)
    return session.scalars(
        select(Franchisee).where(franchisee_scope(actor)).order_by(Franchisee.code)
    ).all()


def get_franchisee(session: Session, actor: Actor, franchisee_id: int) -> Franchisee:
    actor.require(Permission.ORG_READ)
    row = session.scalar(
        select(Franchisee).where(franchisee_scope(actor), Franchisee.id == franchisee_id)
    )
    if row is None:
        raise FranchiseeNotFound(f"Franchisee {franchisee_id} was not found.")
    return row


def create_franchisee(session: Session, actor: Actor, data: FranchiseeCreate) -> Franchisee:
    actor.require(Permission.ORG_WRITE)
    _check_code_free(session, Franchisee, actor.brand_id, data.code, "franchisee")
    row = Franchisee(brand_id=actor.brand_id, **data.model_dump())
    session.add(row)
    session.flush()
    record_creation(session, actor, object_type="franchisee", row=row)
    record_event(
        session,
        actor.brand_id,
        events.FranchiseeCreated(franchisee_id=row.id, code=row.code, name=row.name),
    )
    return row


def update_franchisee(
    session: Session, actor: Actor, franchisee_id: int, data: FranchiseeUpdate
) -> Franchisee:
    actor.require(Permission.ORG_WRITE)
    get_franchisee(session, actor, franchisee_id)
    row = lock_franchisee(session, actor.brand_id, franchisee_id)
    assert row is not None
    before = row_snapshot(row)
    for key, value in data.model_dump(exclude_unset=True).items():
        setattr(row, key, value)
    _finish_update(
        session, actor, row, "franchisee", before, events.FranchiseeChanged, "franchisee_id"
    )
    return row


# ---------------------------------------------------------------- stores


def list_stores(
    session: Session,
    actor: Actor,
    *,
    region_id: int | None = None,
    franchisee_id: int | None = None,
    status: str | None = None,
    search: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[Sequence[Store], int]:
    """A page of the stores in scope, ordered by code, and the total matching."""
    actor.require(Permission.ORG_READ)
    conditions: list[ColumnElement[bool]] = [store_scope(actor)]
    if region_id is not None:
        conditions.append(Store.region_id == region_id)
    if franchisee_id is not None:
        conditions.append(Store.franchisee_id == franchisee_id)
    if status is not None:
        conditions.append(Store.status == status)
    if search:
        pattern = contains_pattern(search)
        conditions.append(or_(Store.code.ilike(pattern), Store.name.ilike(pattern)))
    total = session.scalar(select(func.count()).select_from(Store).where(*conditions)) or 0
    rows = session.scalars(
        select(Store).where(*conditions).order_by(Store.code).limit(limit).offset(offset)
    ).all()
    return rows, total


def get_store(session: Session, actor: Actor, store_id: int) -> Store:
    actor.require(Permission.ORG_READ)
    store = session.scalar(select(Store).where(store_scope(actor), Store.id == store_id))
    if store is None:
        raise StoreNotFound(f"Store {store_id} was not found.")
    return store


def _opening_hours(value: OpeningHoursValue | str) -> OpeningHours:
    try:
        if isinstance(value, str):
            return parse_opening_hours(value)
        return validate_opening_hours(
            {day: [list(i) for i in spans] for day, spans in value.items()}
        )
    except OpeningHoursError as error:
        raise InvalidOpeningHours(str(error), field="opening_hours") from error


def _check_ownership(
    session: Session, actor: Actor, ownership: Ownership, franchisee_id: int | None
) -> None:
    problem = ownership_problem(ownership.value, franchisee_id is not None)
    if problem is not None:
        raise InvalidOwnership(problem[0].upper() + problem[1:] + ".", field="franchisee_id")
    if franchisee_id is not None:
        exists = session.scalar(
            select(Franchisee.id).where(
                Franchisee.brand_id == actor.brand_id, Franchisee.id == franchisee_id
            )
        )
        if exists is None:
            raise FranchiseeNotFound(
                f"Franchisee {franchisee_id} was not found.", field="franchisee_id"
            )


def _check_region_exists(session: Session, brand_id: int, region_id: int) -> None:
    exists = session.scalar(
        select(Region.id).where(Region.brand_id == brand_id, Region.id == region_id)
    )
    if exists is None:
        raise RegionNotFound(f"Region {region_id} was not found.", field="region_id")


def create_store(session: Session, actor: Actor, data: StoreCreate) -> Store:
    """Create a store and its stock location. Raises DuplicateCode, RegionNotFound,
    FranchiseeNotFound, InvalidOwnership, InvalidOpeningHours."""
    actor.require(Permission.ORG_WRITE)
    _check_code_free(session, Store, actor.brand_id, data.code, "store")
    _check_code_free(session, StockLocation, actor.brand_id, data.code, "stock location")
    _check_region_exists(session, actor.brand_id, data.region_id)
    _check_ownership(session, actor, data.ownership, data.franchisee_id)
    values = data.model_dump()
    values["opening_hours"] = _opening_hours(data.opening_hours)
    values["ownership"] = data.ownership.value
    values["status"] = data.status.value
    store = Store(brand_id=actor.brand_id, **values)
    session.add(store)
    session.flush()
    location = StockLocation(
        brand_id=actor.brand_id,
        code=store.code,
        name=store.name,
        kind=LocationKind.STORE.value,
        store_id=store.id,
        region_id=store.region_id,
        franchisee_id=store.franchisee_id,
        address=store.address,
    )
    session.add(location)
    session.flush()
    publish_store_created(session, actor, store)
    return store


def publish_store_created(session: Session, actor: Actor, store: Store) -> None:
    """Audit entry and StoreCreated event for a flushed new store."""
    record_creation(session, actor, object_type="store", row=store)
    record_event(
        session,
        actor.brand_id,
        events.StoreCreated(
            store_id=store.id,
            code=store.code,
            region_id=store.region_id,
            ownership=store.ownership,
            franchisee_id=store.franchisee_id,
            status=store.status,
        ),
    )


def publish_store_changed(
    session: Session, actor: Actor, store: Store, before: dict[str, Any]
) -> dict[str, Any]:
    """Audit entry and StoreChanged event for what changed since ``before``; returns it."""
    return _finish_update(session, actor, store, "store", before, events.StoreChanged, "store_id")


def copy_store_to_location(store: Store, location: StockLocation) -> None:
    """A store's stock location carries the store's name, region, owner and address."""
    location.name = store.name
    location.region_id = store.region_id
    location.franchisee_id = store.franchisee_id
    location.address = store.address


STRUCTURAL_STORE_FIELDS = frozenset({"region_id", "ownership", "franchisee_id"})


def update_store(session: Session, actor: Actor, store_id: int, data: StoreUpdate) -> Store:
    """Change the fields sent. Locks the store and its stock location.

    Moving a store between regions or owners needs ``org:write``; the rest ``store:write`` on a
    store in scope.
    """
    actor.require(Permission.STORE_WRITE)
    get_store(session, actor, store_id)
    sent = data.model_dump(exclude_unset=True)
    if STRUCTURAL_STORE_FIELDS & sent.keys() and not actor.can(Permission.ORG_WRITE):
        raise PermissionDenied(
            "Only HQ can move a store to another region or owner.",
            field=sorted(STRUCTURAL_STORE_FIELDS & sent.keys())[0],
        )
    store = lock_store(session, actor.brand_id, store_id)
    assert store is not None
    before = row_snapshot(store)
    if "region_id" in sent and sent["region_id"] is not None:
        _check_region_exists(session, actor.brand_id, sent["region_id"])
    if STRUCTURAL_STORE_FIELDS & sent.keys():
        ownership = Ownership(sent.get("ownership") or store.ownership)
        franchisee_id = sent.get("franchisee_id", store.franchisee_id)
        if "ownership" in sent and ownership is Ownership.DIRECT and "franchisee_id" not in sent:
            franchisee_id = None
        _check_ownership(session, actor, ownership, franchisee_id)
        sent["ownership"] = ownership.value
        sent["franchisee_id"] = franchisee_id
    if "opening_hours" in sent and sent["opening_hours"] is not None:
        sent["opening_hours"] = _opening_hours(sent["opening_hours"])
    if "status" in sent and sent["status"] is not None:
        sent["status"] = sent["status"].value
    nullable = {"franchisee_id", "phone", "latitude", "longitude"}
    for key, value in sent.items():
        if value is not None or key in nullable:
            setattr(store, key, value)
    changes = _finish_update(
        session, actor, store, "store", before, events.StoreChanged, "store_id"
    )
    if changes.keys() & {"name", "region_id", "franchisee_id", "address"}:
        location = lock_stock_location_of_store(session, actor.brand_id, store.id)
        copy_store_to_location(store, location)
    return store


def lock_stock_location_of_store(session: Session, brand_id: int, store_id: int) -> StockLocation:
    location = session.scalar(
        select(StockLocation)
        .where(StockLocation.brand_id == brand_id, StockLocation.store_id == store_id)
        .with_for_update()
    )
    assert location is not None, "every store has a stock location"
    return location


# ---------------------------------------------------------------- stock locations


def list_stock_locations(
    session: Session, actor: Actor, kind: LocationKind | None = None
) -> Sequence[StockLocation]:
    actor.require(Permission.ORG_READ)
    conditions = [stock_location_scope(actor)]
    if kind is not None:
        conditions.append(StockLocation.kind == kind.value)
    return session.scalars(
        select(StockLocation).where(*conditions).order_by(StockLocation.kind, StockLocation.code)
    ).all()


def get_stock_location(session: Session, actor: Actor, location_id: int) -> StockLocation:
    actor.require(Permission.ORG_READ)
    row = session.scalar(
        select(StockLocation).where(stock_location_scope(actor), StockLocation.id == location_id)
    )
    if row is None:
        raise StockLocationNotFound(f"Stock location {location_id} was not found.")
    return row


def create_warehouse(session: Session, actor: Actor, data: WarehouseCreate) -> StockLocation:
    actor.require(Permission.ORG_WRITE)
    _check_code_free(session, StockLocation, actor.brand_id, data.code, "stock location")
    if data.region_id is not None:
        _check_region_exists(session, actor.brand_id, data.region_id)
    if data.franchisee_id is not None:
        _check_ownership(session, actor, Ownership.FRANCHISE, data.franchisee_id)
    row = StockLocation(
        brand_id=actor.brand_id, kind=LocationKind.WAREHOUSE.value, **data.model_dump()
    )
    session.add(row)
    session.flush()
    record_creation(session, actor, object_type="stock_location", row=row)
    record_event(
        session,
        actor.brand_id,
        events.StockLocationCreated(
            stock_location_id=row.id, code=row.code, kind=row.kind, store_id=None
        ),
    )
    return row


def update_stock_location(
    session: Session, actor: Actor, location_id: int, data: StockLocationUpdate
) -> StockLocation:
    actor.require(Permission.ORG_WRITE)
    get_stock_location(session, actor, location_id)
    row = lock_stock_location(session, actor.brand_id, location_id)
    assert row is not None
    before = row_snapshot(row)
    for key, value in data.model_dump(exclude_unset=True).items():
        if value is not None:
            setattr(row, key, value)
    _finish_update(
        session,
        actor,
        row,
        "stock_location",
        before,
        events.StockLocationChanged,
        "stock_location_id",
    )
    return row


# ---------------------------------------------------------------- the org tree


@dataclass(frozen=True)
class RegionBranch:
    region: Region
    stores: list[Store]


@dataclass(frozen=True)
class OrgTree:
    regions: list[RegionBranch]
    franchisees: list[Franchisee]
    warehouses: list[StockLocation]


def org_tree(session: Session, actor: Actor) -> OrgTree:
    """The part of the organization ``actor`` may see: regions with their stores (by code),
    franchisees and warehouses. Three queries, whatever the size."""
    actor.require(Permission.ORG_READ)
    regions = list_regions(session, actor)
    stores = session.scalars(select(Store).where(store_scope(actor)).order_by(Store.code)).all()
    by_region: dict[int, list[Store]] = {region.id: [] for region in regions}
    for store in stores:
        by_region.setdefault(store.region_id, []).append(store)
    return OrgTree(
        regions=[RegionBranch(region, by_region[region.id]) for region in regions],
        franchisees=list(list_franchisees(session, actor)),
        warehouses=list(list_stock_locations(session, actor, LocationKind.WAREHOUSE)),
    )
