"""HTTP API of the catalog (staff): categories, products and their SKUs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from siyu.catalog import service
from siyu.catalog.models import ProductStatus
from siyu.catalog.schemas import (
    CategoryCreate,
    CategoryOut,
    CategoryUpdate,
    ProductCreate,
    ProductDetailOut,
    ProductOut,
    ProductSummaryOut,
    ProductUpdate,
    SkuCreate,
    SkuOut,
    SkuUpdate,
)
from siyu.core.pagination import MAX_PAGE_SIZE, Page
from siyu.web.deps import CurrentActor, Uow

router = APIRouter(tags=["catalog"])


def _product_values(product: object) -> dict[str, object]:
    return {key: getattr(product, key) for key in ProductOut.model_fields}


def _detail(detail: service.ProductDetail) -> ProductDetailOut:
    return ProductDetailOut.model_validate(
        {
            **_product_values(detail.product),
            "skus": [SkuOut.model_validate(sku) for sku in detail.skus],
        }
    )


def _summary(summary: service.ProductSummary) -> ProductSummaryOut:
    return ProductSummaryOut.model_validate(
        {
            **_product_values(summary.product),
            "sku_count": summary.sku_count,
            "min_list_price_fen": summary.min_list_price_fen,
            "max_list_price_fen": summary.max_list_price_fen,
        }
    )


@router.get("/categories", response_model=list[CategoryOut])
def list_categories(session: Uow, actor: CurrentActor) -> list[CategoryOut]:
    """Every category of the brand; the tree is given by ``parent_id``."""
    return [CategoryOut.model_validate(c) for c in service.list_categories(session, actor)]


@router.post("/categories", response_model=CategoryOut, status_code=status.HTTP_201_CREATED)
def create_category(data: CategoryCreate, session: Uow, actor: CurrentActor) -> CategoryOut:
    return CategoryOut.model_validate(service.create_category(session, actor, data))


@router.patch("/categories/{category_id}", response_model=CategoryOut)
def update_category(
    category_id: int, data: CategoryUpdate, session: Uow, actor: CurrentActor
) -> CategoryOut:
    return CategoryOut.model_validate(service.update_category(session, actor, category_id, data))


@router.get("/products", response_model=Page[ProductSummaryOut])
def list_products(
    session: Uow,
    actor: CurrentActor,
    category_id: Annotated[int | None, Query(description="Includes subcategories")] = None,
    status: ProductStatus | None = None,
    q: Annotated[
        str | None, Query(max_length=100, description="Product code or name, SKU code or barcode")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[ProductSummaryOut]:
    rows, total = service.list_products(
        session,
        actor,
        category_id=category_id,
        status=status.value if status else None,
        search=q,
        limit=limit,
        offset=offset,
    )
    return Page[ProductSummaryOut](
        items=[_summary(r) for r in rows], total=total, limit=limit, offset=offset
    )


@router.post("/products", response_model=ProductDetailOut, status_code=status.HTTP_201_CREATED)
def create_product(data: ProductCreate, session: Uow, actor: CurrentActor) -> ProductDetailOut:
    return _detail(service.create_product(session, actor, data))


@router.get("/products/{product_id}", response_model=ProductDetailOut)
def get_product(product_id: int, session: Uow, actor: CurrentActor) -> ProductDetailOut:
    return _detail(service.get_product(session, actor, product_id))


@router.patch("/products/{product_id}", response_model=ProductDetailOut)
def update_product(
    product_id: int, data: ProductUpdate, session: Uow, actor: CurrentActor
) -> ProductDetailOut:
    return _detail(service.update_product(session, actor, product_id, data))


@router.post(
    "/products/{product_id}/skus", response_model=SkuOut, status_code=status.HTTP_201_CREATED
)
def create_sku(product_id: int, data: SkuCreate, session: Uow, actor: CurrentActor) -> SkuOut:
    return SkuOut.model_validate(service.create_sku(session, actor, product_id, data))


@router.patch("/skus/{sku_id}", response_model=SkuOut)
def update_sku(sku_id: int, data: SkuUpdate, session: Uow, actor: CurrentActor) -> SkuOut:
    return SkuOut.model_validate(service.update_sku(session, actor, sku_id, data))
