"""The demo brand's category tree (the one ``examples/products.csv`` refers to), created
through the catalog service. Idempotent: existing codes are left alone."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.access.rules import Actor
from siyu.catalog.models import Category
from siyu.catalog.schemas import CategoryCreate
from siyu.catalog.service import create_category

# (code, name, parent code), parents first
DEMO_CATEGORIES: tuple[tuple[str, str, str | None], ...] = (
    ("APPAREL", "Apparel 服装", None),
    ("TOPS", "Tops 上装", "APPAREL"),
    ("DRESSES", "Dresses 连衣裙", "APPAREL"),
    ("OUTERWEAR", "Outerwear 外套", "APPAREL"),
    ("ACCESSORIES", "Accessories 配饰", None),
)


def seed_demo_categories(session: Session, actor: Actor) -> dict[str, int]:
    """Create the demo categories that do not exist yet; return every demo code's id."""
    ids: dict[str, int] = {
        code: id_
        for code, id_ in session.execute(
            select(Category.code, Category.id).where(Category.brand_id == actor.brand_id)
        )
    }
    for sort_order, (code, name, parent) in enumerate(DEMO_CATEGORIES):
        if code not in ids:
            data = CategoryCreate(
                code=code,
                name=name,
                parent_id=ids[parent] if parent else None,
                sort_order=sort_order,
            )
            ids[code] = create_category(session, actor, data).id
    return {code: ids[code] for code, _, _ in DEMO_CATEGORIES}
