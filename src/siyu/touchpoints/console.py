"""Console pages of bulk 布码: start a run (kind, stores, campaign, medium), watch its progress
bar (the fragment polls itself every second with HTMX until the run has finished), download
its ZIP.

A thin adapter over ``siyu.touchpoints.runs`` (as ``siyu.touchpoints.api``); a refused run is
shown on the form after rolling back whatever the call had begun.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from siyu.access.rules import Permission
from siyu.access.service import SessionContext
from siyu.core.errors import SiyuError
from siyu.org.service import list_regions
from siyu.touchpoints import runs, service
from siyu.touchpoints.api import run_archive_response, run_out
from siyu.touchpoints.rules import MEDIUM_LABELS, Medium
from siyu.touchpoints.schemas import StoreCodeRunOut, StoreCodesRequest
from siyu.web.csrf import ConsoleForm
from siyu.web.deps import ConsoleContext, Uow
from siyu.web.forms import FormProblem, form_problem, problem_context
from siyu.web.templating import render

router = APIRouter()

PAGE = "/console/touchpoints/store-codes"
FIELD_LABELS = {
    "kind": "Kind 触点类型",
    "region_id": "Region 区域",
    "campaign": "Campaign 活动",
    "medium": "Medium 码型",
    "store_ids": "Stores 门店",
}
STATUS_LABELS = {
    runs.QUEUED: "Queued 排队中",
    runs.RUNNING: "Printing 生成中",
    runs.SUCCEEDED: "Done 已完成",
    runs.FAILED: "Failed 失败",
}
Text = Annotated[str, Form(max_length=100)]


def _run_view(run: Any) -> StoreCodeRunOut:
    return run_out(run, archive_path=PAGE + "/runs")


def _form_page(
    request: Request,
    session: Session,
    ctx: SessionContext,
    form: dict[str, Any] | None = None,
    problem: FormProblem | None = None,
) -> Response:
    ctx.actor.require(Permission.TOUCHPOINT_WRITE)
    kinds = [(k.code, f"{k.label} ({k.code})") for k in service.list_kinds(session, ctx.actor)]
    regions = [(r.id, f"{r.name} ({r.code})") for r in list_regions(session, ctx.actor)]
    return render(
        request,
        "touchpoints/store_codes.html",
        {
            "ctx": ctx,
            "kinds": kinds,
            "regions": regions,
            "media": [(m.value, f"{MEDIUM_LABELS[m]} ({m.value})") for m in Medium],
            "runs": [_run_view(run) for run in runs.list_runs(session, ctx.actor)],
            "status_labels": STATUS_LABELS,
            "form": form or {"kind": "shelf_code", "medium": Medium.LINK_QR.value},
            **problem_context(problem),
        },
        status_code=problem.status if problem else 200,
    )


@router.get("/touchpoints/store-codes", response_class=HTMLResponse)
def store_codes_page(request: Request, session: Uow, ctx: ConsoleContext) -> Response:
    """The form to start a run, and your recent runs (HQ: the brand's)."""
    return _form_page(request, session, ctx)


@router.post("/touchpoints/store-codes/runs", response_class=HTMLResponse)
def start_run(
    request: Request,
    session: Uow,
    ctx: ConsoleForm,
    kind: Text = "",
    medium: Text = Medium.LINK_QR.value,
    campaign: Text = "",
    region_id: Text = "",
) -> Response:
    form = {"kind": kind, "medium": medium, "campaign": campaign, "region_id": region_id}
    try:
        data = StoreCodesRequest.model_validate(
            {
                "kind": kind,
                "medium": medium,
                "campaign": campaign.strip() or None,
                "region_id": region_id or None,
            }
        )
        run = runs.start_run(session, ctx.actor, data)
    except (ValidationError, SiyuError) as error:
        return _form_page(request, session, ctx, form, form_problem(session, error, FIELD_LABELS))
    return RedirectResponse(f"{PAGE}/runs/{run.id}", status_code=303)


def _progress_context(ctx: SessionContext, run: StoreCodeRunOut) -> dict[str, Any]:
    percent = 100 if run.stores_total == 0 else run.stores_done * 100 // run.stores_total
    return {
        "ctx": ctx,
        "run": run,
        "percent": percent,
        "finished": run.status in {runs.SUCCEEDED, runs.FAILED},
        "status_labels": STATUS_LABELS,
        "page": PAGE,
    }


@router.get("/touchpoints/store-codes/runs/{run_id}", response_class=HTMLResponse)
def run_page(request: Request, run_id: int, session: Uow, ctx: ConsoleContext) -> Response:
    run = _run_view(runs.get_run(session, ctx.actor, run_id))
    return render(request, "touchpoints/store_code_run.html", _progress_context(ctx, run))


@router.get("/touchpoints/store-codes/runs/{run_id}/progress", response_class=HTMLResponse)
def run_progress(request: Request, run_id: int, session: Uow, ctx: ConsoleContext) -> Response:
    """The progress fragment; it replaces itself every second until the run has finished."""
    run = _run_view(runs.get_run(session, ctx.actor, run_id))
    return render(request, "touchpoints/_run_progress.html", _progress_context(ctx, run))


@router.get("/touchpoints/store-codes/runs/{run_id}/archive")
def run_archive(run_id: int, session: Uow, ctx: ConsoleContext) -> Response:
    return run_archive_response(*runs.run_archive(session, ctx.actor, run_id))
