"""The web shop's cart, checkout, orders and returns pages (routes of ``siyu.shop.pages``)."""

from __future__ import annotations

import secrets
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from siyu.aftersales.schemas import AfterSaleCreate
from siyu.aftersales.service import request_after_sale
from siyu.cart.service import CartView, set_cart_line, view_cart
from siyu.consumers.schemas import AddressCreate
from siyu.consumers.service import (
    add_address,
    list_addresses,
)
from siyu.core.errors import InvalidInput, SiyuError
from siyu.orders import checkout
from siyu.orders.errors import InvalidQuantity
from siyu.orders.fulfilment import confirm_receipt
from siyu.orders.models import FulfilmentMethod, Order
from siyu.orders.payment import start_payment
from siyu.orders.rules import display_status
from siyu.orders.schemas import PlaceOrder
from siyu.orders.service import (
    cancel_unpaid_order,
    consumer_order,
    consumer_orders,
    lines_by_order,
    order_lines,
)
from siyu.payments.service import get_pay_gateway
from siyu.shop import service
from siyu.shop.scan import scene_touchpoint
from siyu.shop.web import (
    AFTER_SALE_LABELS,
    KEY_PATTERN,
    METHOD_LABELS,
    PROBLEM_LABELS,
    Shop,
    ShopForm,
    ShopRoute,
    ShopSession,
    render_page,
    see_other,
)
from siyu.web.deps import Uow
from siyu.web.forms import FormProblem, form_problem, is_partial

router = APIRouter(route_class=ShopRoute)  # included by siyu.shop.pages under /shop


def _method(value: str) -> FulfilmentMethod:
    try:
        return FulfilmentMethod(value)
    except ValueError:
        return FulfilmentMethod.PICKUP


def _cart_context(
    session: Session, shop: Shop, store_id: int, method: FulfilmentMethod, address_id: int | None
) -> dict[str, Any]:
    store = service.browsable_store(session, shop.brand.id, store_id)
    cart: CartView = view_cart(session, shop.shopper, store_id, method)
    plan = cart.plan
    priced = {line.sku_id: line for line in plan.priced.lines}
    lines = []
    for planned in plan.lines:
        offer = planned.offer
        lines.append(
            {
                "sku_id": planned.sku_id,
                "offer": offer,
                "quantity": planned.quantity,
                "priced": priced.get(planned.sku_id),
                "problem": PROBLEM_LABELS.get(planned.problem or "", planned.problem),
                "endless_aisle": planned.location_id is not None
                and planned.location_id != plan.store.location_id,
                "max": offer.max_per_order if offer else planned.quantity,
            }
        )
    addresses = list(list_addresses(session, shop.context))
    chosen = next((a.id for a in addresses if a.id == address_id), None)
    if chosen is None and addresses:
        chosen = addresses[0].id
    return {
        "store": store,
        "method": method.value,
        "methods": METHOD_LABELS,
        "lines": lines,
        "priced": plan.priced,
        "has_problems": any(line["problem"] for line in lines),
        "addresses": addresses,
        "address_id": chosen,
        "idempotency_key": "shop-" + secrets.token_hex(12),
    }


def _cart_page(
    request: Request,
    session: Session,
    shop: Shop,
    store_id: int,
    method: FulfilmentMethod,
    address_id: int | None,
    problem: FormProblem | None = None,
    form: dict[str, Any] | None = None,
) -> Response:
    context = _cart_context(session, shop, store_id, method, address_id)
    context["error"] = problem.message if problem else None
    context["error_field"] = problem.field if problem else None
    context["form"] = form or {}
    template = "shop/_cart.html" if is_partial(request) else "shop/cart.html"
    return render_page(request, shop, template, context, problem.status if problem else 200)


@router.get("/{brand}/stores/{store_id}/cart", response_class=HTMLResponse)
def cart_page(
    store_id: int,
    request: Request,
    session: Uow,
    shop: ShopSession,
    method: Annotated[str, Query(max_length=20)] = "pickup",
    address_id: Annotated[int | None, Query()] = None,
) -> Response:
    return _cart_page(request, session, shop, store_id, _method(method), address_id)


@router.post("/{brand}/stores/{store_id}/cart/lines/{sku_id}", response_class=HTMLResponse)
def set_line(
    store_id: int,
    sku_id: int,
    request: Request,
    session: Uow,
    shop: ShopForm,
    quantity: Annotated[int, Form(ge=0, le=999)],
    method: Annotated[str, Form(max_length=20)] = "pickup",
    address_id: Annotated[int | None, Form()] = None,
) -> Response:
    """Change a line's quantity (0 removes it); HTMX swaps the cart in place."""
    problem = None
    try:
        set_cart_line(session, shop.shopper, store_id, sku_id, quantity)
    except SiyuError as error:
        problem = form_problem(session, error, {})
    if not is_partial(request) and problem is None:
        query = urlencode({"method": _method(method).value, **_address_query(address_id)})
        return see_other(f"{shop.base}/stores/{store_id}/cart?{query}")
    return _cart_page(request, session, shop, store_id, _method(method), address_id, problem)


