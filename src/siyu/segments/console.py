"""Console pages of tags and segments: the tag list (with a form for a new tag), the segment
list, the segment editor with a live preview count (HTMX), refresh, and the CSV export.

A thin adapter over ``siyu.segments.service`` and ``siyu.segments.tags``; a refused form is
shown again with what was typed and the reason (for a rule: its JSON path), after rolling back
whatever the call had begun.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from pydantic import ValidationError
from sqlalchemy.orm import Session

from siyu.access.rules import Permission
from siyu.access.service import SessionContext
from siyu.core.errors import SiyuError
from siyu.segments import conditions, service, tags
from siyu.segments.api import csv_export, segment_out, tag_out
from siyu.segments.errors import SegmentRuleInvalid
from siyu.segments.rules import Schedule, TagKind
from siyu.segments.schemas import SegmentCreate, SegmentUpdate, TagCreate
from siyu.web.csrf import ConsoleForm
from siyu.web.deps import ConsoleContext, Uow
from siyu.web.forms import FormProblem, form_problem, problem_context
from siyu.web.templating import render

router = APIRouter()

FIELD_LABELS = {
    "code": "Code",
    "name": "Name",
    "group": "Group",
    "kind": "Kind",
    "rule": "Rule",
    "schedule": "Schedule",
    "description": "Description",
}
SCHEDULE_LABELS = {
    Schedule.MANUAL.value: "Manual 手动",
    Schedule.HOURLY.value: "Hourly 每小时",
    Schedule.DAILY.value: "Daily 每天",
}
EXAMPLE_RULE = {
    "all": [
        {"tier": {"in": ["gold"]}},
        {"events": {"kind": "visit", "within_days": 30, "at_least": 2}},
    ]
}
Text = Annotated[str, Form(max_length=20_000)]


def _rule_from_text(raw: str) -> object:
    """The rule typed in the editor, as JSON (malformed JSON is a rule problem at ``rule``)."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError as error:
        raise SegmentRuleInvalid(
            f"The rule is not valid JSON: {error.msg} (line {error.lineno}, column {error.colno}).",
            field="rule",
        ) from error


def _segment_values(form: dict[str, str]) -> dict[str, object]:
    """The editor's fields as the segment schemas take them (the rule parsed from JSON)."""
    return form | {"rule": _rule_from_text(form["rule"])}


# ---------------------------------------------------------------- tags


def _tags_page(
    request: Request,
    session: Session,
    ctx: SessionContext,
    *,
    form: dict[str, Any] | None = None,
    problem: FormProblem | None = None,
) -> Response:
    rows = tags.list_tags(session, ctx.actor)
    return render(
        request,
        "segments/tags.html",
        {
            "ctx": ctx,
            "tags": [tag_out(t) for t in rows],
            "can_write": ctx.actor.can(Permission.SEGMENT_WRITE),
            "form": form or {"kind": "manual", "schedule": "daily"},
            "schedule_labels": SCHEDULE_LABELS,
            **problem_context(problem),
        },
        status_code=problem.status if problem else 200,
    )


@router.get("/tags", response_class=HTMLResponse)
def tags_page(request: Request, session: Uow, ctx: ConsoleContext) -> Response:
    """The brand's tags by group, and (for segment:write) a form to define one."""
    ctx.actor.require(Permission.MEMBER_READ)
    return _tags_page(request, session, ctx)


@router.post("/tags", response_class=HTMLResponse)
def create_tag_form(
    request: Request,
    session: Uow,
    ctx: ConsoleForm,
    code: Text = "",
    name: Text = "",
    group: Text = "",
    kind: Text = "manual",
    rule: Text = "",
    schedule: Text = "daily",
) -> Response:
    form = {
        "code": code,
        "name": name,
        "group": group,
        "kind": kind,
        "rule": rule,
        "schedule": schedule,
    }
    try:
        values: dict[str, Any] = {
            "code": code,
            "name": name,
            "group": group.strip() or None,
            "kind": kind,
            "schedule": schedule,
        }
        if kind == TagKind.RULE.value:
            values["rule"] = _rule_from_text(rule)
        tags.create_tag(session, ctx.actor, TagCreate.model_validate(values))
    except (ValidationError, SiyuError) as error:
        problem = form_problem(session, error, FIELD_LABELS)
        return _tags_page(request, session, ctx, form=form, problem=problem)
    return RedirectResponse("/console/tags", status_code=303)


# ---------------------------------------------------------------- segments


@router.get("/segments", response_class=HTMLResponse)
def segments_page(request: Request, session: Uow, ctx: ConsoleContext) -> Response:
    """Saved segments with their member counts, schedules and export links."""
    rows, total = service.list_segments(session, ctx.actor, limit=1000)
    return render(
        request,
        "segments/segments.html",
        {
            "ctx": ctx,
            "segments": [segment_out(s) for s in rows],
            "total": total,
            "can_write": ctx.actor.can(Permission.SEGMENT_WRITE),
            "schedule_labels": SCHEDULE_LABELS,
        },
    )


