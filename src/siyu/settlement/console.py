"""Console pages of franchise settlement: the statements a user may see, one statement with its
per-store lines (and its CSV), and HQ's form that runs a settlement.

A thin adapter over ``siyu.settlement.service``; a refused run is shown on the form after
rolling back whatever the call had begun.
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
from siyu.core.errors import InvalidInput, SiyuError
from siyu.settlement import service
from siyu.settlement.rules import format_yuan
from siyu.settlement.schemas import SettlementRunIn
from siyu.web.csrf import ConsoleForm
from siyu.web.deps import ConsoleContext, Uow
from siyu.web.forms import PAGE_SIZE, FormProblem, form_problem, pager, problem_context
from siyu.web.templating import render

router = APIRouter()

FIELD_LABELS = {"period_start": "From", "period_end": "To (excluded)"}
DateText = Annotated[str, Form(max_length=20)]


def _date(value: str, field: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(
            f"{FIELD_LABELS[field]}: '{value}' is not a date (YYYY-MM-DD).", field=field
        ) from None


def _statements_page(
    request: Request,
    session: Session,
    ctx: SessionContext,
    page: int,
    form: dict[str, Any] | None = None,
    problem: FormProblem | None = None,
    notice: str | None = None,
) -> Response:
    statements, total = service.list_statements(
        session, ctx.actor, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
    )
    return render(
        request,
        "settlement/statements.html",
        {
            "ctx": ctx,
            "statements": statements,
            "pager": pager(total, page, {}),
            "can_run": ctx.actor.can(Permission.SETTLEMENT_WRITE),
            "form": form or {},
            "notice": notice,
            "yuan": format_yuan,
            **problem_context(problem),
        },
        status_code=problem.status if problem else 200,
    )


@router.get("/settlement", response_class=HTMLResponse)
def statements_page(
    request: Request,
    session: Uow,
    ctx: ConsoleContext,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    run: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    notice = f"Settlement run {run} done." if run else None
    return _statements_page(request, session, ctx, page, notice=notice)


@router.post("/settlement/runs", response_class=HTMLResponse)
def run_settlement(
    request: Request,
    session: Uow,
    ctx: ConsoleForm,
    period_start: DateText = "",
    period_end: DateText = "",
) -> Response:
    form = {"period_start": period_start, "period_end": period_end}
    try:
        data = SettlementRunIn(
            period_start=_date(period_start, "period_start"),
            period_end=_date(period_end, "period_end"),
        )
        run = service.run_settlement(
            session, ctx.actor, period_start=data.period_start, period_end=data.period_end
        )
    except (ValidationError, SiyuError) as error:
        problem = form_problem(session, error, FIELD_LABELS)
        return _statements_page(request, session, ctx, 1, form, problem)
    return RedirectResponse(f"/console/settlement?run={run.id}", status_code=303)


@router.get("/settlement/statements/{statement_id}", response_class=HTMLResponse)
def statement_page(
    request: Request, statement_id: int, session: Uow, ctx: ConsoleContext
) -> Response:
    statement = service.get_statement(session, ctx.actor, statement_id)
    return render(
        request,
        "settlement/statement.html",
        {"ctx": ctx, "statement": statement, "yuan": format_yuan},
    )


@router.get("/settlement/statements/{statement_id}/csv")
def statement_csv(statement_id: int, session: Uow, ctx: ConsoleContext) -> Response:
    statement = service.get_statement(session, ctx.actor, statement_id)
    filename = f"statement-{statement.franchisee_code}-{statement.period_start.isoformat()}.csv"
    return Response(
        service.statement_csv(statement),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
