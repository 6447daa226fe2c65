"""The web shop's pages: the mini-program's consumer journey, server-rendered (Jinja2 + HTMX).

Everything lives under ``/shop/{brand_slug}/``, so one deployment serves every brand's shop;
``/shop`` goes to the demo brand's. A consumer logs in as the mini program would (a sandbox
``wx.login`` code exchanged through siyu.consumers.service.log_in_consumer); their consumer
token is kept in the HttpOnly cookie ``siyu_shop`` scoped to the brand's path. Every POST
carries a CSRF token derived from that cookie (the login form: a double-submit cookie).

Adapter only: it translates forms into calls of the storefront services (cloud_store, cart,
checkout, payment, fulfilment, after-sales) and their refusals into pages. Errors render as
HTML (``ShopRoute``); a missing or foreign session goes to the brand's login page.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Coroutine
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from pydantic import ValidationError
from sqlalchemy.orm import Session

from siyu.aftersales.schemas import AfterSaleCreate
from siyu.aftersales.service import request_after_sale
from siyu.brands.models import Brand
from siyu.brands.service import get_brand_by_slug
from siyu.cart.service import CartView, set_cart_line, view_cart
from siyu.cloud_store.service import store_catalog, store_product
from siyu.consumers.schemas import AddressCreate
from siyu.consumers.service import (
    ConsumerContext,
    add_address,
    authenticate_consumer,
    list_addresses,
    log_in_consumer,
    log_out_consumer,
)
from siyu.core.errors import InvalidInput, NotAuthenticated, SiyuError
from siyu.demo.mall import DEMO_CONSUMERS
from siyu.demo.seed import DEMO_SLUG
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
from siyu.payments.service import get_mini_program_auth, get_pay_gateway
from siyu.settlement.rules import format_yuan
from siyu.shop import service
from siyu.web.csrf import CsrfFailed, check_token, cookie_is_secure, new_token
from siyu.web.deps import Uow
from siyu.web.forms import FormProblem, form_problem, is_partial
from siyu.web.templating import render
from siyu.wechat.sandbox import issue_login_code
from siyu.wechat.service import is_sandbox, mini_program_app_id

SHOP_COOKIE = "siyu_shop"
LOGIN_CSRF_COOKIE = "siyu_shop_login"
CSRF_CONTEXT = b"siyu-shop-csrf"
PAGE_SIZE = 24
KEY_PATTERN = re.compile(r"^[A-Za-z0-9_.:-]{8,64}$")
SANDBOX_USER = re.compile(r"^[\w .@-]{1,40}$")
COOKIE_MAX_AGE = 30 * 24 * 3600

STATUS_LABELS = {
    "awaiting_payment": "Awaiting payment 待付款",
    "awaiting_pickup": "Ready for pickup 待自提",
    "awaiting_shipment": "Being prepared 待发货",
    "shipped": "On its way 已发货",
    "completed": "Completed 已完成",
    "after_sale": "After-sale in progress 售后中",
    "refunded": "Refunded 已退款",
    "cancelled": "Cancelled 已取消",
}
METHOD_LABELS = {
    "pickup": "Store pickup 到店自提",
    "local_delivery": "Local delivery 同城配送",
    "express": "Express 快递",
}
PROBLEM_LABELS = {
    "unavailable": "No longer sold in this store",
    "over_limit": "More than the per-order limit",
    "out_of_stock": "Out of stock: not enough in the store or the warehouses",
}
AFTER_SALE_LABELS = {
    "requested": "Requested, waiting for the store",
    "approved": "Approved",
    "rejected": "Rejected",
    "received": "Goods received, refund on its way",
    "refunded": "Refunded",
    "cancelled": "Withdrawn",
}


class ShopRoute(APIRoute):
    """Shop pages answer refusals as pages, not problem+json: an unauthenticated visitor goes
    to the brand's login page, any other refusal gets the error page with its status."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except NotAuthenticated:
                brand = request.path_params.get("brand", DEMO_SLUG)
                target = f"/shop/{quote(brand)}/login"
                if request.method == "GET":
                    target += "?" + urlencode({"next": request.url.path})
                return RedirectResponse(target, status_code=303)
            except SiyuError as error:
                return _error_page(request, error.status, error.message)
            except RequestValidationError as error:
                first = error.errors()[0] if error.errors() else {}
                field = ".".join(str(p) for p in first.get("loc", ())[1:])
                detail = f"{field}: {first.get('msg', 'invalid')}" if field else "Invalid request."
                return _error_page(request, 422, detail)

        return handle


