"""Checkout: pricing a basket for a store and placing orders from it.

A basket is planned the same way for the cart page and for the order: offers are resolved for
the store (千店千面), every line gets a fulfilling location (the store, or a warehouse when the
store lacks it: endless aisle), and the pricing pipeline computes the amounts. Placing then
holds the stock until payment is due.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, text
from sqlalchemy.orm import Session

from siyu.cart.contents import cart_lines, release_cart_hold
from siyu.cart.models import Cart, CartLine
from siyu.cloud_store.rules import Offer
from siyu.cloud_store.service import resolve_offers
from siyu.config import get_settings
from siyu.consumers.models import Address
from siyu.core.clock import to_shanghai, utc_now
from siyu.core.masking import mask_phone
from siyu.inventory.rules import HoldRequest, choose_location
from siyu.inventory.service import available_quantities, reserve_stock
from siyu.loyalty.redeeming import PointsUse, lock_points, points_stage, points_used, spend_points
from siyu.orders import events
from siyu.orders.errors import (
    AddressRequired,
    EmptyOrder,
    InvalidQuantity,
    QuantityOverLimit,
    SkuUnavailable,
    StoreNotSelling,
)
from siyu.orders.models import FulfilmentMethod, Order, OrderEvent, OrderLine
from siyu.orders.rules import new_pickup_code, order_number
from siyu.orders.schemas import PlaceOrder
from siyu.org.errors import StoreNotFound
from siyu.org.models import StockLocation, Store
from siyu.org.rules import is_open_at
from siyu.outbox.service import record_event
from siyu.pricing.rules import (
    LineInput,
    PointsStage,
    Priced,
    PricingContext,
    default_stages,
    run_pipeline,
)
from siyu.staff.models import Staff

MALL_CHANNEL = "mini_program"


@dataclass(frozen=True)
class Shopper:
    """A consumer acting in the storefront."""

    brand_id: int
    consumer_id: int
    label: str


@dataclass(frozen=True)
class SellingStore:
    store: Store
    location_id: int
    warehouse_ids: tuple[int, ...]


@dataclass(frozen=True)
class PlannedLine:
    index: int
    offer: Offer | None
    sku_id: int
    quantity: int
    location_id: int | None
    problem: str | None


@dataclass(frozen=True)
class Plan:
    store: SellingStore
    lines: tuple[PlannedLine, ...]
    priced: Priced
    points: PointsUse

    def line_for(self, sku_id: int) -> PlannedLine:
        return next(line for line in self.lines if line.sku_id == sku_id)


def selling_store(session: Session, brand_id: int, store_id: int) -> SellingStore:
    """The store, its own stock location and the warehouses it may sell from (the brand's,
    and its franchisee's own). Raises StoreNotFound, StoreNotSelling."""
    store = session.scalar(select(Store).where(Store.brand_id == brand_id, Store.id == store_id))
    if store is None:
        raise StoreNotFound(f"Store {store_id} was not found.", field="store_id")
    if store.status != "open":
        raise StoreNotSelling(f"Store {store.code} is not selling ({store.status}).")
    rows = session.execute(
        select(StockLocation.id, StockLocation.store_id).where(
            StockLocation.brand_id == brand_id,
            StockLocation.is_active.is_(True),
            or_(
                StockLocation.store_id == store_id,
                and_(
                    StockLocation.kind == "warehouse",
                    or_(
                        StockLocation.franchisee_id.is_(None),
                        StockLocation.franchisee_id == store.franchisee_id,
                    ),
                ),
            ),
        )
    ).all()
    own = [row.id for row in rows if row.store_id == store_id]
    warehouses = tuple(sorted(row.id for row in rows if row.store_id is None))
    return SellingStore(store, own[0] if own else -1, warehouses)


def plan_basket(
    session: Session,
    brand_id: int,
    seller: SellingStore,
    wanted: Sequence[tuple[int, int]],
    fulfilment_method: FulfilmentMethod,
    consumer_id: int | None,
    *,
    points: PointsStage | None = None,
) -> Plan:
    """Resolve offers, choose where each line is fulfilled from, and price the basket (with
    ``points`` spent after the other discounts, when given: siyu.loyalty.redeeming).

    Lines that cannot be bought carry a ``problem`` (unavailable, over the limit, out of stock)
    and are left out of the prices; the caller decides whether that is a refusal."""
    sku_ids = [sku_id for sku_id, _ in wanted]
    offers = resolve_offers(session, brand_id, seller.store.id, sku_ids)
    locations = [seller.location_id, *seller.warehouse_ids]
    available = available_quantities(session, brand_id, locations, sku_ids)
    planned: list[PlannedLine] = []
    for index, (sku_id, quantity) in enumerate(wanted):
        offer = offers.get(sku_id)
        location: int | None = None
        if offer is None or not offer.listed:
            problem: str | None = "unavailable"
        elif quantity > offer.max_per_order:
            problem = "over_limit"
        else:
            location = choose_location(
                quantity=quantity,
                stock_source=offer.stock_source,
                store_location_id=seller.location_id,
                warehouse_location_ids=seller.warehouse_ids,
                available=available,
                sku_id=sku_id,
            )
            problem = None if location is not None else "out_of_stock"
        planned.append(PlannedLine(index, offer, sku_id, quantity, location, problem))
    priced = run_pipeline(
        [
            LineInput(
                sku_id=line.sku_id,
                quantity=line.quantity,
                unit_price_fen=line.offer.price_fen,
                list_price_fen=line.offer.list_price_fen,
            )
            for line in planned
            if line.problem is None and line.offer is not None
        ],
        default_stages(points),
        PricingContext(fulfilment_method.value, consumer_id, seller.store.id),
    )
    return Plan(seller, tuple(planned), priced, points_used(points, priced))


def _wanted_lines(
    session: Session, shopper: Shopper, store_id: int, data: PlaceOrder
) -> list[tuple[int, int]]:
    if data.lines is not None:
        merged: dict[int, int] = {}
        for line in data.lines:
            merged[line.sku_id] = merged.get(line.sku_id, 0) + line.quantity
        return list(merged.items())
    return cart_lines(session, shopper.brand_id, shopper.consumer_id, store_id)


def _address_snapshot(
    session: Session, shopper: Shopper, data: PlaceOrder
) -> dict[str, Any] | None:
    if data.fulfilment_method is FulfilmentMethod.PICKUP:
        return None
    if data.address_id is None:
        raise AddressRequired("Delivery needs an address.", field="address_id")
    address = session.scalar(
        select(Address).where(
            Address.brand_id == shopper.brand_id,
            Address.consumer_id == shopper.consumer_id,
            Address.id == data.address_id,
        )
    )
    if address is None:
        raise AddressRequired(f"Address {data.address_id} was not found.", field="address_id")
    return {
        "recipient": address.recipient,
        "phone": address.phone,
        "province": address.province,
        "city": address.city,
        "district": address.district,
        "detail": address.detail,
    }


def _check_guide(session: Session, brand_id: int, guide_staff_id: int | None) -> None:
    if guide_staff_id is None:
        return
    found = session.scalar(
        select(Staff.id).where(
            Staff.brand_id == brand_id,
            Staff.id == guide_staff_id,
            Staff.role == "guide",
            Staff.status == "active",
        )
    )
    if found is None:
        raise SkuUnavailable(
            f"Guide {guide_staff_id} was not found.", field="guide_staff_id", code="unknown_guide"
        )


def _refuse_problem_lines(plan: Plan, from_cart: bool) -> None:
    from siyu.inventory.errors import InsufficientStock

    for line in plan.lines:
        field = "lines" if from_cart else f"lines[{line.index}]"
        if line.problem == "unavailable":
            raise SkuUnavailable(
                f"SKU {line.sku_id} is not sold in this store.", field=f"{field}.sku_id"
            )
        if line.problem == "over_limit" and line.offer is not None:
            raise QuantityOverLimit(
                f"At most {line.offer.max_per_order} of {line.offer.sku_code} per order.",
                field=f"{field}.quantity",
            )
        if line.problem == "out_of_stock":
            raise InsufficientStock(
                f"Not enough stock for SKU {line.sku_id}.",
                field=f"{field}.quantity",
                extra={"sku_id": line.sku_id},
            )


@dataclass(frozen=True)
class PlacedOrder:
    order: Order
    lines: list[OrderLine]
    created: bool


def _lines_of(session: Session, order: Order) -> list[OrderLine]:
    return list(
        session.scalars(
            select(OrderLine)
            .where(OrderLine.brand_id == order.brand_id, OrderLine.order_id == order.id)
            .order_by(OrderLine.id)
        )
    )


def find_order_by_key(session: Session, shopper: Shopper, idempotency_key: str) -> Order | None:
    return session.scalar(
        select(Order).where(
            Order.brand_id == shopper.brand_id,
            Order.consumer_id == shopper.consumer_id,
            Order.idempotency_key == idempotency_key,
        )
    )


def place_order(
    session: Session,
    shopper: Shopper,
    store_id: int,
    data: PlaceOrder,
    *,
    idempotency_key: str,
    now: datetime | None = None,
) -> PlacedOrder:
    """Place an order and hold its stock until payment is due; points asked for
    (``points_to_spend``) are spent with it.

    Idempotent per consumer and key: repeating a request returns the order it made. Takes an
    advisory lock on the key (so two identical requests cannot both create), then the member
    row when spending points, then stock row locks through siyu.inventory. Raises
    StoreNotFound, StoreNotSelling, EmptyOrder, InvalidQuantity, SkuUnavailable,
    QuantityOverLimit, InsufficientStock, AddressRequired, PointsNotRedeemable,
    PointsInsufficient (the balance no longer covers the points)."""
    session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, :consumer))"),
        {"key": f"order:{shopper.brand_id}:{idempotency_key}", "consumer": shopper.consumer_id},
    )
    existing = find_order_by_key(session, shopper, idempotency_key)
    if existing is not None:
        return PlacedOrder(existing, _lines_of(session, existing), created=False)
    now = now or utc_now()
    seller = selling_store(session, shopper.brand_id, store_id)
    wanted = _wanted_lines(session, shopper, store_id, data)
    if not wanted:
        raise EmptyOrder("The order has no lines (and the cart is empty).", field="lines")
    if any(quantity <= 0 for _, quantity in wanted):
        raise InvalidQuantity("Quantities must be at least 1.", field="lines")
    _check_guide(session, shopper.brand_id, data.guide_staff_id)
    address = _address_snapshot(session, shopper, data)
    if data.lines is None:
        # A cart's reservation (if any) gives way to the order made from it.
        release_cart_hold(
            session,
            shopper.brand_id,
            shopper.consumer_id,
            store_id,
            actor_label=shopper.label,
            reason="ordered",
        )
    points = points_stage(
        session, shopper.brand_id, shopper.consumer_id, data.points_to_spend, placing=True
    )
    plan = plan_basket(
        session,
        shopper.brand_id,
        seller,
        wanted,
        data.fulfilment_method,
        shopper.consumer_id,
        points=points,
    )
    _refuse_problem_lines(plan, from_cart=data.lines is None)
    member = (
        lock_points(session, shopper.brand_id, shopper.consumer_id, plan.points.points)
        if plan.points.points
        else None
    )
    order = _insert_order(session, shopper, plan, data, address, idempotency_key, now)
    lines = _insert_lines(session, order, plan, data)
    if member is not None:
        spend_points(session, member, order.id, plan.points.points, now=now)
    session.add(
        OrderEvent(
            brand_id=order.brand_id,
            order_id=order.id,
            kind="placed",
            actor_label=shopper.label,
            data={
                "total_fen": order.total_fen,
                "lines": len(lines),
                "points_spent": order.points_spent,
            },
        )
    )
    record_event(
        session,
        order.brand_id,
        events.OrderPlaced(
            order_id=order.id,
            number=order.number,
            consumer_id=order.consumer_id,
            selling_store_id=order.selling_store_id,
            guide_staff_id=order.guide_staff_id,
            touchpoint_id=order.touchpoint_id,
            channel=order.channel,
            fulfilment_method=order.fulfilment_method,
            total_fen=order.total_fen,
            placed_after_hours=order.placed_after_hours,
        ),
    )
    if data.lines is None:
        _empty_cart(session, shopper, store_id)
    # Stock rows are locked last, so the locks are held only until the commit that follows.
    reserve_stock(
        session,
        shopper.brand_id,
        [
            HoldRequest(
                location_id=line.fulfilling_location_id,
                sku_id=line.sku_id,
                quantity=line.quantity,
                holder_line_id=line.id,
            )
            for line in lines
        ],
        holder_kind="order",
        holder_id=order.id,
        expires_at=order.payment_due_at,
        actor_label=shopper.label,
    )
    return PlacedOrder(order, lines, created=True)


