"""Per-store storefronts (千店千面): override management for staff, offers for the mall.

A store's offer for a SKU is computed, never stored: the catalog's defaults plus the sparse
override rows of the store and its region, resolved by ``siyu.cloud_store.rules``. Reading a
page of offers costs a handful of queries whatever the size of the catalog or the number of
stores.

Staff functions take an ``Actor``: reading overrides needs ``org:read``, changing them
``listing:write``, on a store (or region) inside the actor's scope; outside it they are not
found. Changes write an audit entry and an event in the caller's transaction; none commits.

Consumer functions (``resolve_offers``, ``store_catalog``, ``store_product``) take the
brand id of the authenticated consumer: a store of another brand is not found.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import ColumnElement, Select, and_, func, literal, or_, select, true
from sqlalchemy.orm import Session, aliased

from siyu.access.rules import Actor, Permission, can_see_region
from siyu.audit.service import record_change, record_creation, record_update
from siyu.catalog.errors import ProductNotFound, SkuNotFound
from siyu.catalog.models import Product, ProductStatus, Sku, SkuStatus
from siyu.catalog.service import category_and_descendants
from siyu.cloud_store import events
from siyu.cloud_store.errors import EmptyListingOverride, ListingOverrideNotFound
from siyu.cloud_store.locks import lock_override, lock_override_owner
from siyu.cloud_store.models import ListingOverride
from siyu.cloud_store.rules import (
    MALL_CHANNEL,
    Offer,
    OverrideRow,
    SkuDefaults,
    available_quantity,
    override_level,
    resolve_offer,
)
from siyu.cloud_store.schemas import ListingOverrideSet
from siyu.core.errors import PermissionDenied
from siyu.core.snapshot import row_snapshot
from siyu.core.text import contains_pattern
from siyu.inventory.models import StockLevel
from siyu.org.errors import StoreNotFound
from siyu.org.models import LocationKind, StockLocation, Store, StoreStatus
from siyu.org.service import get_region, get_store
from siyu.outbox.service import record_event

# Stores a consumer can browse: planned stores have not opened, closed ones have shut for good.
BROWSABLE_STATUSES = (StoreStatus.OPEN.value, StoreStatus.SUSPENDED.value)

# ---------------------------------------------------------------- override management (staff)


def list_store_overrides(
    session: Session, actor: Actor, store_id: int, *, product_id: int | None = None
) -> Sequence[ListingOverride]:
    """The store's own override rows (not its region's), by product then SKU."""
    get_store(session, actor, store_id)
    return _overrides(session, actor.brand_id, ListingOverride.store_id == store_id, product_id)


def list_region_overrides(
    session: Session, actor: Actor, region_id: int, *, product_id: int | None = None
) -> Sequence[ListingOverride]:
    get_region(session, actor, region_id)
    return _overrides(session, actor.brand_id, ListingOverride.region_id == region_id, product_id)


def _overrides(
    session: Session, brand_id: int, owner: ColumnElement[bool], product_id: int | None
) -> Sequence[ListingOverride]:
    conditions = [ListingOverride.brand_id == brand_id, owner]
    if product_id is not None:
        conditions.append(ListingOverride.product_id == product_id)
    return session.scalars(
        select(ListingOverride)
        .where(*conditions)
        .order_by(ListingOverride.product_id, ListingOverride.sku_id.nulls_first())
    ).all()


def _check_store_writable(session: Session, actor: Actor, store_id: int) -> None:
    actor.require(Permission.LISTING_WRITE)
    get_store(session, actor, store_id)


def _check_region_writable(session: Session, actor: Actor, region_id: int) -> None:
    actor.require(Permission.LISTING_WRITE)
    get_region(session, actor, region_id)
    if not can_see_region(actor, region_id):
        raise PermissionDenied(
            "Only HQ and the region's manager can change a region's listings.", field="region_id"
        )


def set_store_override(
    session: Session, actor: Actor, store_id: int, data: ListingOverrideSet
) -> ListingOverride:
    """Create or replace the store's override of a product or SKU. Locks the store, then the
    row. Raises StoreNotFound, ProductNotFound / SkuNotFound (product_id / sku_id),
    EmptyListingOverride; PermissionDenied without ``listing:write``."""
    _check_store_writable(session, actor, store_id)
    return _set_override(session, actor, region_id=None, store_id=store_id, data=data)


def set_region_override(
    session: Session, actor: Actor, region_id: int, data: ListingOverrideSet
) -> ListingOverride:
    """As ``set_store_override``, for every store of the region (a store's own override of
    the same field wins). Only HQ and the region's manager may change a region's listings."""
    _check_region_writable(session, actor, region_id)
    return _set_override(session, actor, region_id=region_id, store_id=None, data=data)


def clear_store_override(
    session: Session, actor: Actor, store_id: int, product_id: int, sku_id: int | None = None
) -> None:
    """Delete the store's override of a product (``sku_id`` None) or SKU. Raises
    StoreNotFound, ListingOverrideNotFound."""
    _check_store_writable(session, actor, store_id)
    _clear_override(
        session, actor, region_id=None, store_id=store_id, product_id=product_id, sku_id=sku_id
    )


def clear_region_override(
    session: Session, actor: Actor, region_id: int, product_id: int, sku_id: int | None = None
) -> None:
    _check_region_writable(session, actor, region_id)
    _clear_override(
        session, actor, region_id=region_id, store_id=None, product_id=product_id, sku_id=sku_id
    )


def _check_target(session: Session, brand_id: int, product_id: int, sku_id: int | None) -> None:
    product = session.scalar(
        select(Product.id).where(Product.brand_id == brand_id, Product.id == product_id)
    )
    if product is None:
        raise ProductNotFound(f"Product {product_id} was not found.", field="product_id")
    if sku_id is not None:
        sku = session.scalar(
            select(Sku.id).where(
                Sku.brand_id == brand_id, Sku.id == sku_id, Sku.product_id == product_id
            )
        )
        if sku is None:
            raise SkuNotFound(
                f"SKU {sku_id} was not found among the SKUs of product {product_id}.",
                field="sku_id",
            )


def _set_override(
    session: Session,
    actor: Actor,
    *,
    region_id: int | None,
    store_id: int | None,
    data: ListingOverrideSet,
) -> ListingOverride:
    if data.is_listed is None and data.price_fen is None and data.stock_source is None:
        raise EmptyListingOverride(
            "Set at least one of is_listed, price_fen, stock_source; to inherit everything, "
            "delete the override.",
            field="is_listed",
        )
    _check_target(session, actor.brand_id, data.product_id, data.sku_id)
    lock_override_owner(session, actor.brand_id, region_id=region_id, store_id=store_id)
    row = lock_override(
        session,
        actor.brand_id,
        region_id=region_id,
        store_id=store_id,
        product_id=data.product_id,
        sku_id=data.sku_id,
    )
    values = {
        "is_listed": data.is_listed,
        "price_fen": data.price_fen,
        "stock_source": data.stock_source.value if data.stock_source else None,
    }
    if row is None:
        row = ListingOverride(
            brand_id=actor.brand_id,
            region_id=region_id,
            store_id=store_id,
            product_id=data.product_id,
            sku_id=data.sku_id,
            **values,
        )
        session.add(row)
        session.flush()
        record_creation(session, actor, object_type="listing_override", row=row)
    else:
        before = row_snapshot(row)
        for key, value in values.items():
            setattr(row, key, value)
        session.flush()
        if not record_update(
            session, actor, object_type="listing_override", row=row, before=before
        ):
            return row
    record_event(
        session,
        actor.brand_id,
        events.ListingOverrideSet(
            listing_override_id=row.id,
            region_id=row.region_id,
            store_id=row.store_id,
            product_id=row.product_id,
            sku_id=row.sku_id,
            **values,
        ),
    )
    return row


def _clear_override(
    session: Session,
    actor: Actor,
    *,
    region_id: int | None,
    store_id: int | None,
    product_id: int,
    sku_id: int | None,
) -> None:
    lock_override_owner(session, actor.brand_id, region_id=region_id, store_id=store_id)
    row = lock_override(
        session,
        actor.brand_id,
        region_id=region_id,
        store_id=store_id,
        product_id=product_id,
        sku_id=sku_id,
    )
    if row is None:
        target = f"SKU {sku_id}" if sku_id is not None else f"product {product_id}"
        raise ListingOverrideNotFound(f"There is no override of {target} here.")
    before = row_snapshot(row)
    session.delete(row)
    session.flush()
    record_change(
        session,
        actor,
        action="listing_override.delete",
        object_type="listing_override",
        object_id=before["id"],
        before=before,
        after=None,
    )
    record_event(
        session,
        actor.brand_id,
        events.ListingOverrideCleared(
            listing_override_id=before["id"],
            region_id=region_id,
            store_id=store_id,
            product_id=product_id,
            sku_id=sku_id,
        ),
    )


# ---------------------------------------------------------------- offers (consumers, checkout)


@dataclass(frozen=True)
class _StorePlace:
    id: int
    region_id: int
    franchisee_id: int | None
    status: str


def _store_place(session: Session, brand_id: int, store_id: int) -> _StorePlace:
    found = session.execute(
        select(Store.id, Store.region_id, Store.franchisee_id, Store.status).where(
            Store.brand_id == brand_id, Store.id == store_id
        )
    ).first()
    if found is None:
        raise StoreNotFound(f"Store {store_id} was not found.")
    return _StorePlace(*found)


def _browsable_store(session: Session, brand_id: int, store_id: int) -> _StorePlace:
    store = _store_place(session, brand_id, store_id)
    if store.status not in BROWSABLE_STATUSES:
        raise StoreNotFound(f"Store {store_id} was not found.")
    return store


def _defaults_columns() -> Select[Any]:
    return select(
        Sku.id,
        Sku.product_id,
        Product.code,
        Product.name,
        Sku.code,
        Sku.attributes,
        Product.category_id,
        Product.images,
        Sku.list_price_fen,
        Sku.max_per_order,
        Product.exclusive_channel,
        Product.status,
        Sku.status,
    ).join(Product, and_(Product.brand_id == Sku.brand_id, Product.id == Sku.product_id))


def _defaults(row: Any) -> SkuDefaults:
    return SkuDefaults(
        sku_id=row[0],
        product_id=row[1],
        product_code=row[2],
        product_name=row[3],
        sku_code=row[4],
        attributes=row[5],
        category_id=row[6],
        images=tuple(row[7]),
        list_price_fen=row[8],
        max_per_order=row[9],
        exclusive_channel=row[10],
        product_status=row[11],
        sku_status=row[12],
    )


def _override_rows(
    session: Session, brand_id: int, store: _StorePlace, product_ids: Collection[int]
) -> list[OverrideRow]:
    """Every override of the store and its region for these products: one query."""
    if not product_ids:
        return []
    rows = session.execute(
        select(
            ListingOverride.store_id,
            ListingOverride.product_id,
            ListingOverride.sku_id,
            ListingOverride.is_listed,
            ListingOverride.price_fen,
            ListingOverride.stock_source,
        ).where(
            ListingOverride.brand_id == brand_id,
            or_(
                ListingOverride.store_id == store.id,
                ListingOverride.region_id == store.region_id,
            ),
            ListingOverride.product_id.in_(product_ids),
        )
    )
    return [
        OverrideRow(
            level=override_level(store_id=store_id, sku_id=sku_id),
            product_id=product_id,
            sku_id=sku_id,
            is_listed=is_listed,
            price_fen=price_fen,
            stock_source=stock_source,
        )
        for store_id, product_id, sku_id, is_listed, price_fen, stock_source in rows
    ]


def _offers(
    session: Session, brand_id: int, store: _StorePlace, defaults: Iterable[SkuDefaults]
) -> list[Offer]:
    defaults = list(defaults)
    overrides = _override_rows(session, brand_id, store, {d.product_id for d in defaults})
    by_product: dict[int, list[OverrideRow]] = {}
    for row in overrides:
        by_product.setdefault(row.product_id, []).append(row)
    return [resolve_offer(d, by_product.get(d.product_id, ())) for d in defaults]


def resolve_offers(
    session: Session, brand_id: int, store_id: int, sku_ids: Collection[int]
) -> dict[int, Offer]:
    """The store's offer for each known SKU of ``sku_ids`` (listed or not: see
    ``Offer.listed``), by SKU id. Unknown SKUs, and SKUs of another brand, are absent.

    Three queries whatever the number of SKUs; reads only, takes no locks. Raises
    StoreNotFound when the store is not the brand's. The store's status is not checked:
    that is the caller's decision (an after-hours sale is still a sale).
    """
    store = _store_place(session, brand_id, store_id)
    if not sku_ids:
        return {}
    rows = session.execute(
        _defaults_columns().where(Sku.brand_id == brand_id, Sku.id.in_(set(sku_ids)))
    )
    return {
        offer.sku_id: offer for offer in _offers(session, brand_id, store, map(_defaults, rows))
    }


def _availability(
    session: Session, brand_id: int, store: _StorePlace, offers: Sequence[Offer]
) -> dict[int, int]:
    """Units each offer can sell now, from the locations its stock source allows: the
    store's own stock location and/or the brand's active warehouses (a franchisee's own
    warehouse only for that franchisee's stores). One grouped query."""
    if not offers:
        return {}
    at_store = StockLocation.store_id == store.id
    warehouse = and_(
        StockLocation.kind == LocationKind.WAREHOUSE.value,
        or_(
            StockLocation.franchisee_id.is_(None),
            StockLocation.franchisee_id == store.franchisee_id
            if store.franchisee_id is not None
            else literal(False),
        ),
    )
    free = func.sum(StockLevel.on_hand - StockLevel.reserved - StockLevel.allocated)
    rows = session.execute(
        select(StockLevel.sku_id, StockLocation.store_id.is_not(None), free)
        .join(
            StockLocation,
            and_(
                StockLocation.brand_id == StockLevel.brand_id,
                StockLocation.id == StockLevel.location_id,
            ),
        )
        .where(
            StockLevel.brand_id == brand_id,
            StockLevel.sku_id.in_({o.sku_id for o in offers}),
            StockLocation.is_active.is_(true()),
            or_(at_store, warehouse),
        )
        .group_by(StockLevel.sku_id, StockLocation.store_id.is_not(None))
    )
    store_units: dict[int, int] = {}
    warehouse_units: dict[int, int] = {}
    for sku_id, is_store, units in rows:
        (store_units if is_store else warehouse_units)[sku_id] = int(units or 0)
    return {
        o.sku_id: available_quantity(
            o.stock_source, store_units.get(o.sku_id, 0), warehouse_units.get(o.sku_id, 0)
        )
        for o in offers
    }


def _override_join(
    alias: Any, brand_id: int, owner: ColumnElement[bool], sku_level: bool
) -> ColumnElement[bool]:
    sku = alias.sku_id == Sku.id if sku_level else alias.sku_id.is_(None)
    return and_(alias.brand_id == brand_id, owner, alias.product_id == Sku.product_id, sku)


def _listed_condition(brand_id: int, store: _StorePlace, query: Select[Any]) -> Select[Any]:
    """``query`` (over Sku joined to Product) narrowed to the SKUs the store lists.

    The same precedence as ``rules.resolve_offer`` for ``is_listed``, in SQL, so that a page
    can be cut in the database: each of the four override levels is an outer join matching at
    most one row (the unique indexes), and the most specific non-null value wins.
    """
    levels = []
    for is_store, sku_level in ((True, True), (True, False), (False, True), (False, False)):
        alias = aliased(ListingOverride)
        owner = alias.store_id == store.id if is_store else alias.region_id == store.region_id
        query = query.outerjoin(alias, _override_join(alias, brand_id, owner, sku_level))
        levels.append(alias.is_listed)
    return query.where(
        Product.status == ProductStatus.ACTIVE.value,
        Sku.status == SkuStatus.ACTIVE.value,
        or_(Product.exclusive_channel.is_(None), Product.exclusive_channel == MALL_CHANNEL),
        func.coalesce(*levels, true()).is_(true()),
    )


def store_catalog(
    session: Session,
    brand_id: int,
    store_id: int,
    *,
    category_id: int | None = None,
    search: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[tuple[Offer, int]], int]:
    """A page of the offers the store lists, by product code then SKU code, each with the
    quantity available, and the total listed. ``category_id`` includes subcategories;
    ``search`` matches the product's code or name or the SKU's code.

    Four or five queries whatever the catalog's size (store, page with total, overrides of
    the page, stock; the category tree when filtering). Reads only. Raises StoreNotFound for
    a store of another brand, planned or closed.
    """
    store = _browsable_store(session, brand_id, store_id)
    # The page is cut on narrow columns (ids and codes); the wide ones (names, attributes,
    # images) are read for the page's rows only.
    narrow: Select[Any] = cast(
        Select[Any],
        select(Sku.id, Product.code.label("product_code"), Sku.code.label("sku_code")).join(
            Product, and_(Product.brand_id == Sku.brand_id, Product.id == Sku.product_id)
        ),
    )
    query = _listed_condition(brand_id, store, narrow).where(Sku.brand_id == brand_id)
    if category_id is not None:
        categories = category_and_descendants(session, brand_id, category_id)
        query = query.where(Product.category_id.in_(categories or {0}))
    if search:
        pattern = contains_pattern(search)
        query = query.where(
            or_(Product.code.ilike(pattern), Product.name.ilike(pattern), Sku.code.ilike(pattern))
        )
    page = (
        query.add_columns(func.count().over().label("total"))
        .order_by(Product.code, Sku.code)
        .limit(limit)
        .offset(offset)
        .subquery()
    )
    rows = session.execute(
        _defaults_columns()
        .add_columns(page.c.total)
        .join(page, page.c.id == Sku.id)
        .where(Sku.brand_id == brand_id)
        .order_by(page.c.product_code, page.c.sku_code)
    ).all()
    if rows:
        total = int(rows[0][-1])
    else:
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    offers = _offers(session, brand_id, store, (_defaults(row) for row in rows))
    available = _availability(session, brand_id, store, offers)
    return [(offer, available[offer.sku_id]) for offer in offers if offer.listed], total


@dataclass(frozen=True)
class StoreProduct:
    product: Product
    offers: list[tuple[Offer, int]]


def store_product(session: Session, brand_id: int, store_id: int, product_id: int) -> StoreProduct:
    """A product as the store sells it: its listed offers (by SKU code) with the quantity
    available. Raises StoreNotFound, ProductNotFound when the product is not the brand's or
    the store lists none of its SKUs."""
    store = _browsable_store(session, brand_id, store_id)
    product = session.scalar(
        select(Product).where(Product.brand_id == brand_id, Product.id == product_id)
    )
    if product is None:
        raise ProductNotFound(f"Product {product_id} was not found.")
    rows = session.execute(
        _defaults_columns()
        .where(Sku.brand_id == brand_id, Sku.product_id == product_id)
        .order_by(Sku.code)
    )
    offers = [o for o in _offers(session, brand_id, store, map(_defaults, rows)) if o.listed]
    if not offers:
        raise ProductNotFound(f"Product {product_id} was not found.")
    available = _availability(session, brand_id, store, offers)
    return StoreProduct(product, [(offer, available[offer.sku_id]) for offer in offers])
