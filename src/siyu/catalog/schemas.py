"""Input and output shapes of the catalog (API, console and CSV import share them)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from siyu.catalog.models import ProductStatus, SkuStatus
from siyu.catalog.rules import MAX_PRICE_FEN

Code = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
    ),
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Channel = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=r"^[a-z][a-z0-9_]{0,31}$"),
    Field(
        description="Set for a channel-exclusive item (专供款): sold only in that channel, "
        "e.g. 'mini_program'.",
        examples=["mini_program"],
    ),
]
ImageUrl = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=1000, pattern=r"^https?://\S+$")
]
Fen = Annotated[int, Field(ge=0, le=MAX_PRICE_FEN, strict=True, description="Integer fen")]
AttributeName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)
]
AttributeValue = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)
]
Attributes = Annotated[
    dict[AttributeName, AttributeValue],
    Field(description="Variant attributes, e.g. {'colour': 'red', 'size': 'M'}"),
]
MaxPerOrder = Annotated[int, Field(gt=0, le=100_000, strict=True)]
Barcode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


# ---------------------------------------------------------------- categories


class CategoryCreate(BaseModel):
    code: Code
    name: Name
    parent_id: int | None = None
    sort_order: int = 0
    is_active: bool = True


class CategoryUpdate(BaseModel):
    """Only the fields sent are changed; ``parent_id: null`` moves the category to the top."""

    name: Name | None = None
    parent_id: int | None = None
    sort_order: int | None = None
    is_active: bool | None = None


class CategoryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    code: str
    name: str
    parent_id: int | None
    sort_order: int
    is_active: bool
    created_at: datetime
    updated_at: datetime


# ---------------------------------------------------------------- SKUs


class SkuCreate(BaseModel):
    code: Code
    attributes: Attributes = Field(default_factory=dict)
    list_price_fen: Fen
    barcode: Barcode | None = None
    status: SkuStatus = SkuStatus.ACTIVE
    max_per_order: MaxPerOrder = 99


class SkuUpdate(BaseModel):
    """Only the fields sent are changed; ``barcode: null`` clears the barcode."""

    attributes: Attributes | None = None
    list_price_fen: Fen | None = None
    barcode: Barcode | None = None
    status: SkuStatus | None = None
    max_per_order: MaxPerOrder | None = None


class SkuOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    product_id: int
    code: str
    attributes: dict[str, Any]
    list_price_fen: int
    barcode: str | None
    status: SkuStatus
    max_per_order: int
    created_at: datetime
    updated_at: datetime


# ---------------------------------------------------------------- products


class ProductCreate(BaseModel):
    code: Code
    name: Name
    category_id: int
    description: Annotated[str, StringConstraints(max_length=10_000)] = ""
    images: Annotated[list[ImageUrl], Field(max_length=20)] = Field(default_factory=list)
    status: ProductStatus = ProductStatus.ACTIVE
    exclusive_channel: Channel | None = None
    skus: Annotated[list[SkuCreate], Field(max_length=500)] = Field(
        default_factory=list, description="SKUs created with the product"
    )


class ProductUpdate(BaseModel):
    """Only the fields sent are changed; ``exclusive_channel: null`` sells it everywhere."""

    name: Name | None = None
    category_id: int | None = None
    description: Annotated[str, StringConstraints(max_length=10_000)] | None = None
    images: Annotated[list[ImageUrl], Field(max_length=20)] | None = None
    status: ProductStatus | None = None
    exclusive_channel: Channel | None = None


class ProductOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    code: str
    name: str
    category_id: int
    description: str
    images: list[str]
    status: ProductStatus
    exclusive_channel: str | None
    created_at: datetime
    updated_at: datetime


class ProductSummaryOut(ProductOut):
    sku_count: int
    min_list_price_fen: int | None
    max_list_price_fen: int | None


class ProductDetailOut(ProductOut):
    skus: list[SkuOut]