router = APIRouter(prefix="/shop", route_class=ShopRoute)


def _error_page(request: Request, status: int, detail: str) -> Response:
    brand = request.path_params.get("brand", DEMO_SLUG)
    return render(
        request,
        "shop/error.html",
        {"status": status, "detail": detail, "brand_slug": brand, "shop": None},
        status_code=status,
    )


# ---------------------------------------------------------------- session and CSRF


def csrf_token_for(consumer_token: str) -> str:
    """The shop's CSRF token for a session: a MAC of its cookie, unknowable without it."""
    return hmac.new(consumer_token.encode(), CSRF_CONTEXT, hashlib.sha256).hexdigest()


class Shop:
    """The logged-in consumer in a brand's shop."""

    def __init__(self, context: ConsumerContext, token: str) -> None:
        self.context = context
        self.brand: Brand = context.brand
        self.shopper = service.shopper_of(context)
        self.csrf_token = csrf_token_for(token)

    @property
    def base(self) -> str:
        return f"/shop/{self.brand.slug}"

    @property
    def consumer_name(self) -> str:
        return self.context.consumer.nickname or f"Consumer {self.context.consumer.id}"


def shop_session(brand: str, request: Request, session: Uow) -> Shop:
    """The consumer of the ``siyu_shop`` cookie, who must belong to ``brand``."""
    token = request.cookies.get(SHOP_COOKIE, "")
    if not token:
        raise NotAuthenticated("Please log in.")
    context = authenticate_consumer(session, token)
    if context.brand.slug != brand:
        raise NotAuthenticated("Please log in to this brand's shop.")
    return Shop(context, token)


async def shop_form_session(
    request: Request, shop: Annotated[Shop, Depends(shop_session, scope="function")]
) -> Shop:
    """As ``shop_session``, after checking the form's (or X-CSRF-Token's) CSRF token."""
    header = request.headers.get("x-csrf-token")
    if header:
        submitted = header
    else:
        value = (await request.form()).get("csrf_token")
        submitted = value if isinstance(value, str) else ""
    check_token(shop.csrf_token, submitted)
    return shop


ShopSession = Annotated[Shop, Depends(shop_session, scope="function")]
ShopForm = Annotated[Shop, Depends(shop_form_session, scope="function")]


def _page(
    request: Request, shop: Shop | None, template: str, context: dict[str, Any], status: int = 200
) -> Response:
    return render(
        request,
        template,
        {
            "shop": shop,
            "yuan": format_yuan,
            "status_labels": STATUS_LABELS,
            "method_labels": METHOD_LABELS,
            **context,
        },
        status_code=status,
    )


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# ---------------------------------------------------------------- login


@router.get("", include_in_schema=False)
def shop_home() -> RedirectResponse:
    return RedirectResponse(f"/shop/{DEMO_SLUG}", status_code=307)


@router.get("/{brand}", response_class=HTMLResponse)
def brand_home(brand: str) -> RedirectResponse:
    return RedirectResponse(f"/shop/{quote(brand)}/stores", status_code=307)


def _safe_next(brand: Brand, value: str) -> str:
    """Where to go after logging in: a page of this brand's shop, else its store picker."""
    base = f"/shop/{brand.slug}/"
    if value.startswith(base) and "//" not in value and "\\" not in value:
        return value
    return base + "stores"


def _login_page(
    request: Request, brand: Brand, error: str | None, user: str, next_url: str, status: int
) -> Response:
    token = new_token()
    response = _page(
        request,
        None,
        "shop/login.html",
        {
            "brand": brand,
            "brand_slug": brand.slug,
            "csrf_token": token,
            "error": error,
            "user": user,
            "next": next_url,
            "demo_users": DEMO_CONSUMERS if brand.slug == DEMO_SLUG else (),
            "sandbox": is_sandbox(),
        },
        status,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=cookie_is_secure(request),
        max_age=3600,
        path=f"/shop/{brand.slug}/login",
    )
    return response


