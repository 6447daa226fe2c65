"""HTTP API of the cloud stores: listing overrides (staff) and the storefront (consumers).

``router`` holds the staff routes (tag "cloud stores"); ``storefront_router`` what the
mini-program calls (tag "storefront", consumer tokens ``siyuc_...``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from siyu.cloud_store import service
from siyu.cloud_store.rules import Offer
from siyu.cloud_store.schemas import (
    ListingOverrideOut,
    ListingOverrideSet,
    StorefrontCatalogPage,
    StorefrontOfferOut,
    StorefrontProductOut,
    StorefrontSkuOut,
)
from siyu.core.pagination import MAX_PAGE_SIZE
from siyu.web.deps import CurrentActor, CurrentConsumer, Uow

router = APIRouter(tags=["cloud stores"])
storefront_router = APIRouter(prefix="/storefront", tags=["storefront"])

ProductQuery = Annotated[int, Query(description="The product of the override")]
SkuQuery = Annotated[
    int | None, Query(description="The SKU of the override; empty for the product-level one")
]


# ---------------------------------------------------------------- staff: overrides


@router.get("/stores/{store_id}/listing-overrides", response_model=list[ListingOverrideOut])
def list_store_overrides(
    store_id: int, session: Uow, actor: CurrentActor, product_id: int | None = None
) -> list[ListingOverrideOut]:
    """The store's own overrides (its region's are under /api/regions/{id}/listing-overrides)."""
    rows = service.list_store_overrides(session, actor, store_id, product_id=product_id)
    return [ListingOverrideOut.model_validate(r) for r in rows]


@router.put("/stores/{store_id}/listing-overrides", response_model=ListingOverrideOut)
def set_store_override(
    store_id: int, data: ListingOverrideSet, session: Uow, actor: CurrentActor
) -> ListingOverrideOut:
    """Create or replace the store's override of a product or of one SKU."""
    return ListingOverrideOut.model_validate(
        service.set_store_override(session, actor, store_id, data)
    )


@router.delete("/stores/{store_id}/listing-overrides", status_code=status.HTTP_204_NO_CONTENT)
def clear_store_override(
    store_id: int,
    product_id: ProductQuery,
    session: Uow,
    actor: CurrentActor,
    sku_id: SkuQuery = None,
) -> Response:
    service.clear_store_override(session, actor, store_id, product_id, sku_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/regions/{region_id}/listing-overrides", response_model=list[ListingOverrideOut])
def list_region_overrides(
    region_id: int, session: Uow, actor: CurrentActor, product_id: int | None = None
) -> list[ListingOverrideOut]:
    rows = service.list_region_overrides(session, actor, region_id, product_id=product_id)
    return [ListingOverrideOut.model_validate(r) for r in rows]


@router.put("/regions/{region_id}/listing-overrides", response_model=ListingOverrideOut)
def set_region_override(
    region_id: int, data: ListingOverrideSet, session: Uow, actor: CurrentActor
) -> ListingOverrideOut:
    """Create or replace the region's override; a store's own override of a field wins."""
    return ListingOverrideOut.model_validate(
        service.set_region_override(session, actor, region_id, data)
    )


@router.delete("/regions/{region_id}/listing-overrides", status_code=status.HTTP_204_NO_CONTENT)
def clear_region_override(
    region_id: int,
    product_id: ProductQuery,
    session: Uow,
    actor: CurrentActor,
    sku_id: SkuQuery = None,
) -> Response:
    service.clear_region_override(session, actor, region_id, product_id, sku_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# ---------------------------------------------------------------- storefront (consumers)

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {
        "description": "Unknown store (or another brand's, planned or closed), or a product "
        "this store does not sell",
        "content": {
            "application/problem+json": {
                "example": {
                    "type": "urn:siyu:problem:store_not_found",
                    "title": "Store not found",
                    "status": 404,
                    "code": "store_not_found",
                    "detail": "Store 9 was not found.",
                    "field": None,
                    "request_id": "4f1c2a9e0b7d4e6f",
                }
            }
        },
    },
    401: {"description": "Missing, expired or revoked consumer token"},
}


def _offer_out(offer: Offer, available: int) -> StorefrontOfferOut:
    return StorefrontOfferOut(
        sku_id=offer.sku_id,
        product_id=offer.product_id,
        product_code=offer.product_code,
        product_name=offer.product_name,
        sku_code=offer.sku_code,
        attributes=dict(offer.attributes),
        category_id=offer.category_id,
        images=list(offer.images),
        price_fen=offer.price_fen,
        list_price_fen=offer.list_price_fen,
        max_per_order=offer.max_per_order,
        available_quantity=available,
        exclusive_channel=offer.exclusive_channel,
    )


@storefront_router.get(
    "/stores/{store_id}/catalog", response_model=StorefrontCatalogPage, responses=NOT_FOUND
)
def store_catalog(
    store_id: int,
    session: Uow,
    consumer: CurrentConsumer,
    category: Annotated[
        int | None, Query(description="A category id; includes its subcategories")
    ] = None,
    q: Annotated[
        str | None, Query(max_length=100, description="Product code or name, or SKU code")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> StorefrontCatalogPage:
    """What this cloud store sells (千店千面): one item per listed SKU, by product code then
    SKU code, at the store's price, with the quantity it can sell now."""
    rows, total = service.store_catalog(
        session,
        consumer.brand.id,
        store_id,
        category_id=category,
        search=q,
        limit=limit,
        offset=offset,
    )
    return StorefrontCatalogPage(
        items=[_offer_out(offer, available) for offer, available in rows],
        total=total,
        limit=limit,
        offset=offset,
    )


@storefront_router.get(
    "/stores/{store_id}/products/{product_id}",
    response_model=StorefrontProductOut,
    responses=NOT_FOUND,
)
def store_product(
    store_id: int, product_id: int, session: Uow, consumer: CurrentConsumer
) -> StorefrontProductOut:
    """A product page: the product and the SKUs this store sells, with price and stock."""
    found = service.store_product(session, consumer.brand.id, store_id, product_id)
    product = found.product
    return StorefrontProductOut(
        product_id=product.id,
        product_code=product.code,
        product_name=product.name,
        description=product.description,
        category_id=product.category_id,
        images=list(product.images),
        exclusive_channel=product.exclusive_channel,
        skus=[
            StorefrontSkuOut(
                sku_id=offer.sku_id,
                sku_code=offer.sku_code,
                attributes=dict(offer.attributes),
                price_fen=offer.price_fen,
                list_price_fen=offer.list_price_fen,
                max_per_order=offer.max_per_order,
                available_quantity=available,
            )
            for offer, available in found.offers
        ],
    )