def _insert_order(
    session: Session,
    shopper: Shopper,
    plan: Plan,
    data: PlaceOrder,
    address: dict[str, Any] | None,
    idempotency_key: str,
    now: datetime,
) -> Order:
    store = plan.store.store
    order_id = session.execute(
        text("SELECT nextval(pg_get_serial_sequence('sales_order', 'id'))")
    ).scalar_one()
    priced = plan.priced
    order = Order(
        brand_id=shopper.brand_id,
        id=order_id,
        number=order_number(order_id, now),
        consumer_id=shopper.consumer_id,
        selling_store_id=store.id,
        guide_staff_id=data.guide_staff_id,
        touchpoint_id=data.touchpoint_id,
        channel=MALL_CHANNEL,
        fulfilment_method=data.fulfilment_method.value,
        subtotal_fen=priced.subtotal_fen,
        discount_fen=priced.discount_fen,
        shipping_fen=priced.shipping_fen,
        total_fen=priced.total_fen,
        points_spent=plan.points.points,
        points_discount_fen=plan.points.discount_fen,
        placed_at=now,
        placed_after_hours=not is_open_at(store.opening_hours, to_shanghai(now)),
        payment_due_at=now + timedelta(minutes=get_settings().order_payment_minutes),
        pickup_code=_free_pickup_code(session, shopper.brand_id, store.id)
        if data.fulfilment_method is FulfilmentMethod.PICKUP
        else None,
        shipping_address=address,
        note=data.note,
        idempotency_key=idempotency_key,
    )
    session.add(order)
    return order


