"""Console page of stock: the locations in scope, and for one of them its stock levels (on
hand, reserved, allocated, available) and its movement ledger. Read-only.

A thin adapter over ``siyu.inventory.service`` (as ``siyu.inventory.api``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from siyu.catalog.service import get_sku
from siyu.core.errors import SiyuError
from siyu.inventory import service
from siyu.org.service import get_stock_location, list_stock_locations
from siyu.web.deps import ConsoleContext, Uow
from siyu.web.forms import pager
from siyu.web.templating import render

router = APIRouter()

LEVELS_PAGE = 100
MOVEMENTS_PAGE = 50
KIND_LABELS = {
    "receipt": "Receipt 入库",
    "adjustment": "Adjustment 盘点调整",
    "reservation": "Reservation 预占",
    "release": "Release 释放",
    "allocation": "Allocation 分配",
    "fulfilment": "Fulfilment 出库",
    "return": "Return 退货入库",
    "pos_snapshot": "POS snapshot",
    "reconciliation": "Reconciliation 对账修复",
}


@router.get("/stock", response_class=HTMLResponse)
def stock_page(
    request: Request,
    session: Uow,
    ctx: ConsoleContext,
    location_id: Annotated[int | None, Query(ge=1)] = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    movements_page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
) -> Response:
    """Levels of the chosen location (default: the first in scope, stores before
    warehouses), by SKU code; its movements, newest first."""
    locations = list_stock_locations(session, ctx.actor)
    chosen = location_id if location_id is not None else (locations[0].id if locations else None)
    context: dict[str, object] = {
        "ctx": ctx,
        "locations": locations,
        "location": None,
        "levels": [],
        "movements": [],
        "kind_labels": KIND_LABELS,
    }
    if chosen is not None:
        location = get_stock_location(session, ctx.actor, chosen)
        levels, level_total = service.list_stock_levels(
            session, ctx.actor, chosen, limit=LEVELS_PAGE, offset=(page - 1) * LEVELS_PAGE
        )
        movements, movement_total = service.list_stock_movements(
            session,
            ctx.actor,
            chosen,
            limit=MOVEMENTS_PAGE,
            offset=(movements_page - 1) * MOVEMENTS_PAGE,
        )
        codes = {level.sku_id: level.sku_code for level in levels}
        for sku_id in {m.sku_id for m in movements} - codes.keys():
            try:
                codes[sku_id] = get_sku(session, ctx.actor, sku_id).code
            except SiyuError:
                codes[sku_id] = f"SKU #{sku_id}"
        context.update(
            location=location,
            levels=levels,
            movements=movements,
            sku_codes=codes,
            levels_pager=pager(
                level_total,
                page,
                {"location_id": chosen, "movements_page": movements_page},
                LEVELS_PAGE,
            ),
            # its links are built in the template (pager() names the page "page")
            movements_pager=pager(movement_total, movements_page, {}, MOVEMENTS_PAGE),
        )
    return render(request, "inventory/stock.html", context)
