"""Console pages of orders: the orders in scope, one order with its status axes, lines, money,
event log and the shipping forms, and the pickup counter (核销) where staff look a pickup code
up and write it off.

A thin adapter over ``siyu.orders.service`` and ``siyu.orders.fulfilment`` (the same calls as
``siyu.orders.api`` and ``siyu.orders.fulfilment_api``); refusals are shown on the form they
came from, after rolling back whatever the call had begun.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from siyu.access.rules import Permission
from siyu.access.service import SessionContext
from siyu.aftersales import reading
from siyu.aftersales.console import KIND_LABELS as REQUEST_KIND_LABELS
from siyu.aftersales.console import STATUS_LABELS as REQUEST_STATUS_LABELS
from siyu.core.errors import InvalidInput, SiyuError
from siyu.core.masking import mask_phone
from siyu.orders import fulfilment, service
from siyu.orders.checkout import masked_address
from siyu.orders.fulfilment_api import PickupWriteOff, ShipmentIn
from siyu.orders.models import Order, OrderLine
from siyu.orders.rules import display_status
from siyu.org import service as org_service
from siyu.org.models import StockLocation, Store
from siyu.settlement.rules import format_yuan
from siyu.web.csrf import ConsoleForm
from siyu.web.deps import ConsoleContext, Uow
from siyu.web.forms import (
    PAGE_SIZE,
    FormProblem,
    form_problem,
    is_partial,
    pager,
    problem_context,
)
from siyu.web.templating import render

router = APIRouter()

STORE_LIMIT = 1000  # stores offered in the filters; more than any one person runs

STATUS_LABELS = {
    "awaiting_payment": "Awaiting payment 待支付",
    "awaiting_pickup": "Awaiting pickup 待自提",
    "awaiting_shipment": "Awaiting shipment 待发货",
    "shipped": "Shipped 已发货",
    "completed": "Completed 已完成",
    "after_sale": "After-sale 售后中",
    "refunded": "Refunded 已退款",
    "cancelled": "Cancelled 已取消",
}
LIFECYCLE_LABELS = {"open": "Open", "completed": "Completed", "cancelled": "Cancelled"}
PAYMENT_LABELS = {
    "unpaid": "Unpaid 未支付",
    "paid": "Paid 已支付",
    "partially_refunded": "Partially refunded 部分退款",
    "refunded": "Refunded 已退款",
}
FULFILMENT_LABELS = {
    "unfulfilled": "Unfulfilled 未发货",
    "ready_for_pickup": "Ready for pickup 待自提",
    "shipped": "Shipped 已发货",
    "fulfilled": "Fulfilled 已履约",
}
AFTER_SALE_LABELS = {
    "none": "None",
    "requested": "Requested 已申请",
    "in_progress": "In progress 处理中",
    "closed": "Closed 已结束",
}
METHOD_LABELS = {
    "pickup": "Store pickup 门店自提",
    "local_delivery": "Local delivery 到家",
    "express": "Express 快递",
}
FIELD_LABELS = {
    "carrier": "Carrier",
    "tracking_number": "Tracking number",
    "courier_name": "Courier name",
    "courier_phone": "Courier phone",
    "pickup_code": "Pickup code",
    "store_id": "Store",
}
Text = Annotated[str, Form(max_length=200)]


# ---------------------------------------------------------------- small translations


def _optional_id(value: str, field: str) -> int | None:
    value = value.strip()
    if not value:
        return None
    if not value.isdigit():
        raise InvalidInput(f"'{value}' is not a valid {FIELD_LABELS[field].lower()}.", field=field)
    return int(value)


def status_of(order: Order) -> str:
    """The derived status shown beside the four axes (as the API's ``status``)."""
    return display_status(
        lifecycle=order.lifecycle_status,
        payment=order.payment_status,
        fulfilment=order.fulfilment_status,
        after_sale=order.after_sale_status,
        method=order.fulfilment_method,
    )


def _stores(session: Session, ctx: SessionContext) -> list[Store]:
    rows, _ = org_service.list_stores(session, ctx.actor, limit=STORE_LIMIT)
    return list(rows)


def event_details(data: dict[str, Any]) -> list[tuple[str, str]]:
    """An event's data for people: amounts in yuan, phones masked."""
    shown: list[tuple[str, str]] = []
    for key, value in data.items():
        if value is None:
            continue
        if "phone" in key:
            shown.append((key, mask_phone(str(value)) or ""))
        elif key.endswith("_fen") and isinstance(value, int):
            shown.append((key.removesuffix("_fen"), "¥" + format_yuan(value)))
        else:
            shown.append((key, str(value)))
    return shown


LABELS: dict[str, Any] = {
    "status_labels": STATUS_LABELS,
    "lifecycle_labels": LIFECYCLE_LABELS,
    "payment_labels": PAYMENT_LABELS,
    "fulfilment_labels": FULFILMENT_LABELS,
    "after_sale_labels": AFTER_SALE_LABELS,
    "method_labels": METHOD_LABELS,
    "request_kind_labels": REQUEST_KIND_LABELS,
    "request_status_labels": REQUEST_STATUS_LABELS,
    "yuan": format_yuan,
    "status_of": status_of,
}


# ---------------------------------------------------------------- the order list


@router.get("/orders", response_class=HTMLResponse)
def orders_page(
    request: Request,
    session: Uow,
    ctx: ConsoleContext,
    store_id: Annotated[str, Query(max_length=20)] = "",
    payment_status: Annotated[str, Query(max_length=24)] = "",
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
) -> Response:
    store = _optional_id(store_id, "store_id")
    payment = payment_status.strip()
    if payment and payment not in PAYMENT_LABELS:
        raise InvalidInput(f"'{payment}' is not a payment status.", field="payment_status")
    rows, total = service.staff_orders(
        session,
        ctx.actor,
        store_id=store,
        status=payment or None,
        limit=PAGE_SIZE,
        offset=(page - 1) * PAGE_SIZE,
    )
    lines = service.lines_by_order(session, rows)
    stores = _stores(session, ctx)
    filters = {"store_id": store, "payment_status": payment}
    context: dict[str, Any] = {
        "ctx": ctx,
        "orders": rows,
        "units": {order_id: sum(line.quantity for line in ls) for order_id, ls in lines.items()},
        "stores": stores,
        "store_names": {s.id: s.name for s in stores},
        "filters": filters,
        "pager": pager(total, page, filters),
        **LABELS,
    }
    template = "orders/_orders_results.html" if is_partial(request) else "orders/orders.html"
    response = render(request, template, context)
    response.headers["Vary"] = "HX-Request"
    return response


# ---------------------------------------------------------------- one order


def _line_places(
    session: Session, ctx: SessionContext, order: Order, lines: list[OrderLine]
) -> dict[int, dict[str, Any]]:
    """Where each line is fulfilled from, and whether that is the endless aisle (a location
    other than the selling store's own: a warehouse ships what the store lacks)."""
    locations: dict[int, StockLocation] = {
        loc.id: loc for loc in org_service.list_stock_locations(session, ctx.actor)
    }
    places: dict[int, dict[str, Any]] = {}
    for line in lines:
        location = locations.get(line.fulfilling_location_id)
        places[line.id] = {
            "name": f"{location.name} ({location.code})"
            if location is not None
            else f"Warehouse #{line.fulfilling_location_id}",
            "endless_aisle": location is None or location.store_id != order.selling_store_id,
        }
    return places


NOTICES = {"shipped": "Marked shipped.", "delivered": "Marked delivered."}


def _order_page(
    request: Request,
    session: Session,
    ctx: SessionContext,
    order: Order,
    form: dict[str, Any] | None = None,
    problem: FormProblem | None = None,
    notice: str | None = None,
) -> Response:
    lines = list(service.order_lines(session, order))
    after_sales, _ = reading.staff_after_sales(session, ctx.actor, order_id=order.id, limit=100)
    store = org_service.get_store(session, ctx.actor, order.selling_store_id)
    shipment = fulfilment.latest_shipment(session, order)
    return render(
        request,
        "orders/order.html",
        {
            "ctx": ctx,
            "order": order,
            "status": status_of(order),
            "store": store,
            "lines": lines,
            "places": _line_places(session, ctx, order, lines),
            "events": [
                (event, event_details(event.data)) for event in service.order_events(session, order)
            ],
            "after_sales": reading.views(session, after_sales),
            "shipment": shipment,
            "courier_phone": mask_phone(shipment.courier_phone) if shipment else None,
            "address": masked_address(order.shipping_address),
            "can_write": ctx.actor.can(Permission.ORDER_WRITE),
            "form": form or {},
            "notice": notice,
            **LABELS,
            **problem_context(problem),
        },
        status_code=problem.status if problem else 200,
    )


@router.get("/orders/{order_id}", response_class=HTMLResponse)
def order_page(
    request: Request,
    order_id: int,
    session: Uow,
    ctx: ConsoleContext,
    done: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    order = service.staff_order(session, ctx.actor, order_id)
    return _order_page(request, session, ctx, order, notice=NOTICES.get(done))


@router.post("/orders/{order_id}/ship", response_class=HTMLResponse)
def ship_order(
    request: Request,
    order_id: int,
    session: Uow,
    ctx: ConsoleForm,
    carrier: Text = "",
    tracking_number: Text = "",
    courier_name: Text = "",
    courier_phone: Text = "",
) -> Response:
    """Express: carrier and tracking number; local delivery: the courier's name and phone
    (as ``POST /api/orders/{id}/shipments``)."""
    form = {
        "carrier": carrier,
        "tracking_number": tracking_number,
        "courier_name": courier_name,
        "courier_phone": courier_phone,
    }
    try:
        data = ShipmentIn.model_validate({k: v.strip() or None for k, v in form.items()})
        fulfilment.ship_order(
            session, ctx.actor, order_id, fulfilment.Shipment(**data.model_dump())
        )
    except (ValidationError, SiyuError) as error:
        problem = form_problem(session, error, FIELD_LABELS)
        order = service.staff_order(session, ctx.actor, order_id)
        return _order_page(request, session, ctx, order, form, problem)
    return RedirectResponse(f"/console/orders/{order_id}?done=shipped", status_code=303)


@router.post("/orders/{order_id}/delivered", response_class=HTMLResponse)
def mark_delivered(request: Request, order_id: int, session: Uow, ctx: ConsoleForm) -> Response:
    try:
        fulfilment.mark_delivered(session, ctx.actor, order_id)
    except SiyuError as error:
        problem = form_problem(session, error, FIELD_LABELS)
        order = service.staff_order(session, ctx.actor, order_id)
        return _order_page(request, session, ctx, order, problem=problem)
    return RedirectResponse(f"/console/orders/{order_id}?done=delivered", status_code=303)


# ---------------------------------------------------------------- the pickup counter (核销)


def _pickup_page(
    request: Request,
    session: Session,
    ctx: SessionContext,
    form: dict[str, Any],
    *,
    found: fulfilment.PickupView | None = None,
    picked_up: Order | None = None,
    problem: FormProblem | None = None,
) -> Response:
    stores = _stores(session, ctx)
    return render(
        request,
        "orders/pickup.html",
        {
            "ctx": ctx,
            "stores": stores,
            "store_options": [(str(s.id), f"{s.name} ({s.code})") for s in stores],
            "form": form,
            "found": found,
            "found_status": status_of(found.order) if found else None,
            "picked_up": picked_up,
            "can_write": ctx.actor.can(Permission.ORDER_WRITE),
            **LABELS,
            **problem_context(problem),
        },
        status_code=problem.status if problem else 200,
    )


def _chosen_store(session: Session, ctx: SessionContext, store_id: str) -> str:
    """The store asked for, else the actor's own, else the only one in scope ('' if none)."""
    if store_id.strip():
        return store_id.strip()
    if ctx.actor.store_id is not None:
        return str(ctx.actor.store_id)
    stores, total = org_service.list_stores(session, ctx.actor, limit=2)
    return str(stores[0].id) if total == 1 else ""


def _store_id(value: str) -> int:
    store = _optional_id(value, "store_id")
    if store is None:
        raise InvalidInput("Choose the store where the consumer collects.", field="store_id")
    return store


@router.get("/pickup", response_class=HTMLResponse)
def pickup_page(
    request: Request,
    session: Uow,
    ctx: ConsoleContext,
    store_id: Annotated[str, Query(max_length=20)] = "",
    pickup_code: Annotated[str, Query(max_length=32)] = "",
    done: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    """The counter: enter or scan a code; with ``pickup_code``, the order it belongs to (as
    ``GET /api/stores/{id}/pickups``); after a write-off (``done``), the order picked up."""
    ctx.actor.require(Permission.ORDER_READ)
    form = {"store_id": _chosen_store(session, ctx, store_id), "pickup_code": pickup_code.strip()}
    picked_up = service.staff_order(session, ctx.actor, done) if done else None
    if not form["pickup_code"]:
        return _pickup_page(request, session, ctx, form, picked_up=picked_up)
    try:
        query = PickupWriteOff(pickup_code=form["pickup_code"])
        found = fulfilment.find_pickup(
            session, ctx.actor, _store_id(form["store_id"]), query.pickup_code
        )
    except (ValidationError, SiyuError) as error:
        problem = form_problem(session, error, FIELD_LABELS)
        return _pickup_page(request, session, ctx, form, problem=problem)
    return _pickup_page(request, session, ctx, form, found=found)


@router.post("/pickup", response_class=HTMLResponse)
def write_off_pickup(
    request: Request,
    session: Uow,
    ctx: ConsoleForm,
    store_id: Annotated[str, Form(max_length=20)] = "",
    pickup_code: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """Hand the goods over: write the code off (as ``POST /api/stores/{id}/pickups``)."""
    ctx.actor.require(Permission.ORDER_READ)  # the counter's own gate, as on GET
    form = {"store_id": store_id.strip(), "pickup_code": pickup_code.strip()}
    try:
        data = PickupWriteOff(pickup_code=form["pickup_code"])
        store = _store_id(form["store_id"])
        order = fulfilment.write_off_pickup(session, ctx.actor, store, data.pickup_code)
    except (ValidationError, SiyuError) as error:
        problem = form_problem(session, error, FIELD_LABELS)
        return _pickup_page(request, session, ctx, form, problem=problem)
    return RedirectResponse(f"/console/pickup?store_id={store}&done={order.id}", status_code=303)
