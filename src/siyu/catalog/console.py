"""Console pages of the catalog: the brand's products with their SKU counts and list prices
(search, category filter), and one product with its SKUs. Read-only.

A thin adapter over ``siyu.catalog.service`` (as ``siyu.catalog.api``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from siyu.catalog import service
from siyu.core.errors import InvalidInput
from siyu.settlement.rules import format_yuan
from siyu.web.deps import ConsoleContext, Uow
from siyu.web.forms import PAGE_SIZE, is_partial, pager
from siyu.web.templating import render

router = APIRouter()

STATUS_LABELS = {"draft": "Draft 草稿", "active": "Active 在售", "archived": "Archived 已归档"}


def _optional_id(value: str, field: str) -> int | None:
    value = value.strip()
    if not value:
        return None
    if not value.isdigit():
        raise InvalidInput(f"'{value}' is not a valid category.", field=field)
    return int(value)


@router.get("/catalog", response_class=HTMLResponse)
def catalog_page(
    request: Request,
    session: Uow,
    ctx: ConsoleContext,
    q: Annotated[str, Query(max_length=100)] = "",
    category_id: Annotated[str, Query(max_length=20)] = "",
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
) -> Response:
    """Products by code; ``q`` matches product code or name, SKU code or barcode;
    ``category_id`` includes its subcategories."""
    category = _optional_id(category_id, "category_id")
    summaries, total = service.list_products(
        session,
        ctx.actor,
        category_id=category,
        search=q.strip() or None,
        limit=PAGE_SIZE,
        offset=(page - 1) * PAGE_SIZE,
    )
    categories = service.list_categories(session, ctx.actor)
    filters = {"q": q.strip(), "category_id": category}
    context: dict[str, Any] = {
        "ctx": ctx,
        "summaries": summaries,
        "categories": categories,
        "category_names": {c.id: c.name for c in categories},
        "filters": filters,
        "pager": pager(total, page, filters),
        "status_labels": STATUS_LABELS,
        "yuan": format_yuan,
    }
    template = "catalog/_products_results.html" if is_partial(request) else "catalog/products.html"
    response = render(request, template, context)
    response.headers["Vary"] = "HX-Request"
    return response


@router.get("/catalog/{product_id}", response_class=HTMLResponse)
def product_page(request: Request, product_id: int, session: Uow, ctx: ConsoleContext) -> Response:
    detail = service.get_product(session, ctx.actor, product_id)
    category = service.get_category(session, ctx.actor, detail.product.category_id)
    return render(
        request,
        "catalog/product.html",
        {
            "ctx": ctx,
            "product": detail.product,
            "skus": detail.skus,
            "category": category,
            "status_labels": STATUS_LABELS,
            "yuan": format_yuan,
        },
    )
