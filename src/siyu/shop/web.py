"""The web shop's plumbing: its route class (refusals as pages), the consumer's session
from the ``siyu_shop`` cookie, the CSRF token derived from it, and page rendering.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Coroutine
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRoute

from siyu.brands.models import Brand
from siyu.consumers.service import (
    ConsumerContext,
    authenticate_consumer,
)
from siyu.core.errors import NotAuthenticated, SiyuError
from siyu.demo.seed import DEMO_SLUG
from siyu.settlement.rules import format_yuan
from siyu.shop import service
from siyu.web.csrf import check_token
from siyu.web.deps import Uow
from siyu.web.templating import render

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
                return error_page(request, error.status, error.message)
            except RequestValidationError as error:
                first = error.errors()[0] if error.errors() else {}
                field = ".".join(str(p) for p in first.get("loc", ())[1:])
                detail = f"{field}: {first.get('msg', 'invalid')}" if field else "Invalid request."
                return error_page(request, 422, detail)

        return handle


def error_page(request: Request, status: int, detail: str) -> Response:
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


def render_page(
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


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)
