"""Console page of tiers and points: the brand's tier ladder and points policy, and HQ's forms
that replace the ladder and set the policy.

A thin adapter over ``siyu.loyalty.service``; a refused form is shown again with what was typed
and the reason, after rolling back whatever the call had begun.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from siyu.access.rules import Permission
from siyu.access.service import SessionContext
from siyu.core.errors import InvalidInput, SiyuError
from siyu.loyalty import service
from siyu.loyalty.schemas import PointsPolicyIn, TierIn, TierOut, TierSetIn
from siyu.web.csrf import ConsoleForm
from siyu.web.deps import ConsoleContext, Uow
from siyu.web.forms import FormProblem, form_problem, problem_context
from siyu.web.templating import render

router = APIRouter()

BLANK_ROWS = 2
FIELD_LABELS = {
    "tiers": "Tiers",
    "points_per_yuan": "Points per yuan",
    "expiry_months": "Expiry (months)",
    "redeem_points_per_yuan": "Points per ¥1 at checkout",
    "max_redeem_permille": "Share points may pay (‰)",
}
Column = Annotated[list[str], Form()]
Number = Annotated[str, Form(max_length=12)]


def _page(
    request: Request,
    session: Session,
    ctx: SessionContext,
    *,
    rows: list[dict[str, Any]] | None = None,
    policy_form: dict[str, Any] | None = None,
    problem: FormProblem | None = None,
    problem_form: str | None = None,
    notice: str | None = None,
) -> Response:
    tiers = service.list_tiers(session, ctx.actor)
    policy = service.get_points_policy(session, ctx.actor)
    if rows is None:
        rows = [TierOut.model_validate(t).model_dump() for t in tiers]
        rows += [
            {"sort": (len(tiers) + n + 1) * 10, "points_multiplier_permille": 1000}
            for n in range(BLANK_ROWS)
        ]
    return render(
        request,
        "loyalty/loyalty.html",
        {
            "ctx": ctx,
            "tiers": tiers,
            "rows": rows,
            "policy": policy,
            "form": policy_form or policy.model_dump(),
            "can_write": ctx.actor.can(Permission.LOYALTY_WRITE),
            "problem_form": problem_form,
            "notice": notice,
            **problem_context(problem),
        },
        status_code=problem.status if problem else 200,
    )


@router.get("/loyalty", response_class=HTMLResponse)
def loyalty_page(
    request: Request, session: Uow, ctx: ConsoleContext, saved: str | None = None
) -> Response:
    notice = {"tiers": "Tiers saved.", "policy": "Points policy saved."}.get(saved or "")
    return _page(request, session, ctx, notice=notice)


def _number(value: str, field: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise InvalidInput(f"'{value}' is not a whole number.", field=field) from None


@router.post("/loyalty/tiers", response_class=HTMLResponse)
def replace_tiers(
    request: Request,
    session: Uow,
    ctx: ConsoleForm,
    code: Column,
    name: Column,
    min_growth_value: Column,
    points_multiplier_permille: Column,
    sort: Column,
) -> Response:
    """Rows with an empty code are left out; the rest replace the ladder."""
    columns = (code, name, min_growth_value, points_multiplier_permille, sort)
    rows = [
        {
            "code": c,
            "name": n,
            "min_growth_value": g,
            "points_multiplier_permille": m,
            "sort": s,
        }
        for c, n, g, m, s in zip(*columns, strict=False)
    ]
    try:
        tiers = [
            TierIn(
                code=row["code"],
                name=row["name"],
                min_growth_value=_number(row["min_growth_value"], "tiers"),
                points_multiplier_permille=_number(row["points_multiplier_permille"], "tiers"),
                sort=_number(row["sort"], "tiers"),
            )
            for row in rows
            if row["code"].strip()
        ]
        service.replace_tiers(session, ctx.actor, TierSetIn(tiers=tiers))
    except (ValidationError, SiyuError) as error:
        problem = form_problem(session, error, FIELD_LABELS)
        return _page(request, session, ctx, rows=rows, problem=problem, problem_form="tiers")
    return RedirectResponse("/console/loyalty?saved=tiers", status_code=303)


@router.post("/loyalty/points-policy", response_class=HTMLResponse)
def set_points_policy(
    request: Request,
    session: Uow,
    ctx: ConsoleForm,
    points_per_yuan: Number = "",
    expiry_months: Number = "",
    redeem_points_per_yuan: Number = "",
    max_redeem_permille: Number = "",
    enabled: Annotated[str | None, Form()] = None,
) -> Response:
    form = {
        "points_per_yuan": points_per_yuan,
        "expiry_months": expiry_months,
        "redeem_points_per_yuan": redeem_points_per_yuan,
        "max_redeem_permille": max_redeem_permille,
        "enabled": enabled is not None,
    }
    try:
        data = PointsPolicyIn(
            points_per_yuan=_number(points_per_yuan, "points_per_yuan"),
            expiry_months=_number(expiry_months, "expiry_months"),
            redeem_points_per_yuan=_number(redeem_points_per_yuan, "redeem_points_per_yuan"),
            max_redeem_permille=_number(max_redeem_permille, "max_redeem_permille"),
            enabled=enabled is not None,
        )
        service.set_points_policy(session, ctx.actor, data)
    except (ValidationError, SiyuError) as error:
        problem = form_problem(session, error, FIELD_LABELS)
        return _page(
            request, session, ctx, policy_form=form, problem=problem, problem_form="policy"
        )
    return RedirectResponse("/console/loyalty?saved=policy", status_code=303)
