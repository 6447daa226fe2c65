"""Shapes of carts, checkout and orders in the storefront and staff APIs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from siyu.orders.models import FulfilmentMethod

Quantity = Annotated[int, Field(ge=1, le=9999)]
POINTS_TO_SPEND_HELP = (
    "Points to pay with (积分抵扣): whole redemption units (e.g. 100 = ¥1); capped by the"
    " brand's share of the goods. Placing refuses (409 points_insufficient) when the balance"
    " no longer covers them."
)
PointsToSpend = Annotated[int, Field(ge=0, le=10**9, description=POINTS_TO_SPEND_HELP)]


class OrderLineIn(BaseModel):
    sku_id: int
    quantity: Quantity


class PlaceOrder(BaseModel):
    """Lines to buy; omit ``lines`` to buy what is in the store's cart (and empty it)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "lines": [{"sku_id": 101, "quantity": 2}, {"sku_id": 205, "quantity": 1}],
                    "fulfilment_method": "pickup",
                    "guide_staff_id": 17,
                    "note": "Please keep it until Saturday",
                },
                {"fulfilment_method": "express", "address_id": 3},
            ]
        }
    )

    lines: list[OrderLineIn] | None = Field(default=None, max_length=100)
    fulfilment_method: FulfilmentMethod
    address_id: int | None = Field(
        default=None, description="Needed for express and local delivery"
    )
    guide_staff_id: int | None = None
    touchpoint_id: int | None = None
    note: Annotated[str, StringConstraints(max_length=500)] = ""
    points_to_spend: PointsToSpend = 0


class AdjustmentOut(BaseModel):
    stage: str
    source: str
    amount_fen: int
    explanation: str
    base: str
    base_fen: int


class PricedLineOut(BaseModel):
    sku_id: int
    product_id: int
    product_name: str
    sku_code: str
    attributes: dict[str, Any]
    quantity: int
    unit_price_fen: int
    list_price_fen: int
    subtotal_fen: int
    discount_fen: int
    total_fen: int
    adjustments: list[AdjustmentOut]
    available: bool
    fulfilling_location_id: int | None
    endless_aisle: bool


class CartOut(BaseModel):
    store_id: int
    fulfilment_method: FulfilmentMethod
    lines: list[PricedLineOut]
    unavailable_sku_ids: list[int]
    subtotal_fen: int
    discount_fen: int
    shipping_fen: int
    total_fen: int
    order_adjustments: list[AdjustmentOut]
    points_spent: int = Field(description="Points the order would spend (after the caps)")
    points_discount_fen: int


class OrderLineOut(BaseModel):
    id: int
    sku_id: int
    product_id: int
    product_name: str
    sku_code: str
    attributes: dict[str, Any]
    quantity: int
    unit_price_fen: int
    subtotal_fen: int
    discount_fen: int
    total_fen: int
    adjustments: list[dict[str, Any]]
    fulfilling_location_id: int
    refunded_quantity: int


class OrderOut(BaseModel):
    id: int
    number: str
    status: str = Field(description="Derived from the four axes below, for display")
    lifecycle_status: str
    payment_status: str
    fulfilment_status: str
    after_sale_status: str
    selling_store_id: int
    guide_staff_id: int | None
    touchpoint_id: int | None
    channel: str
    fulfilment_method: FulfilmentMethod
    placed_after_hours: bool
    subtotal_fen: int
    discount_fen: int
    shipping_fen: int
    total_fen: int
    paid_fen: int
    refunded_fen: int
    points_spent: int
    points_discount_fen: int
    placed_at: datetime
    payment_due_at: datetime
    paid_at: datetime | None
    cancelled_at: datetime | None
    fulfilled_at: datetime | None
    pickup_code: str | None = Field(description="Shown to the consumer only")
    shipping_address: dict[str, Any] | None
    note: str
    lines: list[OrderLineOut]


class CartLineSet(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"quantity": 2}, {"quantity": 0}]})

    quantity: Annotated[int, Field(ge=0, le=9999)]


class PaymentStartOut(BaseModel):
    payment_id: int
    out_trade_no: str
    amount_fen: int
    pay_params: dict[str, Any] = Field(description="Pass to wx.requestPayment as they are")


class CartReservationOut(BaseModel):
    expires_at: datetime
    held: list[dict[str, int]] = Field(
        description="What is held: sku_id, location_id and quantity per line"
    )