def _free_pickup_code(session: Session, brand_id: int, store_id: int) -> str:
    """A code no open pickup order of this store uses (codes are short, so check)."""
    for _ in range(10):
        code = new_pickup_code()
        taken = session.scalar(
            select(func.count())
            .select_from(Order)
            .where(
                Order.brand_id == brand_id,
                Order.selling_store_id == store_id,
                Order.pickup_code == code,
                Order.fulfilment_status != "fulfilled",
            )
        )
        if not taken:
            return code
    raise RuntimeError("could not find a free pickup code")  # 10 collisions in 10^8: a bug


def _insert_lines(session: Session, order: Order, plan: Plan, data: PlaceOrder) -> list[OrderLine]:
    lines: list[OrderLine] = []
    for priced_line in plan.priced.lines:
        planned = plan.line_for(priced_line.sku_id)
        offer = planned.offer
        assert offer is not None and planned.location_id is not None
        lines.append(
            OrderLine(
                brand_id=order.brand_id,
                order_id=order.id,
                sku_id=offer.sku_id,
                product_id=offer.product_id,
                product_name=offer.product_name,
                sku_code=offer.sku_code,
                attributes=dict(offer.attributes),
                quantity=priced_line.quantity,
                unit_price_fen=priced_line.unit_price_fen,
                subtotal_fen=priced_line.subtotal_fen,
                discount_fen=priced_line.discount_fen,
                total_fen=priced_line.total_fen,
                adjustments=[adjustment_json(a) for a in priced_line.adjustments],
                fulfilling_location_id=planned.location_id,
                selling_store_id=order.selling_store_id,
                guide_staff_id=data.guide_staff_id,
                touchpoint_id=data.touchpoint_id,
            )
        )
    session.add_all(lines)
    session.flush()
    return lines


def adjustment_json(adjustment: Any) -> dict[str, Any]:
    return {
        "stage": adjustment.stage,
        "source": adjustment.source,
        "amount_fen": adjustment.amount_fen,
        "explanation": adjustment.explanation,
        "base": str(adjustment.base),
        "base_fen": adjustment.base_fen,
    }


def _empty_cart(session: Session, shopper: Shopper, store_id: int) -> None:
    session.execute(
        delete(CartLine).where(
            CartLine.brand_id == shopper.brand_id,
            CartLine.cart_id.in_(
                select(Cart.id).where(
                    Cart.brand_id == shopper.brand_id,
                    Cart.consumer_id == shopper.consumer_id,
                    Cart.store_id == store_id,
                )
            ),
        )
    )


def masked_address(address: dict[str, Any] | None) -> dict[str, Any] | None:
    if address is None:
        return None
    return {**address, "phone": mask_phone(address.get("phone"))}
