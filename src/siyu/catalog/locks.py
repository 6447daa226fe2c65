"""Row locks of the catalog, in one place and one order.

Order when several are needed: category, product, SKU (ascending id within a kind). Every lock
is ``FOR UPDATE`` and held until the caller's transaction ends.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.catalog.models import Category, Product, Sku


def lock_category(session: Session, brand_id: int, category_id: int) -> Category | None:
    return session.scalar(
        select(Category)
        .where(Category.brand_id == brand_id, Category.id == category_id)
        .with_for_update()
    )


def lock_product(session: Session, brand_id: int, product_id: int) -> Product | None:
    return session.scalar(
        select(Product)
        .where(Product.brand_id == brand_id, Product.id == product_id)
        .with_for_update()
    )


def lock_sku(session: Session, brand_id: int, sku_id: int) -> Sku | None:
    return session.scalar(
        select(Sku).where(Sku.brand_id == brand_id, Sku.id == sku_id).with_for_update()
    )


def lock_products_by_code(
    session: Session, brand_id: int, codes: Collection[str]
) -> Sequence[Product]:
    """The brand's products with these codes, locked in id order (for imports)."""
    return session.scalars(
        select(Product)
        .where(Product.brand_id == brand_id, Product.code.in_(codes))
        .order_by(Product.id)
        .with_for_update()
    ).all()


def lock_skus_by_code(session: Session, brand_id: int, codes: Collection[str]) -> Sequence[Sku]:
    """The brand's SKUs with these codes, locked in id order (for imports)."""
    return session.scalars(
        select(Sku)
        .where(Sku.brand_id == brand_id, Sku.code.in_(codes))
        .order_by(Sku.id)
        .with_for_update()
    ).all()
