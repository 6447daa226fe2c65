"""HTTP API of attribution: the brand's model settings and the touchpoint report."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query

from siyu.attribution import report, service
from siyu.attribution.schemas import (
    AttributionSettingsIn,
    AttributionSettingsOut,
    ReportGrouping,
    TouchpointReport,
)
from siyu.core.pagination import MAX_PAGE_SIZE
from siyu.web.deps import CurrentActor, Uow

router = APIRouter(tags=["attribution"])


@router.get("/attribution/settings", response_model=AttributionSettingsOut)
def get_attribution_settings(session: Uow, actor: CurrentActor) -> AttributionSettingsOut:
    """The brand's attribution model, lookback window and model parameters."""
    return service.get_settings(session, actor)


@router.put("/attribution/settings", response_model=AttributionSettingsOut)
def change_attribution_settings(
    data: AttributionSettingsIn, session: Uow, actor: CurrentActor
) -> AttributionSettingsOut:
    """Choose the model (first_touch, last_touch, linear, position_based, time_decay) and the
    lookback window. A change that can alter credits queues the re-attribution of every paid
    order (``recompute_pending`` until it is done)."""
    return service.change_settings(session, actor, data)


@router.get("/reports/touchpoints", response_model=TouchpointReport)
def touchpoint_report(
    session: Uow,
    actor: CurrentActor,
    period_start: date | None = None,
    period_end: Annotated[date | None, Query(description="Excluded")] = None,
    group_by: ReportGrouping = ReportGrouping.TOUCHPOINT,
    store_id: int | None = None,
    kind: Annotated[str | None, Query(max_length=48)] = None,
    touchpoint_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 200,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> TouchpointReport:
    """Scans, visitors, new members, orders, GMV, cost and ROI per touchpoint, kind, store or
    period (Asia/Shanghai dates; default the last 30 days), with a row for the unknown source."""
    default_start, default_end = report.default_period()
    query = report.ReportQuery(
        period_start=period_start or default_start,
        period_end=period_end or default_end,
        group_by=group_by,
        store_id=store_id,
        kind=kind,
        touchpoint_id=touchpoint_id,
        limit=limit,
        offset=offset,
    )
    return report.touchpoint_report(session, actor, query)