def _address_query(address_id: int | None) -> dict[str, int]:
    return {"address_id": address_id} if address_id is not None else {}


ADDRESS_LABELS = {
    "recipient": "Recipient",
    "phone": "Phone",
    "province": "Province",
    "city": "City",
    "district": "District",
    "detail": "Street and number",
}


@router.post("/{brand}/stores/{store_id}/addresses", response_class=HTMLResponse)
def new_address(
    store_id: int,
    request: Request,
    session: Uow,
    shop: ShopForm,
    recipient: Annotated[str, Form(max_length=200)] = "",
    phone: Annotated[str, Form(max_length=40)] = "",
    province: Annotated[str, Form(max_length=100)] = "",
    city: Annotated[str, Form(max_length=100)] = "",
    district: Annotated[str, Form(max_length=100)] = "",
    detail: Annotated[str, Form(max_length=400)] = "",
    method: Annotated[str, Form(max_length=20)] = "local_delivery",
) -> Response:
    form = {
        "recipient": recipient,
        "phone": phone,
        "province": province,
        "city": city,
        "district": district,
        "detail": detail,
    }
    try:
        data = AddressCreate.model_validate(form)
        address = add_address(session, shop.context, data)
    except (ValidationError, SiyuError) as error:
        problem = form_problem(session, error, ADDRESS_LABELS)
        return _cart_page(
            request, session, shop, store_id, _method(method), None, problem, {"address": form}
        )
    query = urlencode({"method": _method(method).value, "address_id": address.id})
    return see_other(f"{shop.base}/stores/{store_id}/cart?{query}")


# ---------------------------------------------------------------- ordering and paying


def _pay_url(shop: Shop, order: Order, prepay_id: str | None) -> str:
    order_page = f"{shop.base}/orders/{order.id}"
    if prepay_id is None:
        return order_page
    return f"/sandbox/pay/{quote(prepay_id)}?" + urlencode({"return_to": order_page})


def _start_paying(session: Session, shop: Shop, order: Order) -> str:
    """The sandbox cashier's URL for the order (or its own page when paying cannot start)."""
    try:
        started = start_payment(
            session, shop.shopper, order.id, get_pay_gateway(session, shop.brand.id)
        )
    except SiyuError:
        return f"{shop.base}/orders/{order.id}?pay_failed=1"
    return _pay_url(shop, order, started.payment.prepay_id)


