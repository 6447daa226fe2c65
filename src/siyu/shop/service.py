"""What the web shop reads and does beyond the storefront services it calls: the stores a
consumer may pick, the brand's categories, units on a store's own shelves (to mark endless
aisle), adding to a cart, and what a return may ask back.

Consumer functions take the ``Shopper`` of an authenticated consumer and never see another
brand's rows. Reads take no locks; ``add_to_cart`` writes through siyu.cart.service.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.aftersales.models import AfterSale
from siyu.aftersales.rules import PurchasedLine, refund_cap
from siyu.aftersales.service import purchased_lines
from siyu.cart.models import Cart, CartLine
from siyu.cart.service import set_cart_line
from siyu.catalog.models import Category
from siyu.cloud_store.service import BROWSABLE_STATUSES
from siyu.consumers.service import ConsumerContext
from siyu.inventory.service import available_quantities
from siyu.orders.checkout import Shopper
from siyu.orders.models import Order
from siyu.orders.payment import refundable_fen
from siyu.org.errors import StoreNotFound
from siyu.org.models import Region, StockLocation, Store
from siyu.payments.models import Payment


def shopper_of(context: ConsumerContext) -> Shopper:
    """The consumer as checkout knows them (the same label as the storefront API's)."""
    return Shopper(context.brand.id, context.consumer.id, f"consumer:{context.consumer.id}")


@dataclass(frozen=True)
class StoreCard:
    id: int
    code: str
    name: str
    region_name: str
    address: str
    phone: str | None
    is_franchise: bool
    is_open: bool


def browsable_stores(session: Session, brand_id: int) -> list[StoreCard]:
    """The brand's stores a consumer can shop in (open or suspended), by region then code."""
    rows = session.execute(
        select(Store, Region.name)
        .join(Region, (Region.brand_id == Store.brand_id) & (Region.id == Store.region_id))
        .where(Store.brand_id == brand_id, Store.status.in_(BROWSABLE_STATUSES))
        .order_by(Region.code, Store.code)
    ).all()
    return [
        StoreCard(
            store.id,
            store.code,
            store.name,
            region_name,
            store.address,
            store.phone,
            store.franchisee_id is not None,
            store.status == "open",
        )
        for store, region_name in rows
    ]


def browsable_store(session: Session, brand_id: int, store_id: int) -> StoreCard:
    """One of ``browsable_stores``; StoreNotFound for another brand's, planned or closed."""
    for card in browsable_stores(session, brand_id):
        if card.id == store_id:
            return card
    raise StoreNotFound(f"Store {store_id} was not found.")


def categories(session: Session, brand_id: int) -> list[Category]:
    """The brand's categories, parents before children, by sort order."""
    rows = session.scalars(
        select(Category)
        .where(Category.brand_id == brand_id)
        .order_by(Category.sort_order, Category.code)
    ).all()
    by_parent: dict[int | None, list[Category]] = {}
    for row in rows:
        by_parent.setdefault(row.parent_id, []).append(row)
    ordered: list[Category] = []

    def walk(parent_id: int | None) -> None:
        for child in by_parent.get(parent_id, []):
            ordered.append(child)
            walk(child.id)

    walk(None)
    return ordered


def shelf_quantities(
    session: Session, brand_id: int, store_id: int, sku_ids: Collection[int]
) -> dict[int, int]:
    """Units of each SKU available on the store's own shelves (its stock location); what is
    sellable beyond that comes from a warehouse (endless aisle)."""
    location_ids = session.scalars(
        select(StockLocation.id).where(
            StockLocation.brand_id == brand_id,
            StockLocation.store_id == store_id,
            StockLocation.is_active.is_(True),
        )
    ).all()
    units = available_quantities(session, brand_id, location_ids, sku_ids)
    result = dict.fromkeys(sku_ids, 0)
    for (_, sku_id), available in units.items():
        result[sku_id] += max(available, 0)
    return result


def cart_quantities(session: Session, shopper: Shopper, store_id: int) -> dict[int, int]:
    """The consumer's cart in the store: quantity by SKU id."""
    rows = session.execute(
        select(CartLine.sku_id, CartLine.quantity)
        .join(Cart, (Cart.brand_id == CartLine.brand_id) & (Cart.id == CartLine.cart_id))
        .where(
            Cart.brand_id == shopper.brand_id,
            Cart.consumer_id == shopper.consumer_id,
            Cart.store_id == store_id,
        )
    )
    return {sku_id: quantity for sku_id, quantity in rows}


def add_to_cart(
    session: Session, shopper: Shopper, store_id: int, sku_id: int, quantity: int
) -> int:
    """Add ``quantity`` units to what the cart holds of a SKU; returns the new quantity.
    Raises what siyu.cart.service.set_cart_line raises (StoreNotFound, StoreNotSelling,
    SkuUnavailable, QuantityOverLimit)."""
    total = cart_quantities(session, shopper, store_id).get(sku_id, 0) + quantity
    set_cart_line(session, shopper, store_id, sku_id, total)
    return total


def has_started_payment(session: Session, order: Order) -> bool:
    """Whether the consumer went to pay the order (a payment exists): the page then waits for
    WeChat Pay's notification."""
    found = session.scalar(
        select(func.count())
        .select_from(Payment)
        .where(Payment.brand_id == order.brand_id, Payment.order_id == order.id)
    )
    return bool(found)


def returnable_lines(session: Session, order: Order) -> list[PurchasedLine]:
    """The order's lines as after-sales sees them (units bought and already claimed)."""
    return purchased_lines(session, order)


def refund_quote(session: Session, order: Order, requested: Mapping[int, int]) -> int:
    """The most a request for ``requested`` (order line id → units) may ask back."""
    return refund_cap(returnable_lines(session, order), requested, refundable_fen(session, order))


def order_after_sales(session: Session, shopper: Shopper, order: Order) -> list[AfterSale]:
    """The consumer's after-sale requests of one of their orders, newest first."""
    return list(
        session.scalars(
            select(AfterSale)
            .where(
                AfterSale.brand_id == shopper.brand_id,
                AfterSale.consumer_id == shopper.consumer_id,
                AfterSale.order_id == order.id,
            )
            .order_by(AfterSale.id.desc())
        )
    )
