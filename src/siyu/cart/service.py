"""Carts: one per consumer per store, across categories, priced afresh on every read."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from siyu.cart.models import Cart, CartLine
from siyu.cloud_store.service import resolve_offers
from siyu.orders.checkout import Plan, Shopper, plan_basket, selling_store
from siyu.orders.errors import QuantityOverLimit, SkuUnavailable
from siyu.orders.models import FulfilmentMethod


def _cart_id(session: Session, shopper: Shopper, store_id: int) -> int:
    """The consumer's cart for the store, created on first use."""
    cart_id = session.execute(
        insert(Cart)
        .values(brand_id=shopper.brand_id, consumer_id=shopper.consumer_id, store_id=store_id)
        # A no-op update, so that RETURNING yields the existing cart's id too.
        .on_conflict_do_update(
            index_elements=["brand_id", "consumer_id", "store_id"], set_={"store_id": store_id}
        )
        .returning(Cart.id)
    ).scalar_one()
    return int(cart_id)


def set_cart_line(
    session: Session, shopper: Shopper, store_id: int, sku_id: int, quantity: int
) -> None:
    """Put ``quantity`` of a SKU in the store's cart (0 removes it). Raises StoreNotFound,
    StoreNotSelling, SkuUnavailable, QuantityOverLimit."""
    seller = selling_store(session, shopper.brand_id, store_id)
    cart_id = _cart_id(session, shopper, seller.store.id)
    if quantity == 0:
        session.execute(
            delete(CartLine).where(
                CartLine.brand_id == shopper.brand_id,
                CartLine.cart_id == cart_id,
                CartLine.sku_id == sku_id,
            )
        )
        return
    offer = resolve_offers(session, shopper.brand_id, store_id, [sku_id]).get(sku_id)
    if offer is None or not offer.listed:
        raise SkuUnavailable(f"SKU {sku_id} is not sold in this store.", field="sku_id")
    if quantity > offer.max_per_order:
        raise QuantityOverLimit(
            f"At most {offer.max_per_order} of {offer.sku_code} per order.", field="quantity"
        )
    session.execute(
        insert(CartLine)
        .values(brand_id=shopper.brand_id, cart_id=cart_id, sku_id=sku_id, quantity=quantity)
        .on_conflict_do_update(
            index_elements=["brand_id", "cart_id", "sku_id"], set_={"quantity": quantity}
        )
    )


@dataclass(frozen=True)
class CartView:
    plan: Plan
    fulfilment_method: FulfilmentMethod


def view_cart(
    session: Session, shopper: Shopper, store_id: int, fulfilment_method: FulfilmentMethod
) -> CartView:
    """The cart priced now, for a fulfilment method; lines that cannot be bought any more are
    reported, not dropped."""
    seller = selling_store(session, shopper.brand_id, store_id)
    wanted = [
        (row.sku_id, row.quantity)
        for row in session.execute(
            select(CartLine.sku_id, CartLine.quantity)
            .join(Cart, (Cart.brand_id == CartLine.brand_id) & (Cart.id == CartLine.cart_id))
            .where(
                Cart.brand_id == shopper.brand_id,
                Cart.consumer_id == shopper.consumer_id,
                Cart.store_id == store_id,
            )
            .order_by(CartLine.id)
        )
    ]
    plan = plan_basket(
        session, shopper.brand_id, seller, wanted, fulfilment_method, shopper.consumer_id
    )
    return CartView(plan, fulfilment_method)