@router.post("/{brand}/stores/{store_id}/orders", response_class=HTMLResponse)
def place(
    store_id: int,
    request: Request,
    session: Uow,
    shop: ShopForm,
    idempotency_key: Annotated[str, Form(max_length=64)],
    method: Annotated[str, Form(max_length=20)] = "pickup",
    address_id: Annotated[int | None, Form()] = None,
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Place the cart as an order (the hidden Idempotency-Key makes a double submission one
    order), then go to the WeChat Pay cashier."""
    fulfilment = _method(method)
    if not KEY_PATTERN.match(idempotency_key):
        raise InvalidInput("The form is damaged; reload the cart.", field="idempotency_key")
    touchpoint = scene_touchpoint(session, shop.brand.id, request)
    try:
        placed = checkout.place_order(
            session,
            shop.shopper,
            store_id,
            PlaceOrder(
                fulfilment_method=fulfilment,
                address_id=None if fulfilment is FulfilmentMethod.PICKUP else address_id,
                note=note.strip(),
                touchpoint_id=touchpoint.id if touchpoint is not None else None,
                guide_staff_id=touchpoint.staff_id if touchpoint is not None else None,
            ),
            idempotency_key=idempotency_key,
        )
    except SiyuError as error:
        problem = form_problem(session, error, {})
        return _cart_page(
            request, session, shop, store_id, fulfilment, address_id, problem, {"note": note}
        )
    return see_other(_start_paying(session, shop, placed.order))


@router.get("/{brand}/orders", response_class=HTMLResponse)
def orders_page(
    request: Request,
    session: Uow,
    shop: ShopSession,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    rows, total = consumer_orders(session, shop.shopper, limit=20, offset=(page - 1) * 20)
    lines = lines_by_order(session, rows)
    stores = {card.id: card for card in service.browsable_stores(session, shop.brand.id)}
    orders = [
        {"order": order, "status": _status(order), "lines": lines[order.id]} for order in rows
    ]
    return render_page(
        request,
        shop,
        "shop/orders.html",
        {
            "orders": orders,
            "stores": stores,
            "total": total,
            "page": page,
            "has_next": page * 20 < total,
        },
    )


def _status(order: Order) -> str:
    return display_status(
        lifecycle=order.lifecycle_status,
        payment=order.payment_status,
        fulfilment=order.fulfilment_status,
        after_sale=order.after_sale_status,
        method=order.fulfilment_method,
    )


@router.get("/{brand}/orders/{order_id}", response_class=HTMLResponse)
def order_page(
    order_id: int,
    request: Request,
    session: Uow,
    shop: ShopSession,
    pay_failed: Annotated[int, Query(ge=0, le=1)] = 0,
    notice: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    order = consumer_order(session, shop.shopper, order_id)
    status = _status(order)
    stores = {card.id: card for card in service.browsable_stores(session, shop.brand.id)}
    after_sales = service.order_after_sales(session, shop.shopper, order)
    waiting = status == "awaiting_payment" and service.has_started_payment(session, order)
    return render_page(
        request,
        shop,
        "shop/order.html",
        {
            "order": order,
            "status": status,
            "lines": order_lines(session, order),
            "store": stores.get(order.selling_store_id),
            "after_sales": after_sales,
            "after_sale_labels": AFTER_SALE_LABELS,
            "waiting_for_payment": waiting,
            "pay_failed": bool(pay_failed),
            "notice": {
                "return_requested": "Your request was sent to the store.",
                "received": "Thank you! The order is complete.",
            }.get(notice),
            "can_return": order.payment_status in ("paid", "partially_refunded")
            and order.lifecycle_status != "cancelled"
            and order.after_sale_status not in ("requested", "in_progress"),
        },
    )


@router.post("/{brand}/orders/{order_id}/pay")
def pay(order_id: int, session: Uow, shop: ShopForm) -> Response:
    order = consumer_order(session, shop.shopper, order_id)
    return see_other(_start_paying(session, shop, order))


@router.post("/{brand}/orders/{order_id}/cancel")
def cancel(order_id: int, session: Uow, shop: ShopForm) -> Response:
    cancel_unpaid_order(session, shop.shopper, order_id)
    return see_other(f"{shop.base}/orders/{order_id}")


@router.post("/{brand}/orders/{order_id}/received")
def received(order_id: int, session: Uow, shop: ShopForm) -> Response:
    confirm_receipt(session, shop.shopper, order_id)
    return see_other(f"{shop.base}/orders/{order_id}?notice=received")


# ---------------------------------------------------------------- returns


def _return_page(
    request: Request,
    session: Session,
    shop: Shop,
    order: Order,
    problem: FormProblem | None = None,
    form: dict[str, Any] | None = None,
) -> Response:
    lines = order_lines(session, order)
    remaining = {
        line.order_line_id: line.remaining for line in service.returnable_lines(session, order)
    }
    delivered = order.fulfilment_status in ("shipped", "fulfilled")
    return render_page(
        request,
        shop,
        "shop/return.html",
        {
            "order": order,
            "lines": [(line, remaining.get(line.id, 0)) for line in lines],
            "delivered": delivered,
            "error": problem.message if problem else None,
            "form": form or {"kind": "return_and_refund" if delivered else "refund_only"},
        },
        problem.status if problem else 200,
    )


@router.get("/{brand}/orders/{order_id}/return", response_class=HTMLResponse)
def return_page(order_id: int, request: Request, session: Uow, shop: ShopSession) -> Response:
    order = consumer_order(session, shop.shopper, order_id)
    return _return_page(request, session, shop, order)


@router.post("/{brand}/orders/{order_id}/return", response_class=HTMLResponse)
def request_return(
    order_id: int,
    request: Request,
    session: Uow,
    shop: ShopForm,
    line_id: Annotated[list[int] | None, Form()] = None,
    quantity: Annotated[list[int] | None, Form()] = None,
    kind: Annotated[str, Form(max_length=30)] = "refund_only",
    reason: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Ask for a refund (or a return and refund) of the chosen units; the amount asked is
    what those units paid (siyu.aftersales.rules.refund_cap)."""
    order = consumer_order(session, shop.shopper, order_id)
    requested = {
        line: units for line, units in zip(line_id or [], quantity or [], strict=False) if units > 0
    }
    kept = {"kind": kind, "reason": reason, "requested": requested}
    try:
        if not requested:
            raise InvalidQuantity("Choose at least one item to return.", field="lines")
        data = AfterSaleCreate.model_validate(
            {
                "kind": kind,
                "reason": reason,
                "lines": [{"order_line_id": i, "quantity": q} for i, q in requested.items()],
                "requested_refund_fen": max(service.refund_quote(session, order, requested), 1),
            }
        )
        request_after_sale(session, shop.shopper, order.id, data)
    except (ValidationError, SiyuError) as error:
        problem = form_problem(session, error, {"reason": "Reason", "kind": "What you want"})
        return _return_page(request, session, shop, order, problem, kept)
    return see_other(f"{shop.base}/orders/{order_id}?notice=return_requested")
