"""HTTP API of carts, checkout and orders: the storefront (consumer token) and staff views."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Response, status

from siyu.cart import service as cart_service
from siyu.cart.service import CartView, set_cart_line, view_cart
from siyu.consumers.service import ConsumerContext
from siyu.core.pagination import Page
from siyu.orders import checkout, payment, service
from siyu.orders.models import FulfilmentMethod, Order, OrderLine
from siyu.orders.rules import display_status
from siyu.orders.schemas import (
    POINTS_TO_SPEND_HELP,
    AdjustmentOut,
    CartLineSet,
    CartOut,
    CartReservationOut,
    OrderLineOut,
    OrderOut,
    PaymentStartOut,
    PlaceOrder,
    PricedLineOut,
)
from siyu.payments.service import get_pay_gateway
from siyu.web.deps import CurrentActor, CurrentConsumer, Uow

storefront = APIRouter(prefix="/storefront", tags=["storefront"])
staff = APIRouter(tags=["orders"])

IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=8,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="Any unique string per purchase; repeating it returns the same order.",
    ),
]


def shopper(context: ConsumerContext) -> checkout.Shopper:
    return checkout.Shopper(
        brand_id=context.brand.id,
        consumer_id=context.consumer.id,
        label=f"consumer:{context.consumer.id}",
    )


def cart_out(view_store_id: int, cart: CartView) -> CartOut:
    plan = cart.plan
    priced = {line.sku_id: line for line in plan.priced.lines}
    lines: list[PricedLineOut] = []
    for planned in plan.lines:
        offer = planned.offer
        if offer is None:
            continue
        priced_line = priced.get(planned.sku_id)
        lines.append(
            PricedLineOut(
                sku_id=offer.sku_id,
                product_id=offer.product_id,
                product_name=offer.product_name,
                sku_code=offer.sku_code,
                attributes=dict(offer.attributes),
                quantity=planned.quantity,
                unit_price_fen=offer.price_fen,
                list_price_fen=offer.list_price_fen,
                subtotal_fen=priced_line.subtotal_fen if priced_line else 0,
                discount_fen=priced_line.discount_fen if priced_line else 0,
                total_fen=priced_line.total_fen if priced_line else 0,
                adjustments=[
                    AdjustmentOut(**checkout.adjustment_json(a))
                    for a in (priced_line.adjustments if priced_line else ())
                ],
                available=planned.problem is None,
                fulfilling_location_id=planned.location_id,
                endless_aisle=planned.location_id is not None
                and planned.location_id != plan.store.location_id,
            )
        )
    return CartOut(
        store_id=view_store_id,
        fulfilment_method=cart.fulfilment_method,
        lines=lines,
        unavailable_sku_ids=[line.sku_id for line in plan.lines if line.problem is not None],
        subtotal_fen=plan.priced.subtotal_fen,
        discount_fen=plan.priced.discount_fen,
        shipping_fen=plan.priced.shipping_fen,
        total_fen=plan.priced.total_fen,
        order_adjustments=[
            AdjustmentOut(**checkout.adjustment_json(a)) for a in plan.priced.order_adjustments
        ],
        points_spent=plan.points.points,
        points_discount_fen=plan.points.discount_fen,
    )


def order_out(order: Order, lines: list[OrderLine], *, for_consumer: bool) -> OrderOut:
    return OrderOut(
        id=order.id,
        number=order.number,
        status=display_status(
            lifecycle=order.lifecycle_status,
            payment=order.payment_status,
            fulfilment=order.fulfilment_status,
            after_sale=order.after_sale_status,
            method=order.fulfilment_method,
        ),
        lifecycle_status=order.lifecycle_status,
        payment_status=order.payment_status,
        fulfilment_status=order.fulfilment_status,
        after_sale_status=order.after_sale_status,
        selling_store_id=order.selling_store_id,
        guide_staff_id=order.guide_staff_id,
        touchpoint_id=order.touchpoint_id,
        channel=order.channel,
        fulfilment_method=FulfilmentMethod(order.fulfilment_method),
        placed_after_hours=order.placed_after_hours,
        subtotal_fen=order.subtotal_fen,
        discount_fen=order.discount_fen,
        shipping_fen=order.shipping_fen,
        total_fen=order.total_fen,
        paid_fen=order.paid_fen,
        refunded_fen=order.refunded_fen,
        points_spent=order.points_spent,
        points_discount_fen=order.points_discount_fen,
        placed_at=order.placed_at,
        payment_due_at=order.payment_due_at,
        paid_at=order.paid_at,
        cancelled_at=order.cancelled_at,
        fulfilled_at=order.fulfilled_at,
        pickup_code=order.pickup_code if for_consumer else None,
        shipping_address=order.shipping_address
        if for_consumer
        else checkout.masked_address(order.shipping_address),
        note=order.note,
        lines=[
            OrderLineOut(
                id=line.id,
                sku_id=line.sku_id,
                product_id=line.product_id,
                product_name=line.product_name,
                sku_code=line.sku_code,
                attributes=line.attributes,
                quantity=line.quantity,
                unit_price_fen=line.unit_price_fen,
                subtotal_fen=line.subtotal_fen,
                discount_fen=line.discount_fen,
                total_fen=line.total_fen,
                adjustments=line.adjustments,
                fulfilling_location_id=line.fulfilling_location_id,
                refunded_quantity=line.refunded_quantity,
            )
            for line in lines
        ],
    )


# ---------------------------------------------------------------- storefront


PointsQuery = Annotated[int, Query(ge=0, le=10**9, description=POINTS_TO_SPEND_HELP)]


@storefront.get("/stores/{store_id}/cart", response_model=CartOut)
def get_cart(
    store_id: int,
    session: Uow,
    context: CurrentConsumer,
    fulfilment_method: FulfilmentMethod = FulfilmentMethod.PICKUP,
    points_to_spend: PointsQuery = 0,
) -> CartOut:
    """The cart priced now for a fulfilment method and the points to spend (capped by the
    brand's share of the goods and the balance); unavailable lines are listed, not dropped."""
    cart = view_cart(
        session, shopper(context), store_id, fulfilment_method, points_to_spend=points_to_spend
    )
    return cart_out(store_id, cart)


@storefront.put("/stores/{store_id}/cart/lines/{sku_id}", response_model=CartOut)
def put_cart_line(
    store_id: int,
    sku_id: int,
    data: CartLineSet,
    session: Uow,
    context: CurrentConsumer,
    fulfilment_method: FulfilmentMethod = FulfilmentMethod.PICKUP,
    points_to_spend: PointsQuery = 0,
) -> CartOut:
    """Set a SKU's quantity in the store's cart (0 removes it)."""
    set_cart_line(session, shopper(context), store_id, sku_id, data.quantity)
    cart = view_cart(
        session, shopper(context), store_id, fulfilment_method, points_to_spend=points_to_spend
    )
    return cart_out(store_id, cart)


@storefront.post("/stores/{store_id}/cart/reservation", response_model=CartReservationOut)
def reserve_cart(store_id: int, session: Uow, context: CurrentConsumer) -> CartReservationOut:
    """Hold the stock of the whole cart for a few minutes (all lines or none); reserving again
    renews it, and the order placed from the cart takes it over."""
    reservation = cart_service.reserve_cart(session, shopper(context), store_id)
    return CartReservationOut(
        expires_at=reservation.expires_at,
        held=[
            {"sku_id": h.sku_id, "location_id": h.location_id, "quantity": h.quantity}
            for h in reservation.holds
        ],
    )


@storefront.delete("/stores/{store_id}/cart/reservation", status_code=status.HTTP_204_NO_CONTENT)
def release_cart(store_id: int, session: Uow, context: CurrentConsumer) -> Response:
    """Give back what the cart holds."""
    cart_service.release_cart(session, shopper(context), store_id, "released_by_consumer")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@storefront.post(
    "/stores/{store_id}/orders",
    response_model=OrderOut,
    status_code=status.HTTP_201_CREATED,
    responses={200: {"description": "The same Idempotency-Key was used before: that order"}},
)
def place_order(
    store_id: int,
    data: PlaceOrder,
    session: Uow,
    context: CurrentConsumer,
    idempotency_key: IdempotencyKey,
    response: Response,
) -> OrderOut:
    """Place an order in a store (pickup, local delivery or express); stock is held until
    payment is due. Lines the store lacks are fulfilled from a warehouse (endless aisle) and
    still credited to the store."""
    placed = checkout.place_order(
        session, shopper(context), store_id, data, idempotency_key=idempotency_key
    )
    if not placed.created:
        response.status_code = status.HTTP_200_OK
    return order_out(placed.order, placed.lines, for_consumer=True)


@storefront.get("/orders", response_model=Page[OrderOut])
def my_orders(
    session: Uow,
    context: CurrentConsumer,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[OrderOut]:
    rows, total = service.consumer_orders(session, shopper(context), limit=limit, offset=offset)
    lines = service.lines_by_order(session, rows)
    return Page[OrderOut](
        items=[order_out(o, lines[o.id], for_consumer=True) for o in rows],
        total=total,
        limit=limit,
        offset=offset,
    )


@storefront.get("/orders/{order_id}", response_model=OrderOut)
def my_order(order_id: int, session: Uow, context: CurrentConsumer) -> OrderOut:
    order = service.consumer_order(session, shopper(context), order_id)
    return order_out(order, list(service.order_lines(session, order)), for_consumer=True)


@storefront.post("/orders/{order_id}/cancel", response_model=OrderOut)
def cancel_order(order_id: int, session: Uow, context: CurrentConsumer) -> OrderOut:
    """Cancel an unpaid order; its stock goes back on sale."""
    order = service.cancel_unpaid_order(session, shopper(context), order_id)
    return order_out(order, list(service.order_lines(session, order)), for_consumer=True)


@storefront.post("/orders/{order_id}/payments", response_model=PaymentStartOut)
def pay_order(order_id: int, session: Uow, context: CurrentConsumer) -> PaymentStartOut:
    """Start paying with WeChat Pay: returns the parameters of ``wx.requestPayment``."""
    started = payment.start_payment(
        session, shopper(context), order_id, get_pay_gateway(session, context.brand.id)
    )
    return PaymentStartOut(
        payment_id=started.payment.id,
        out_trade_no=started.payment.out_trade_no,
        amount_fen=started.payment.amount_fen,
        pay_params=started.pay_params,
    )


# ---------------------------------------------------------------- staff


@staff.get("/orders", response_model=Page[OrderOut])
def list_orders(
    session: Uow,
    actor: CurrentActor,
    store_id: int | None = None,
    payment_status: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[OrderOut]:
    rows, total = service.staff_orders(
        session, actor, store_id=store_id, status=payment_status, limit=limit, offset=offset
    )
    lines = service.lines_by_order(session, rows)
    return Page[OrderOut](
        items=[order_out(o, lines[o.id], for_consumer=False) for o in rows],
        total=total,
        limit=limit,
        offset=offset,
    )


@staff.get("/orders/{order_id}", response_model=OrderOut)
def get_order(order_id: int, session: Uow, actor: CurrentActor) -> OrderOut:
    order = service.staff_order(session, actor, order_id)
    return order_out(order, list(service.order_lines(session, order)), for_consumer=False)
