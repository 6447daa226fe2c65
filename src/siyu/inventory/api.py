"""HTTP API of stock: levels, receipts, adjustments and the movement ledger of a location."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from siyu.core.pagination import MAX_PAGE_SIZE, Page
from siyu.inventory import service
from siyu.inventory.schemas import (
    StockAdjustmentCreate,
    StockLevelOut,
    StockMovementOut,
    StockReceiptCreate,
)
from siyu.web.deps import CurrentActor, Uow

router = APIRouter(tags=["inventory"])

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]
Offset = Annotated[int, Query(ge=0)]


def level_out(view: service.LevelView) -> StockLevelOut:
    return StockLevelOut(
        location_id=view.location_id,
        sku_id=view.sku_id,
        sku_code=view.sku_code,
        on_hand=view.on_hand,
        reserved=view.reserved,
        allocated=view.allocated,
        available=view.available,
        updated_at=view.updated_at,
    )


@router.get("/stock-locations/{location_id}/stock", response_model=Page[StockLevelOut])
def list_stock_levels(
    location_id: int,
    session: Uow,
    actor: CurrentActor,
    sku_id: int | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[StockLevelOut]:
    """On hand, reserved, allocated and available per SKU at one location, by SKU code."""
    views, total = service.list_stock_levels(
        session, actor, location_id, sku_id=sku_id, limit=limit, offset=offset
    )
    return Page[StockLevelOut](
        items=[level_out(v) for v in views], total=total, limit=limit, offset=offset
    )


@router.post(
    "/stock-locations/{location_id}/stock/receipts",
    response_model=StockLevelOut,
    status_code=status.HTTP_201_CREATED,
)
def receive_stock(
    location_id: int, data: StockReceiptCreate, session: Uow, actor: CurrentActor
) -> StockLevelOut:
    """Goods arrived: on hand goes up. Needs ``stock:write``."""
    return level_out(service.receive_stock(session, actor, location_id, data))


@router.post("/stock-locations/{location_id}/stock/adjustments", response_model=StockLevelOut)
def adjust_stock(
    location_id: int, data: StockAdjustmentCreate, session: Uow, actor: CurrentActor
) -> StockLevelOut:
    """Set on hand (a count) or move it by a delta, with a reason. Needs ``stock:write``;
    refused with 409 ``stock_below_promised`` below what carts and orders hold."""
    return level_out(service.adjust_stock(session, actor, location_id, data))


@router.get("/stock-locations/{location_id}/stock/movements", response_model=Page[StockMovementOut])
def list_stock_movements(
    location_id: int,
    session: Uow,
    actor: CurrentActor,
    sku_id: int | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[StockMovementOut]:
    """The append-only ledger of every stock change at one location, newest first."""
    rows, total = service.list_stock_movements(
        session, actor, location_id, sku_id=sku_id, limit=limit, offset=offset
    )
    return Page[StockMovementOut](
        items=[StockMovementOut.model_validate(r) for r in rows],
        total=total,
        limit=limit,
        offset=offset,
    )
