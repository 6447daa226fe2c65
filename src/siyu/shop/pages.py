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

import hmac
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from siyu.brands.models import Brand
from siyu.brands.service import get_brand_by_slug
from siyu.cloud_store.service import store_catalog, store_product
from siyu.consumers.service import (
    log_in_consumer,
    log_out_consumer,
)
from siyu.core.errors import SiyuError
from siyu.demo.mall import DEMO_CONSUMERS
from siyu.demo.seed import DEMO_SLUG
from siyu.payments.service import get_mini_program_auth
from siyu.shop import ordering, scan, service
from siyu.shop.web import (
    COOKIE_MAX_AGE,
    LOGIN_CSRF_COOKIE,
    PAGE_SIZE,
    SANDBOX_USER,
    SHOP_COOKIE,
    Shop,
    ShopForm,
    ShopRoute,
    ShopSession,
    render_page,
    see_other,
)
from siyu.web.csrf import CsrfFailed, cookie_is_secure, new_token
from siyu.web.deps import Uow
from siyu.web.forms import FormProblem, form_problem, is_partial
from siyu.wechat.sandbox import issue_login_code
from siyu.wechat.service import is_sandbox, mini_program_app_id

router = APIRouter(prefix="/shop", route_class=ShopRoute)
router.include_router(ordering.router)
router.include_router(scan.router)

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
    response = render_page(
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
            session,
            brand_slug=row.slug,
            code=code,
            gateway=get_mini_program_auth(),
            scene_key=scan.scene_of(request),
            anonymous_id=scan.visitor_id(request),
        )
    except SiyuError as error:
        problem = form_problem(session, error, {})
        return _login_page(request, row, problem.message, user, next, problem.status)
    response = see_other(_safe_next(row, next))
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
    response = see_other(f"/shop/{shop.brand.slug}/login")
    response.delete_cookie(SHOP_COOKIE, path=f"/shop/{shop.brand.slug}")
    return response


# ---------------------------------------------------------------- stores and catalog


@router.get("/{brand}/stores", response_class=HTMLResponse)
def stores_page(request: Request, session: Uow, shop: ShopSession) -> Response:
    stores = service.browsable_stores(session, shop.brand.id)
    return render_page(request, shop, "shop/stores.html", {"stores": stores})


@router.get("/{brand}/stores/{store_id}", response_class=HTMLResponse)
def catalog_page(
    store_id: int,
    request: Request,
    session: Uow,
    shop: ShopSession,
    q: Annotated[str, Query(max_length=100)] = "",
    category: Annotated[str, Query(max_length=12)] = "",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    store = service.browsable_store(session, shop.brand.id, store_id)
    category_id = int(category) if category.isdigit() else None  # "": every category
    offers, total = store_catalog(
        session,
        shop.brand.id,
        store_id,
        category_id=category_id,
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
                "skus": 0,
                "available": 0,
                "on_shelf": 0,
                "exclusive": offer.exclusive_channel is not None,
            },
        )
        card["price_fen"] = min(card["price_fen"], offer.price_fen)
        card["list_price_fen"] = min(card["list_price_fen"], offer.list_price_fen)
        # Counted in SKUs (sizes, colours): sellable at all, and on the store's own shelves.
        card["skus"] += 1
        card["available"] += 1 if available > 0 else 0
        card["on_shelf"] += 1 if shelves.get(offer.sku_id, 0) > 0 and available > 0 else 0
    context = {
        "store": store,
        "products": list(products.values()),
        "categories": service.categories(session, shop.brand.id),
        "category": category_id,
        "q": q,
        "total": total,
        "page": page,
        "has_next": page * PAGE_SIZE * 8 < total,
        "cart_count": sum(service.cart_quantities(session, shop.shopper, store_id).values()),
    }
    template = "shop/_products.html" if is_partial(request) else "shop/catalog.html"
    return render_page(request, shop, template, context)


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
    in_stock = [offer.sku_id for offer, available in found.offers if available > 0]
    default = chosen or (in_stock[0] if in_stock else None)
    return render_page(
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
    return see_other(f"{shop.base}/stores/{store_id}/products/{product_id}?added={quantity}")
