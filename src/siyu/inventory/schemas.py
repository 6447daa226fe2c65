"""Input and output shapes of inventory (API, console and CSV import share them)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from siyu.inventory.rules import MAX_QUANTITY, HoldRequest

__all__ = [
    "HoldRequest",
    "StockAdjustmentCreate",
    "StockLevelOut",
    "StockMovementOut",
    "StockReceiptCreate",
]

Reference = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class StockReceiptCreate(BaseModel):
    """Goods arrived at a location: on hand goes up by ``quantity``."""

    sku_id: int
    quantity: Annotated[int, Field(gt=0, le=MAX_QUANTITY)]
    reference: Reference | None = Field(
        default=None, description="Delivery note or purchase order number"
    )


class StockAdjustmentCreate(BaseModel):
    """A count or a correction: either set ``on_hand`` or move it by ``delta``, with a reason.

    Refused (409 ``stock_below_promised``) when on hand would fall below what carts and orders
    hold.
    """

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"sku_id": 1, "on_hand": 12, "reason": "stocktake"},
                {"sku_id": 1, "delta": -2, "reason": "damaged"},
            ]
        }
    )

    sku_id: int
    on_hand: Annotated[int, Field(ge=0, le=MAX_QUANTITY)] | None = None
    delta: Annotated[int, Field(ge=-MAX_QUANTITY, le=MAX_QUANTITY)] | None = None
    reason: Reference

    @model_validator(mode="after")
    def _one_of_on_hand_or_delta(self) -> Self:
        if (self.on_hand is None) == (self.delta is None):
            raise ValueError("give exactly one of on_hand (set) and delta (move)")
        if self.delta == 0:
            raise ValueError("delta must not be 0")
        return self


class StockLevelOut(BaseModel):
    location_id: int
    sku_id: int
    sku_code: str
    on_hand: int
    reserved: int = Field(description="Held by carts and unpaid orders")
    allocated: int = Field(description="Held by paid orders not yet fulfilled")
    available: int = Field(description="on_hand - reserved - allocated")
    updated_at: datetime


class StockMovementOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    location_id: int
    sku_id: int
    kind: str
    on_hand_delta: int
    reserved_delta: int
    allocated_delta: int
    hold_id: int | None
    reference: str | None
    actor_label: str
    occurred_at: datetime
