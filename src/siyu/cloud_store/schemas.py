"""Input and output shapes of the cloud stores: override management (staff) and the
storefront (consumers, the mini-program)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from siyu.catalog.rules import MAX_PRICE_FEN
from siyu.cloud_store.models import StockSource

Fen = Annotated[int, Field(ge=0, le=MAX_PRICE_FEN, strict=True, description="Integer fen")]


class ListingOverrideSet(BaseModel):
    """An override of one product (``sku_id`` empty: every SKU of it) or one SKU. PUT
    replaces the row's fields: a field sent as null (or left out) is inherited from the
    level above (region, then the brand default)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"product_id": 12, "sku_id": 305, "price_fen": 15900},
                {"product_id": 12, "is_listed": False},
                {"product_id": 12, "stock_source": "warehouse"},
            ]
        }
    )

    product_id: int
    sku_id: int | None = None
    is_listed: bool | None = None
    price_fen: Fen | None = None
    stock_source: StockSource | None = Field(
        default=None, description="store | warehouse | store_then_warehouse (the default)"
    )


class ListingOverrideOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    region_id: int | None
    store_id: int | None
    product_id: int
    sku_id: int | None
    is_listed: bool | None
    price_fen: int | None
    stock_source: StockSource | None
    created_at: datetime
    updated_at: datetime


# ---------------------------------------------------------------- storefront

OFFER_EXAMPLE: dict[str, Any] = {
    "sku_id": 305,
    "product_id": 12,
    "product_code": "JX-TEE-001",
    "product_name": "Organic cotton tee 有机棉T恤",
    "sku_code": "JX-TEE-001-WHT-M",
    "attributes": {"colour": "white", "size": "M"},
    "category_id": 3,
    "images": ["https://img.example.com/jx-tee-001/1.jpg"],
    "price_fen": 15900,
    "list_price_fen": 19900,
    "max_per_order": 5,
    "available_quantity": 17,
    "exclusive_channel": None,
}


class StorefrontOfferOut(BaseModel):
    """A SKU as this store sells it: the store's price and what it can deliver or hand over
    now (its own stock and/or the warehouses', as the store's stock source says)."""

    model_config = ConfigDict(json_schema_extra={"examples": [OFFER_EXAMPLE]})

    sku_id: int
    product_id: int
    product_code: str
    product_name: str
    sku_code: str
    attributes: dict[str, Any]
    category_id: int
    images: list[str]
    price_fen: int = Field(description="This store's price, integer fen")
    list_price_fen: int = Field(description="The brand's list price, integer fen")
    max_per_order: int
    available_quantity: int = Field(description="0 means sold out at this store")
    exclusive_channel: str | None = Field(description="Set for a channel-exclusive item (专供款)")


class StorefrontCatalogPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"items": [OFFER_EXAMPLE], "total": 1, "limit": 50, "offset": 0}]
        }
    )

    items: list[StorefrontOfferOut]
    total: int
    limit: int
    offset: int


class StorefrontSkuOut(BaseModel):
    sku_id: int
    sku_code: str
    attributes: dict[str, Any]
    price_fen: int
    list_price_fen: int
    max_per_order: int
    available_quantity: int


class StorefrontProductOut(BaseModel):
    """A product as this store sells it, with its listed SKUs (by code)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "product_id": 12,
                    "product_code": "JX-TEE-001",
                    "product_name": "Organic cotton tee 有机棉T恤",
                    "description": "180 g organic cotton, relaxed fit.",
                    "category_id": 3,
                    "images": ["https://img.example.com/jx-tee-001/1.jpg"],
                    "exclusive_channel": None,
                    "skus": [
                        {
                            "sku_id": 305,
                            "sku_code": "JX-TEE-001-WHT-M",
                            "attributes": {"colour": "white", "size": "M"},
                            "price_fen": 15900,
                            "list_price_fen": 19900,
                            "max_per_order": 5,
                            "available_quantity": 17,
                        }
                    ],
                }
            ]
        }
    )

    product_id: int
    product_code: str
    product_name: str
    description: str
    category_id: int
    images: list[str]
    exclusive_channel: str | None
    skus: list[StorefrontSkuOut]
