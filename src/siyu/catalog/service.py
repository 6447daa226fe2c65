"""The brand's catalog: categories, products (SPU) and SKUs, managed by HQ.

Every function takes the acting ``Actor`` and the caller's session; none commits. Reading
needs ``org:read`` (every staff role), changing ``catalog:write`` (brand admins and HQ
operators). Objects of another brand are reported as not found. Every change writes an audit
entry and a domain event in the caller's transaction; a change that changes nothing writes
neither. Locks: see ``siyu.catalog.locks`` (category, product, SKU).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from siyu.access.rules import Actor, Permission
from siyu.audit.service import record_creation, record_update
from siyu.catalog import events
from siyu.catalog.errors import (
    CategoryNotFound,
    DuplicateCode,
    InvalidCategoryParent,
    ProductNotFound,
    SkuNotFound,
)
from siyu.catalog.locks import lock_category, lock_product, lock_sku
from siyu.catalog.models import Category, Product, Sku
from siyu.catalog.rules import creates_cycle, descendants
from siyu.catalog.schemas import (
    CategoryCreate,
    CategoryUpdate,
    ProductCreate,
    ProductUpdate,
    SkuCreate,
    SkuUpdate,
)
from siyu.core.snapshot import row_snapshot
from siyu.core.text import contains_pattern
from siyu.outbox.service import record_event

# ---------------------------------------------------------------- categories


def list_categories(session: Session, actor: Actor) -> Sequence[Category]:
    """Every category of the brand (the tree is given by ``parent_id``), by sort order, code."""
    actor.require(Permission.ORG_READ)
    return session.scalars(
        select(Category)
        .where(Category.brand_id == actor.brand_id)
        .order_by(Category.sort_order, Category.code)
    ).all()


def get_category(session: Session, actor: Actor, category_id: int) -> Category:
    actor.require(Permission.ORG_READ)
    return _category(session, actor.brand_id, category_id)


def _category(
    session: Session, brand_id: int, category_id: int, field: str | None = None
) -> Category:
    row = session.scalar(
        select(Category).where(Category.brand_id == brand_id, Category.id == category_id)
    )
    if row is None:
        raise CategoryNotFound(f"Category {category_id} was not found.", field=field)
    return row


def category_parents(session: Session, brand_id: int) -> dict[int, int | None]:
    """Each category of the brand and its parent: the whole tree in one query."""
    return {
        id_: parent
        for id_, parent in session.execute(
            select(Category.id, Category.parent_id).where(Category.brand_id == brand_id)
        )
    }


def category_and_descendants(session: Session, brand_id: int, category_id: int) -> set[int]:
    """``category_id`` and every category below it (empty when it is not the brand's)."""
    parents = category_parents(session, brand_id)
    if category_id not in parents:
        return set()
    return descendants(parents, category_id)


def _check_code_free(
    session: Session, model: Any, brand_id: int, code: str, what: str, field: str = "code"
) -> None:
    taken = session.scalar(select(model.id).where(model.brand_id == brand_id, model.code == code))
    if taken is not None:
        raise DuplicateCode(f"A {what} with code '{code}' already exists.", field=field)


def create_category(session: Session, actor: Actor, data: CategoryCreate) -> Category:
    """Raises DuplicateCode (code), CategoryNotFound (parent_id)."""
    actor.require(Permission.CATALOG_WRITE)
    _check_code_free(session, Category, actor.brand_id, data.code, "category")
    if data.parent_id is not None:
        _category(session, actor.brand_id, data.parent_id, "parent_id")
    row = Category(brand_id=actor.brand_id, **data.model_dump())
    session.add(row)
    session.flush()
    record_creation(session, actor, object_type="category", row=row)
    record_event(
        session,
        actor.brand_id,
        events.CategoryCreated(
            category_id=row.id, code=row.code, name=row.name, parent_id=row.parent_id
        ),
    )
    return row


def update_category(
    session: Session, actor: Actor, category_id: int, data: CategoryUpdate
) -> Category:
    """Change the fields sent. Locks the category. Raises CategoryNotFound,
    InvalidCategoryParent (parent_id) when the move would make a loop."""
    actor.require(Permission.CATALOG_WRITE)
    row = lock_category(session, actor.brand_id, category_id)
    if row is None:
        raise CategoryNotFound(f"Category {category_id} was not found.")
    sent = data.model_dump(exclude_unset=True, mode="json")
    parent_id = sent.get("parent_id")
    if parent_id is not None:
        _category(session, actor.brand_id, parent_id, "parent_id")
        if creates_cycle(category_parents(session, actor.brand_id), category_id, parent_id):
            raise InvalidCategoryParent(
                "A category cannot be moved below itself or one of its subcategories.",
                field="parent_id",
            )
    before = row_snapshot(row)
    for key, value in sent.items():
        if value is not None or key == "parent_id":
            setattr(row, key, value)
    _finish_update(
        session,
        actor,
        row,
        "category",
        before,
        lambda changes: events.CategoryChanged(category_id=row.id, changes=changes),
    )
    return row


def _finish_update(
    session: Session,
    actor: Actor,
    row: Any,
    object_type: str,
    before: dict[str, Any],
    make_event: Any,
) -> dict[str, Any]:
    """Audit and publish an update if anything changed; return the changed fields."""
    changes = record_update(session, actor, object_type=object_type, row=row, before=before)
    if changes:
        record_event(session, actor.brand_id, make_event(changes))
    return changes


# ---------------------------------------------------------------- products


@dataclass(frozen=True)
class ProductSummary:
    product: Product
    sku_count: int
    min_list_price_fen: int | None
    max_list_price_fen: int | None


@dataclass(frozen=True)
class ProductDetail:
    product: Product
    skus: list[Sku]


def list_products(
    session: Session,
    actor: Actor,
    *,
    category_id: int | None = None,
    status: str | None = None,
    search: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[ProductSummary], int]:
    """A page of the brand's products by code, and the total matching. ``category_id``
    includes its subcategories; ``search`` matches product code or name, or a SKU code or
    barcode. Three queries."""
    actor.require(Permission.ORG_READ)
    conditions: list[ColumnElement[bool]] = [Product.brand_id == actor.brand_id]
    if category_id is not None:
        conditions.append(
            Product.category_id.in_(
                category_and_descendants(session, actor.brand_id, category_id) or {0}
            )
        )
    if status is not None:
        conditions.append(Product.status == status)
    if search:
        pattern = contains_pattern(search)
        matching_skus = select(Sku.product_id).where(
            Sku.brand_id == actor.brand_id,
            or_(Sku.code.ilike(pattern), Sku.barcode.ilike(pattern)),
        )
        conditions.append(
            or_(
                Product.code.ilike(pattern),
                Product.name.ilike(pattern),
                Product.id.in_(matching_skus),
            )
        )
    total = session.scalar(select(func.count()).select_from(Product).where(*conditions)) or 0
    products = session.scalars(
        select(Product).where(*conditions).order_by(Product.code).limit(limit).offset(offset)
    ).all()
    figures = {
        product_id: (count, low, high)
        for product_id, count, low, high in session.execute(
            select(
                Sku.product_id,
                func.count(),
                func.min(Sku.list_price_fen),
                func.max(Sku.list_price_fen),
            )
            .where(Sku.brand_id == actor.brand_id, Sku.product_id.in_([p.id for p in products]))
            .group_by(Sku.product_id)
        )
    }
    summaries = [
        ProductSummary(product, *figures.get(product.id, (0, None, None))) for product in products
    ]
    return summaries, total


def get_product(session: Session, actor: Actor, product_id: int) -> ProductDetail:
    """The product with its SKUs (by code). Raises ProductNotFound."""
    actor.require(Permission.ORG_READ)
    product = _product(session, actor.brand_id, product_id)
    return ProductDetail(product, _skus_of(session, actor.brand_id, product.id))


def _product(session: Session, brand_id: int, product_id: int, field: str | None = None) -> Product:
    row = session.scalar(
        select(Product).where(Product.brand_id == brand_id, Product.id == product_id)
    )
    if row is None:
        raise ProductNotFound(f"Product {product_id} was not found.", field=field)
    return row


def _skus_of(session: Session, brand_id: int, product_id: int) -> list[Sku]:
    return list(
        session.scalars(
            select(Sku)
            .where(Sku.brand_id == brand_id, Sku.product_id == product_id)
            .order_by(Sku.code)
        )
    )


def create_product(session: Session, actor: Actor, data: ProductCreate) -> ProductDetail:
    """Create a product and the SKUs sent with it. Raises DuplicateCode (code, or
    ``skus.N.code``), CategoryNotFound (category_id)."""
    actor.require(Permission.CATALOG_WRITE)
    _check_code_free(session, Product, actor.brand_id, data.code, "product")
    _category(session, actor.brand_id, data.category_id, "category_id")
    codes = [sku.code for sku in data.skus]
    for index, code in enumerate(codes):
        if code in codes[:index]:
            raise DuplicateCode(f"The SKU code '{code}' is sent twice.", field=f"skus.{index}.code")
        _check_code_free(session, Sku, actor.brand_id, code, "SKU", f"skus.{index}.code")
    values = data.model_dump(exclude={"skus"})
    values["status"] = data.status.value
    product = Product(brand_id=actor.brand_id, **values)
    session.add(product)
    session.flush()
    publish_product_created(session, actor, product)
    skus = [_add_sku(session, actor, product, sku) for sku in data.skus]
    return ProductDetail(product, sorted(skus, key=lambda s: s.code))


def publish_product_created(session: Session, actor: Actor, product: Product) -> None:
    """Audit entry and ProductCreated event for a flushed new product."""
    record_creation(session, actor, object_type="product", row=product)
    record_event(
        session,
        actor.brand_id,
        events.ProductCreated(
            product_id=product.id,
            code=product.code,
            name=product.name,
            category_id=product.category_id,
            status=product.status,
            exclusive_channel=product.exclusive_channel,
        ),
    )


def publish_product_changed(
    session: Session, actor: Actor, product: Product, before: dict[str, Any]
) -> dict[str, Any]:
    """Audit entry and ProductChanged event for what changed since ``before``; returns it."""
    return _finish_update(
        session,
        actor,
        product,
        "product",
        before,
        lambda changes: events.ProductChanged(product_id=product.id, changes=changes),
    )


def update_product(
    session: Session, actor: Actor, product_id: int, data: ProductUpdate
) -> ProductDetail:
    """Change the fields sent. Locks the product. Raises ProductNotFound, CategoryNotFound
    (category_id)."""
    actor.require(Permission.CATALOG_WRITE)
    product = lock_product(session, actor.brand_id, product_id)
    if product is None:
        raise ProductNotFound(f"Product {product_id} was not found.")
    sent = data.model_dump(exclude_unset=True, mode="json")
    if sent.get("category_id") is not None:
        _category(session, actor.brand_id, sent["category_id"], "category_id")
    before = row_snapshot(product)
    for key, value in sent.items():
        if value is not None or key == "exclusive_channel":
            setattr(product, key, value)
    publish_product_changed(session, actor, product, before)
    return ProductDetail(product, _skus_of(session, actor.brand_id, product.id))


# ---------------------------------------------------------------- SKUs


def get_sku(session: Session, actor: Actor, sku_id: int) -> Sku:
    actor.require(Permission.ORG_READ)
    row = session.scalar(select(Sku).where(Sku.brand_id == actor.brand_id, Sku.id == sku_id))
    if row is None:
        raise SkuNotFound(f"SKU {sku_id} was not found.")
    return row


def create_sku(session: Session, actor: Actor, product_id: int, data: SkuCreate) -> Sku:
    """Add a SKU to a product. Raises ProductNotFound, DuplicateCode (code)."""
    actor.require(Permission.CATALOG_WRITE)
    product = _product(session, actor.brand_id, product_id)
    _check_code_free(session, Sku, actor.brand_id, data.code, "SKU")
    return _add_sku(session, actor, product, data)


def _add_sku(session: Session, actor: Actor, product: Product, data: SkuCreate) -> Sku:
    values = data.model_dump()
    values["status"] = data.status.value
    sku = Sku(brand_id=actor.brand_id, product_id=product.id, **values)
    session.add(sku)
    session.flush()
    publish_sku_created(session, actor, sku)
    return sku


def publish_sku_created(session: Session, actor: Actor, sku: Sku) -> None:
    """Audit entry and SkuCreated event for a flushed new SKU."""
    record_creation(session, actor, object_type="sku", row=sku)
    record_event(
        session,
        actor.brand_id,
        events.SkuCreated(
            sku_id=sku.id,
            product_id=sku.product_id,
            code=sku.code,
            list_price_fen=sku.list_price_fen,
            status=sku.status,
        ),
    )


def publish_sku_changed(
    session: Session, actor: Actor, sku: Sku, before: dict[str, Any]
) -> dict[str, Any]:
    """Audit entry and SkuChanged event for what changed since ``before``; returns it."""
    return _finish_update(
        session,
        actor,
        sku,
        "sku",
        before,
        lambda changes: events.SkuChanged(
            sku_id=sku.id, product_id=sku.product_id, changes=changes
        ),
    )


def update_sku(session: Session, actor: Actor, sku_id: int, data: SkuUpdate) -> Sku:
    """Change the fields sent. Locks the SKU. Raises SkuNotFound."""
    actor.require(Permission.CATALOG_WRITE)
    sku = lock_sku(session, actor.brand_id, sku_id)
    if sku is None:
        raise SkuNotFound(f"SKU {sku_id} was not found.")
    before = row_snapshot(sku)
    for key, value in data.model_dump(exclude_unset=True, mode="json").items():
        if value is not None or key == "barcode":
            setattr(sku, key, value)
    publish_sku_changed(session, actor, sku, before)
    return sku
