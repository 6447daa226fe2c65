"""Console pages of consent: the brand's messaging policy editor (consent:write) and the send
decisions view (report:read). A thin adapter over ``siyu.consent.service``; a refused save is
shown on the form after rolling back whatever it had begun."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from siyu.access.service import SessionContext
from siyu.consent import policy as policies
from siyu.consent import service
from siyu.consent.rules import CHANNEL_LABELS, REASON_LABELS, Channel, Purpose, SendReason
from siyu.consent.schemas import PolicyIn, PolicyOut
from siyu.core.errors import InvalidInput, SiyuError
from siyu.web.csrf import ConsoleForm
from siyu.web.deps import ConsoleContext, Uow
from siyu.web.forms import PAGE_SIZE, FormProblem, form_problem, pager, problem_context
from siyu.web.templating import render

router = APIRouter()

BYPASSABLE = (Purpose.TRANSACTIONAL, Purpose.SERVICE)
BYPASS_FIELDS = ("bypass_opt_out", "bypass_caps", "bypass_quiet_hours")
FIELD_LABELS = {
    "quiet_hours": "Quiet hours",
    "channels": "Channels",
    "purposes": "Purposes",
    **{f"{c.value}.daily_cap": f"{CHANNEL_LABELS[c]} daily cap" for c in Channel},
    **{f"{c.value}.weekly_cap": f"{CHANNEL_LABELS[c]} weekly cap" for c in Channel},
}


async def submitted_form(request: Request) -> dict[str, str]:
    """Every text field of the submitted form (the policy form's fields are per channel)."""
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


SubmittedForm = Annotated[dict[str, str], Depends(submitted_form)]


def _form_of(policy: PolicyOut) -> dict[str, Any]:
    """The policy as the form's field values."""
    form: dict[str, Any] = {
        "quiet_start": policy.quiet_hours.start.strftime("%H:%M") if policy.quiet_hours else "",
        "quiet_end": policy.quiet_hours.end.strftime("%H:%M") if policy.quiet_hours else "",
    }
    for channel, rule in policy.channels.items():
        form[f"{channel.value}.opt_out_based"] = rule.opt_out_based
        form[f"{channel.value}.daily_cap"] = "" if rule.daily_cap is None else str(rule.daily_cap)
        form[f"{channel.value}.weekly_cap"] = (
            "" if rule.weekly_cap is None else str(rule.weekly_cap)
        )
    for purpose in BYPASSABLE:
        bypass = policy.purposes[purpose]
        for name in BYPASS_FIELDS:
            form[f"{purpose.value}.{name}"] = getattr(bypass, name)
    return form


def _policy_in(form: dict[str, str]) -> PolicyIn:
    """The submitted form as a policy; blanks are no cap, unchecked boxes false."""
    quiet_start = form.get("quiet_start", "").strip()
    quiet_end = form.get("quiet_end", "").strip()
    if bool(quiet_start) != bool(quiet_end):
        raise InvalidInput("Quiet hours need both a start and an end.", field="quiet_start")
    channels: dict[str, dict[str, Any]] = {}
    for channel in Channel:
        channels[channel.value] = {
            "opt_out_based": bool(form.get(f"{channel.value}.opt_out_based")),
            "daily_cap": form.get(f"{channel.value}.daily_cap", "").strip() or None,
            "weekly_cap": form.get(f"{channel.value}.weekly_cap", "").strip() or None,
        }
    purposes = {
        purpose.value: {name: bool(form.get(f"{purpose.value}.{name}")) for name in BYPASS_FIELDS}
        for purpose in BYPASSABLE
    }
    quiet = {"start": quiet_start, "end": quiet_end} if quiet_start else None
    return PolicyIn.model_validate(
        {"quiet_hours": quiet, "channels": channels, "purposes": purposes}
    )


def _policy_page(
    request: Request,
    session: Session,
    ctx: SessionContext,
    form: dict[str, Any] | None = None,
    problem: FormProblem | None = None,
    notice: str | None = None,
) -> Response:
    policy = policies.get_policy(session, ctx.actor)
    return render(
        request,
        "consent/policy.html",
        {
            "ctx": ctx,
            "policy": policy,
            "form": form if form is not None else _form_of(policy),
            "channels": [(c.value, CHANNEL_LABELS[c]) for c in Channel],
            "purposes": [p.value for p in BYPASSABLE],
            "notice": notice,
            **problem_context(problem),
        },
        status_code=problem.status if problem else 200,
    )


@router.get("/consent", response_class=HTMLResponse)
def policy_page(
    request: Request,
    session: Uow,
    ctx: ConsoleContext,
    saved: Annotated[int | None, Query(ge=1, le=1)] = None,
) -> Response:
    return _policy_page(request, session, ctx, notice="Policy saved." if saved else None)


@router.post("/consent/policy", response_class=HTMLResponse)
def save_policy(
    request: Request, session: Uow, ctx: ConsoleForm, submitted: SubmittedForm
) -> Response:
    form: dict[str, Any] = dict(submitted)
    try:
        policies.set_policy(session, ctx.actor, _policy_in(submitted))
    except (ValidationError, SiyuError) as error:
        problem = form_problem(session, error, FIELD_LABELS)
        return _policy_page(request, session, ctx, form, problem)
    return RedirectResponse("/console/consent?saved=1", status_code=303)


def _choice(value: str | None, kind: Callable[[str], Any], field: str) -> Any:
    if not value:
        return None
    try:
        return kind(value)
    except ValueError:
        raise InvalidInput(f"'{value}' is not a valid {field}.", field=field) from None


@router.get("/consent/decisions", response_class=HTMLResponse)
def decisions_page(
    request: Request,
    session: Uow,
    ctx: ConsoleContext,
    reason: Annotated[str | None, Query(max_length=32)] = None,
    channel: Annotated[str | None, Query(max_length=32)] = None,
    day: Annotated[str | None, Query(max_length=10)] = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
) -> Response:
    """Send decisions, newest first, filtered by reason, channel and the brand's local day."""
    filters = {"reason": reason, "channel": channel, "day": day}
    rows, total = service.list_decisions(
        session,
        ctx.actor,
        reason=_choice(reason, SendReason, "reason"),
        channel=_choice(channel, Channel, "channel"),
        day=_choice(day, date.fromisoformat, "day"),
        limit=PAGE_SIZE,
        offset=(page - 1) * PAGE_SIZE,
    )
    return render(
        request,
        "consent/decisions.html",
        {
            "ctx": ctx,
            "decisions": rows,
            "pager": pager(total, page, filters),
            "form": {k: v or "" for k, v in filters.items()},
            "reasons": [(r.value, f"{r.value} · {REASON_LABELS[r]}") for r in SendReason],
            "channels": [(c.value, f"{c.value} · {CHANNEL_LABELS[c]}") for c in Channel],
            "reason_labels": {r.value: REASON_LABELS[r] for r in SendReason},
        },
    )
