"""Console pages of attribution: the touchpoint report (a table with a bar per row: no chart
library ships with siyu yet) and the brand's attribution model form.

A thin adapter over ``siyu.attribution.report`` and ``siyu.attribution.service``; a refused
settings change is shown on the form after rolling back whatever the call had begun.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from siyu.access.rules import Permission
from siyu.access.service import SessionContext
from siyu.attribution import report, service
from siyu.attribution.rules import MODEL_LABELS, AttributionModel
from siyu.attribution.schemas import AttributionSettingsIn, ReportGrouping
from siyu.core.errors import InvalidInput, SiyuError
from siyu.org import service as org_service
from siyu.settlement.rules import format_yuan
from siyu.tracking import service as tracking_service
from siyu.web.csrf import ConsoleForm
from siyu.web.deps import ConsoleContext, Uow
from siyu.web.forms import FormProblem, form_problem, problem_context
from siyu.web.templating import render

router = APIRouter()

STORE_LIMIT = 1000
GROUPING_LABELS = {
    ReportGrouping.TOUCHPOINT: "Touchpoint 触点",
    ReportGrouping.KIND: "Kind 触点类型",
    ReportGrouping.STORE: "Store 门店",
    ReportGrouping.DAY: "Day 日",
    ReportGrouping.WEEK: "Week 周",
    ReportGrouping.MONTH: "Month 月",
}
FIELD_LABELS = {
    "model": "Model",
    "lookback_days": "Lookback window (days)",
    "position_first_percent": "First touch %",
    "position_middle_percent": "Middle touches %",
    "position_last_percent": "Last touch %",
    "half_life_days": "Half-life (days)",
    "period_start": "From",
    "period_end": "To (excluded)",
    "store_id": "Store",
}
Number = Annotated[str, Form(max_length=10)]


def _date(value: str, field: str, default: date) -> date:
    value = value.strip()
    if not value:
        return default
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            f"{FIELD_LABELS[field]}: '{value}' is not a date (YYYY-MM-DD).", field=field
        ) from None


def _store_id(value: str) -> int | None:
    value = value.strip()
    if not value:
        return None
    if not value.isdigit():
        raise InvalidInput(f"'{value}' is not a valid store.", field="store_id")
    return int(value)


@router.get("/reports/touchpoints", response_class=HTMLResponse)
def touchpoint_report_page(
    request: Request,
    session: Uow,
    ctx: ConsoleContext,
    period_start: Annotated[str, Query(max_length=10)] = "",
    period_end: Annotated[str, Query(max_length=10)] = "",
    group_by: ReportGrouping = ReportGrouping.TOUCHPOINT,
    store_id: Annotated[str, Query(max_length=20)] = "",
    retried: Annotated[int | None, Query(ge=0)] = None,
) -> Response:
    default_start, default_end = report.default_period()
    query = report.ReportQuery(
        period_start=_date(period_start, "period_start", default_start),
        period_end=_date(period_end, "period_end", default_end),
        group_by=group_by,
        store_id=_store_id(store_id),
        limit=1000,
    )
    result = report.touchpoint_report(session, ctx.actor, query)
    stores, _ = org_service.list_stores(session, ctx.actor, limit=STORE_LIMIT)
    # Scans and visits count once loaded: staff who run tracking see what still waits.
    backlog = (
        tracking_service.event_backlog(session, ctx.actor)
        if ctx.actor.can(Permission.TRACKING_WRITE)
        else None
    )
    widest = max((row.gmv_fen for row in result.rows), default=0) or 1
    return render(
        request,
        "attribution/report.html",
        {
            "ctx": ctx,
            "report": result,
            "backlog": backlog,
            "retried": retried,
            "stores": stores,
            "filters": {
                "period_start": query.period_start.isoformat(),
                "period_end": query.period_end.isoformat(),
                "group_by": query.group_by.value,
                "store_id": query.store_id,
            },
            "grouping_labels": GROUPING_LABELS,
            "model_label": MODEL_LABELS[result.model],
            "bar_percent": lambda fen: round(100 * fen / widest),
            "yuan": format_yuan,
        },
    )


def _settings_page(
    request: Request,
    session: Session,
    ctx: SessionContext,
    form: dict[str, Any] | None = None,
    problem: FormProblem | None = None,
    notice: str | None = None,
) -> Response:
    current = service.get_settings(session, ctx.actor)
    return render(
        request,
        "attribution/settings.html",
        {
            "ctx": ctx,
            "current": current,
            "form": form or current.model_dump(mode="json"),
            "models": [(model.value, MODEL_LABELS[model]) for model in AttributionModel],
            "can_change": ctx.actor.can(Permission.ATTRIBUTION_WRITE),
            "notice": notice,
            **problem_context(problem),
        },
        status_code=problem.status if problem else 200,
    )


@router.get("/attribution", response_class=HTMLResponse)
def settings_page(
    request: Request, session: Uow, ctx: ConsoleContext, saved: bool = False
) -> Response:
    notice = "Saved. Paid orders are being re-attributed." if saved else None
    return _settings_page(request, session, ctx, notice=notice)


@router.post("/attribution", response_class=HTMLResponse)
def change_settings(
    request: Request,
    session: Uow,
    ctx: ConsoleForm,
    model: Annotated[str, Form(max_length=24)] = "",
    lookback_days: Number = "",
    position_first_percent: Number = "",
    position_middle_percent: Number = "",
    position_last_percent: Number = "",
    half_life_days: Number = "",
) -> Response:
    form = {
        "model": model,
        "lookback_days": lookback_days,
        "position_first_percent": position_first_percent,
        "position_middle_percent": position_middle_percent,
        "position_last_percent": position_last_percent,
        "half_life_days": half_life_days,
    }
    try:
        data = AttributionSettingsIn.model_validate(
            {key: value.strip() for key, value in form.items() if value.strip()}
        )
        service.change_settings(session, ctx.actor, data)
    except (ValidationError, SiyuError) as error:
        problem = form_problem(session, error, FIELD_LABELS)
        return _settings_page(request, session, ctx, form, problem)
    return RedirectResponse("/console/attribution?saved=true", status_code=303)


@router.post("/reports/touchpoints/backlog/retry", response_class=HTMLResponse)
def retry_set_aside_batches(session: Uow, ctx: ConsoleForm) -> Response:
    """Hand the batches the loader set aside back to it (tracking:write)."""
    batches, _ = tracking_service.retry_set_aside_batches(session, ctx.actor)
    return RedirectResponse(f"/console/reports/touchpoints?retried={batches}", status_code=303)