@router.get("/{brand}/login", response_class=HTMLResponse)
def login_page(
    brand: str,
    request: Request,
    session: Uow,
    next: Annotated[str, Query(max_length=300)] = "",
) -> Response:
    row = get_brand_by_slug(session, brand)
    return _login_page(request, row, None, "", next, 200)


@router.post("/{brand}/login", response_class=HTMLResponse)
def log_in(
    brand: str,
    request: Request,
    session: Uow,
    user: Annotated[str, Form(max_length=100)] = "",
    demo_user: Annotated[str, Form(max_length=100)] = "",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    """Log in as the mini program does: ``wx.login`` on the (sandbox) phone of ``user`` gives
    a code, which the server exchanges for a consumer session."""
    row = get_brand_by_slug(session, brand)
    if not hmac.compare_digest(request.cookies.get(LOGIN_CSRF_COOKIE, ""), csrf_token or "-"):
        raise CsrfFailed("The form has expired or did not come from this site; reload and retry.")
    user = (demo_user or user).strip()
    if not is_sandbox():
        return _login_page(
            request, row, "The web shop logs in through the WeChat sandbox only.", user, next, 404
        )
    if not SANDBOX_USER.match(user):
        return _login_page(
            request,
            row,
            "Pick a demo user or type a name (letters, digits, spaces, . @ - _).",
            user,
            next,
            422,
        )
    code = issue_login_code(mini_program_app_id(session, row.id), user)
    try:
        _, token, _, _ = log_in_consumer(
            session, brand_slug=row.slug, code=code, gateway=get_mini_program_auth()
        )
    except SiyuError as error:
        problem = form_problem(session, error, {})
        return _login_page(request, row, problem.message, user, next, problem.status)
    response = _see_other(_safe_next(row, next))
    response.set_cookie(
        SHOP_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=cookie_is_secure(request),
        max_age=COOKIE_MAX_AGE,
        path=f"/shop/{row.slug}",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=f"/shop/{row.slug}/login")
    return response


@router.post("/{brand}/logout")
def log_out(brand: str, session: Uow, shop: ShopForm) -> Response:
    log_out_consumer(session, shop.context)
    response = _see_other(f"/shop/{shop.brand.slug}/login")
    response.delete_cookie(SHOP_COOKIE, path=f"/shop/{shop.brand.slug}")
    return response


# ---------------------------------------------------------------- stores and catalog


@router.get("/{brand}/stores", response_class=HTMLResponse)
def stores_page(request: Request, session: Uow, shop: ShopSession) -> Response:
    stores = service.browsable_stores(session, shop.brand.id)
    return _page(request, shop, "shop/stores.html", {"stores": stores})


@router.get("/{brand}/stores/{store_id}", response_class=HTMLResponse)
def catalog_page(
    store_id: int,
    request: Request,
    session: Uow,
    shop: ShopSession,
    q: Annotated[str, Query(max_length=100)] = "",
    category: Annotated[int | None, Query()] = None,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    store = service.browsable_store(session, shop.brand.id, store_id)
    offers, total = store_catalog(
        session,
        shop.brand.id,
        store_id,
        category_id=category,
        search=q.strip() or None,
        limit=PAGE_SIZE * 8,
        offset=(page - 1) * PAGE_SIZE * 8,
    )
    shelves = service.shelf_quantities(
        session, shop.brand.id, store_id, [offer.sku_id for offer, _ in offers]
    )
    # One card per product: its cheapest price, and what the store has of its SKUs.
    products: dict[int, dict[str, Any]] = {}
    for offer, available in offers:
        card = products.setdefault(
            offer.product_id,
            {
                "id": offer.product_id,
                "code": offer.product_code,
                "name": offer.product_name,
                "price_fen": offer.price_fen,
                "list_price_fen": offer.list_price_fen,
                "available": 0,
                "on_shelf": 0,
                "exclusive": offer.exclusive_channel is not None,
            },
        )
        card["price_fen"] = min(card["price_fen"], offer.price_fen)
        card["list_price_fen"] = min(card["list_price_fen"], offer.list_price_fen)
        card["available"] += available
        card["on_shelf"] += min(shelves.get(offer.sku_id, 0), available)
    context = {
        "store": store,
        "products": list(products.values()),
        "categories": service.categories(session, shop.brand.id),
        "category": category,
        "q": q,
        "total": total,
        "cart_count": sum(service.cart_quantities(session, shop.shopper, store_id).values()),
    }
    template = "shop/_products.html" if is_partial(request) else "shop/catalog.html"
    return _page(request, shop, template, context)


@router.get("/{brand}/stores/{store_id}/products/{product_id}", response_class=HTMLResponse)
def product_page(
    store_id: int,
    product_id: int,
    request: Request,
    session: Uow,
    shop: ShopSession,
    added: Annotated[int, Query(ge=0, le=999)] = 0,
) -> Response:
    return _product_page(request, session, shop, store_id, product_id, added=added)


def _product_page(
    request: Request,
    session: Session,
    shop: Shop,
    store_id: int,
    product_id: int,
    *,
    added: int = 0,
    problem: FormProblem | None = None,
    chosen: int | None = None,
) -> Response:
    store = service.browsable_store(session, shop.brand.id, store_id)
    found = store_product(session, shop.brand.id, store_id, product_id)
    shelves = service.shelf_quantities(
        session, shop.brand.id, store_id, [offer.sku_id for offer, _ in found.offers]
    )
    skus = [
        {
            "offer": offer,
            "available": available,
            "on_shelf": min(shelves.get(offer.sku_id, 0), available),
            "label": " / ".join(str(v) for v in offer.attributes.values()) or offer.sku_code,
        }
        for offer, available in found.offers
    ]
    default = chosen or next((s["offer"].sku_id for s in skus if s["available"] > 0), None)
    return _page(
        request,
        shop,
        "shop/product.html",
        {
            "store": store,
            "product": found.product,
            "skus": skus,
            "chosen": default,
            "added": added,
            "error": problem.message if problem else None,
            "cart_count": sum(service.cart_quantities(session, shop.shopper, store_id).values()),
        },
        problem.status if problem else 200,
    )


# ---------------------------------------------------------------- cart


@router.post("/{brand}/stores/{store_id}/cart", response_class=HTMLResponse)
def add_to_cart(
    store_id: int,
    request: Request,
    session: Uow,
    shop: ShopForm,
    product_id: Annotated[int, Form()],
    sku_id: Annotated[int | None, Form()] = None,
    quantity: Annotated[int, Form(ge=1, le=99)] = 1,
) -> Response:
    if sku_id is None:
        problem = FormProblem("Choose a size or colour first.", "sku_id", 422)
        return _product_page(request, session, shop, store_id, product_id, problem=problem)
    try:
        service.add_to_cart(session, shop.shopper, store_id, sku_id, quantity)
    except SiyuError as error:
        problem = form_problem(session, error, {})
        return _product_page(
            request, session, shop, store_id, product_id, problem=problem, chosen=sku_id
        )
    return _see_other(f"{shop.base}/stores/{store_id}/products/{product_id}?added={quantity}")


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
    return _page(request, shop, template, context, problem.status if problem else 200)


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
        return _see_other(f"{shop.base}/stores/{store_id}/cart?{query}")
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
    return _see_other(f"{shop.base}/stores/{store_id}/cart?{query}")


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
    try:
        placed = checkout.place_order(
            session,
            shop.shopper,
            store_id,
            PlaceOrder(
                fulfilment_method=fulfilment,
                address_id=None if fulfilment is FulfilmentMethod.PICKUP else address_id,
                note=note.strip(),
            ),
            idempotency_key=idempotency_key,
        )
    except SiyuError as error:
        problem = form_problem(session, error, {})
        return _cart_page(
            request, session, shop, store_id, fulfilment, address_id, problem, {"note": note}
        )
    return _see_other(_start_paying(session, shop, placed.order))


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
    return _page(
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
    return _page(
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
    return _see_other(_start_paying(session, shop, order))


@router.post("/{brand}/orders/{order_id}/cancel")
def cancel(order_id: int, session: Uow, shop: ShopForm) -> Response:
    cancel_unpaid_order(session, shop.shopper, order_id)
    return _see_other(f"{shop.base}/orders/{order_id}")


@router.post("/{brand}/orders/{order_id}/received")
def received(order_id: int, session: Uow, shop: ShopForm) -> Response:
    confirm_receipt(session, shop.shopper, order_id)
    return _see_other(f"{shop.base}/orders/{order_id}?notice=received")


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
    return _page(
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
    return _see_other(f"{shop.base}/orders/{order_id}?notice=return_requested")
