"""Factories for inventory tests: SKUs straight through the catalog's ORM models, stock
through the inventory service."""

from __future__ import annotations

import itertools

from sqlalchemy.orm import Session

from siyu.access.rules import Actor
from siyu.catalog.models import Category, Product, Sku
from siyu.inventory.schemas import StockReceiptCreate
from siyu.inventory.service import LevelView, receive_stock
from siyu.org.models import StockLocation, Store

_serial = itertools.count(1)


def make_sku(session: Session, brand_id: int, code: str | None = None) -> Sku:
    """A category, a product and one SKU of it (list price 99.00 yuan)."""
    n = next(_serial)
    category = Category(brand_id=brand_id, code=f"INV-C{n}", name=f"Category {n}")
    session.add(category)
    session.flush()
    product = Product(
        brand_id=brand_id, code=f"INV-P{n}", name=f"Product {n}", category_id=category.id
    )
    session.add(product)
    session.flush()
    sku = Sku(
        brand_id=brand_id,
        product_id=product.id,
        code=code or f"INV-SKU{n}",
        list_price_fen=9900,
        attributes={"size": "M"},
    )
    session.add(sku)
    session.flush()
    return sku


def location_of(session: Session, store: Store) -> StockLocation:
    location = session.query(StockLocation).filter_by(brand_id=store.brand_id, store_id=store.id)
    return location.one()


def stock(session: Session, actor: Actor, location_id: int, sku: Sku, quantity: int) -> LevelView:
    """Receive ``quantity`` units of ``sku`` at ``location_id``."""
    return receive_stock(
        session,
        actor,
        location_id,
        StockReceiptCreate(sku_id=sku.id, quantity=quantity, reference="factory"),
    )