def _editor(
    request: Request,
    session: Session,
    ctx: SessionContext,
    *,
    segment_id: int | None,
    form: dict[str, Any],
    problem: FormProblem | None = None,
) -> Response:
    """The editor: new (``segment_id`` None) or a saved segment with its current members."""
    context: dict[str, Any] = {
        "ctx": ctx,
        "segment_id": segment_id,
        "segment": None,
        "members": [],
        "member_total": 0,
        "form": form,
        "schedule_labels": SCHEDULE_LABELS,
        "conditions": sorted(conditions.CONDITIONS),
        "saved": request.query_params.get("saved"),
        "can_write": ctx.actor.can(Permission.SEGMENT_WRITE),
        **problem_context(problem),
    }
    if segment_id is not None:
        context["segment"] = segment_out(service.get_segment(session, ctx.actor, segment_id))
        context["members"], context["member_total"] = service.list_segment_members(
            session, ctx.actor, segment_id, limit=20
        )
    return render(
        request,
        "segments/editor.html",
        context,
        status_code=problem.status if problem else 200,
    )


@router.get("/segments/new", response_class=HTMLResponse)
def new_segment_page(request: Request, session: Uow, ctx: ConsoleContext) -> Response:
    ctx.actor.require(Permission.SEGMENT_WRITE)
    form = {
        "name": "",
        "description": "",
        "schedule": Schedule.DAILY.value,
        "rule": json.dumps(EXAMPLE_RULE, ensure_ascii=False, indent=2),
    }
    return _editor(request, session, ctx, segment_id=None, form=form)


@router.post("/segments/new", response_class=HTMLResponse)
def create_segment_form(
    request: Request,
    session: Uow,
    ctx: ConsoleForm,
    name: Text = "",
    description: Text = "",
    schedule: Text = "daily",
    rule: Text = "",
) -> Response:
    form = {"name": name, "description": description, "schedule": schedule, "rule": rule}
    try:
        data = SegmentCreate.model_validate(_segment_values(form))
        row = service.create_segment(session, ctx.actor, data)
    except (ValidationError, SiyuError) as error:
        problem = form_problem(session, error, FIELD_LABELS)
        return _editor(request, session, ctx, segment_id=None, form=form, problem=problem)
    return RedirectResponse(f"/console/segments/{row.id}?saved=created", status_code=303)


@router.get("/segments/{segment_id}", response_class=HTMLResponse)
def segment_page(request: Request, segment_id: int, session: Uow, ctx: ConsoleContext) -> Response:
    """The editor of a saved segment, with its members as of the last refresh."""
    row = service.get_segment(session, ctx.actor, segment_id)
    form = {
        "name": row.name,
        "description": row.description,
        "schedule": row.schedule,
        "rule": json.dumps(row.rule, ensure_ascii=False, indent=2),
    }
    return _editor(request, session, ctx, segment_id=row.id, form=form)


@router.post("/segments/{segment_id}", response_class=HTMLResponse)
def update_segment_form(
    request: Request,
    segment_id: int,
    session: Uow,
    ctx: ConsoleForm,
    name: Text = "",
    description: Text = "",
    schedule: Text = "daily",
    rule: Text = "",
) -> Response:
    form = {"name": name, "description": description, "schedule": schedule, "rule": rule}
    try:
        data = SegmentUpdate.model_validate(_segment_values(form))
        service.update_segment(session, ctx.actor, segment_id, data)
    except (ValidationError, SiyuError) as error:
        problem = form_problem(session, error, FIELD_LABELS)
        return _editor(request, session, ctx, segment_id=segment_id, form=form, problem=problem)
    return RedirectResponse(f"/console/segments/{segment_id}?saved=updated", status_code=303)


@router.post("/segments/{segment_id}/refresh")
def refresh_segment_form(segment_id: int, session: Uow, ctx: ConsoleForm) -> Response:
    service.refresh_segment(session, ctx.actor, segment_id)
    return RedirectResponse(f"/console/segments/{segment_id}?saved=refreshed", status_code=303)


@router.post("/segments-preview", response_class=HTMLResponse)
def preview_fragment(request: Request, session: Uow, ctx: ConsoleForm, rule: Text = "") -> Response:
    """The live preview (HTMX): the count and a sample, or why the rule is not valid yet."""
    try:
        preview = service.preview_segment(session, ctx.actor, _rule_from_text(rule))
    except SegmentRuleInvalid as error:
        session.rollback()
        return render(
            request,
            "segments/_preview.html",
            {"preview": None, "error": error.message, "errors": error.extra.get("errors", [])},
        )
    return render(request, "segments/_preview.html", {"preview": preview, "error": None})


@router.get("/segments/{segment_id}/export.csv")
def export_segment_csv(
    request: Request, segment_id: int, session: Uow, ctx: ConsoleContext
) -> StreamingResponse:
    """The members as CSV (phones masked unless the staff member has member:pii)."""
    return csv_export(request, session, ctx.actor, segment_id)
