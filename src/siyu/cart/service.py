"""Carts: one per consumer per store, across categories, priced afresh on every read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from siyu.cart.contents import cart_id_of, cart_lines, release_cart_hold
from siyu.cart.models import Cart, CartLine
from siyu.cloud_store.service import resolve_offers
from siyu.config import get_settings
from siyu.core.clock import utc_now
from siyu.inventory.models import StockHold
from siyu.inventory.rules import HoldRequest
from siyu.inventory.service import release_holds, reserve_stock
from siyu.loyalty.redeeming import points_stage
from siyu.orders.checkout import Plan, SellingStore, Shopper, plan_basket, selling_store
from siyu.orders.errors import EmptyOrder, QuantityOverLimit, SkuUnavailable
from siyu.orders.models import FulfilmentMethod
from siyu.org.errors import StoreNotFound
from siyu.org.models import Store
from siyu.pricing.rules import PointsStage


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
    session: Session,
    shopper: Shopper,
    store_id: int,
    fulfilment_method: FulfilmentMethod,
    *,
    points_to_spend: int = 0,
) -> CartView:
    """The cart priced now, for a fulfilment method and the points the consumer would spend
    (capped by the brand's share and the current balance; none when points cannot be used);
    lines that cannot be bought any more are reported, not dropped. Raises
    PointsNotRedeemable for points that are not whole redemption units."""
    seller = selling_store(session, shopper.brand_id, store_id)
    points = points_stage(
        session, shopper.brand_id, shopper.consumer_id, points_to_spend, placing=False
    )
    plan = _plan_cart(session, shopper, seller, fulfilment_method, points)
    return CartView(plan, fulfilment_method)


def _plan_cart(
    session: Session,
    shopper: Shopper,
    seller: SellingStore,
    method: FulfilmentMethod,
    points: PointsStage | None = None,
) -> Plan:
    wanted = cart_lines(session, shopper.brand_id, shopper.consumer_id, seller.store.id)
    return plan_basket(
        session, shopper.brand_id, seller, wanted, method, shopper.consumer_id, points=points
    )


@dataclass(frozen=True)
class CartReservation:
    cart_id: int
    expires_at: datetime
    holds: list[StockHold]


def reserve_cart(
    session: Session, shopper: Shopper, store_id: int, *, now: datetime | None = None
) -> CartReservation:
    """Hold the stock of the whole cart for ``SIYU_CART_RESERVATION_MINUTES`` (flash sales,
    hero items): all lines or none. Reserving again renews the hold with the cart as it is now;
    placing the order from the cart turns it into the order's hold; the expiry job releases it.
    Raises StoreNotFound, StoreNotSelling, EmptyOrder, SkuUnavailable, QuantityOverLimit,
    InsufficientStock."""
    from siyu.inventory.errors import InsufficientStock

    now = now or utc_now()
    seller = selling_store(session, shopper.brand_id, store_id)
    cart_id = cart_id_of(session, shopper.brand_id, shopper.consumer_id, store_id)
    if cart_id is None:
        raise EmptyOrder("The cart is empty.", field="lines")
    # Give back the previous hold first, so that the cart's own units count as available.
    release_holds(
        session,
        shopper.brand_id,
        holder_kind="cart",
        holder_id=cart_id,
        actor_label=shopper.label,
        reason="renewed",
    )
    plan = _plan_cart(session, shopper, seller, FulfilmentMethod.PICKUP)
    if not plan.lines:
        raise EmptyOrder("The cart is empty.", field="lines")
    for line in plan.lines:
        if line.problem == "unavailable":
            raise SkuUnavailable(f"SKU {line.sku_id} is not sold in this store.", field="lines")
        if line.problem == "over_limit":
            raise QuantityOverLimit(f"Too many of SKU {line.sku_id} for one order.", field="lines")
    if any(line.problem == "out_of_stock" for line in plan.lines):
        short = next(line for line in plan.lines if line.problem == "out_of_stock")
        raise InsufficientStock(
            f"Not enough stock for SKU {short.sku_id}.",
            field="lines",
            extra={"sku_id": short.sku_id},
        )
    expires_at = now + timedelta(minutes=get_settings().cart_reservation_minutes)
    holds = reserve_stock(
        session,
        shopper.brand_id,
        [
            HoldRequest(location_id=line.location_id, sku_id=line.sku_id, quantity=line.quantity)
            for line in plan.lines
            if line.location_id is not None
        ],
        holder_kind="cart",
        holder_id=cart_id,
        expires_at=expires_at,
        actor_label=shopper.label,
    )
    return CartReservation(cart_id, expires_at, holds)


def release_cart(session: Session, shopper: Shopper, store_id: int, reason: str) -> None:
    """Give back what the store's cart holds (nothing when it holds nothing). Raises
    StoreNotFound for a store outside the brand."""
    if (
        session.scalar(
            select(Store.id).where(Store.brand_id == shopper.brand_id, Store.id == store_id)
        )
        is None
    ):
        raise StoreNotFound(f"Store {store_id} was not found.", field="store_id")
    release_cart_hold(
        session,
        shopper.brand_id,
        shopper.consumer_id,
        store_id,
        actor_label=shopper.label,
        reason=reason,
    )
