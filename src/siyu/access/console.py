"""Console login, logout, the home page with the organization tree, and API tokens."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from siyu.access import service
from siyu.access.rules import Permission
from siyu.access.schemas import ApiTokenCreate
from siyu.access.service import SessionContext
from siyu.config import get_settings
from siyu.core.errors import SiyuError
from siyu.org.service import org_tree
from siyu.web.csrf import (
    LOGIN_CSRF_COOKIE,
    ConsoleForm,
    check_token,
    cookie_is_secure,
    new_token,
)
from siyu.web.deps import SESSION_COOKIE, ConsoleContext, Uow
from siyu.web.forms import FormProblem, form_problem, problem_context
from siyu.web.templating import render

router = APIRouter()


def _login_page(
    request: Request, error: str | None, brand: str, login: str, status: int
) -> Response:
    token = new_token()
    response = render(
        request,
        "login.html",
        {"csrf_token": token, "error": error, "brand": brand, "login": login},
        status_code=status,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=cookie_is_secure(request),
        max_age=3600,
        path="/console",
    )
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> Response:
    return _login_page(request, None, "", "", 200)


@router.post("/login", response_class=HTMLResponse)
def log_in(
    request: Request,
    session: Uow,
    brand: Annotated[str, Form(max_length=64)],
    login: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=200)],
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    check_token(request.cookies.get(LOGIN_CSRF_COOKIE, ""), csrf_token)
    client_ip = request.client.host if request.client else "unknown"
    result = service.log_in(
        session,
        brand_slug=brand,
        login=login,
        password=password,
        client_ip=client_ip,
        user_agent=request.headers.get("user-agent"),
    )
    if result.error is not None:
        # The attempt is committed with the request; the page says why without saying which
        # of brand, login or password was wrong.
        return _login_page(request, result.error.message, brand, login, result.error.status)
    assert result.session_token is not None
    response = RedirectResponse("/console", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        result.session_token,
        httponly=True,
        samesite="lax",
        secure=cookie_is_secure(request),
        max_age=get_settings().session_ttl_hours * 3600,
        path="/",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/console")
    return response


@router.post("/logout")
def log_out(session: Uow, context: ConsoleForm) -> Response:
    service.log_out(session, context.console_session)
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("", response_class=HTMLResponse)
def home(request: Request, session: Uow, context: ConsoleContext) -> Response:
    tree = org_tree(session, context.actor)
    return render(request, "home.html", {"ctx": context, "tree": tree})


# ---------------------------------------------------------------- API tokens

TOKEN_FIELD_LABELS = {
    "name": "Name",
    "kind": "Kind",
    "scopes": "Scopes",
    "expires_in_days": "Expires in (days)",
}
TOKEN_NOTICES = {"revoked": "Token revoked."}


def _tokens_page(
    request: Request,
    session: Session,
    context: SessionContext,
    form: dict[str, Any] | None = None,
    problem: FormProblem | None = None,
    notice: str | None = None,
) -> Response:
    actor = context.actor
    return render(
        request,
        "access/tokens.html",
        {
            "ctx": context,
            "tokens": service.list_tokens(session, actor),
            "can_integrate": actor.can(Permission.INTEGRATION_MANAGE),
            "scope_options": sorted(p.value for p in actor.permissions),
            "form": form or {"kind": "user", "scopes": []},
            **problem_context(problem),
            "notice": notice,
        },
        status_code=problem.status if problem else 200,
    )


@router.get("/tokens", response_class=HTMLResponse)
def tokens_page(
    request: Request,
    session: Uow,
    context: ConsoleContext,
    done: Annotated[str, Query(max_length=10)] = "",
) -> Response:
    return _tokens_page(request, session, context, notice=TOKEN_NOTICES.get(done))


@router.post("/tokens", response_class=HTMLResponse)
def issue_token(
    request: Request,
    session: Uow,
    context: ConsoleForm,
    name: Annotated[str, Form(max_length=500)] = "",
    kind: Annotated[str, Form(max_length=20)] = "user",
    scopes: Annotated[list[str] | None, Form()] = None,
    expires_in_days: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Issue a token and show its plain value on this response only. No scope ticked gives a
    user token all of its owner's permissions (an integration token must name its scopes)."""
    form = {"name": name, "kind": kind, "scopes": scopes or [], "expires_in_days": expires_in_days}
    values: dict[str, Any] = {"name": name, "kind": kind, "scopes": scopes or None}
    if expires_in_days.strip():
        values["expires_in_days"] = expires_in_days.strip()
    try:
        data = ApiTokenCreate.model_validate(values)
        row, plain = service.issue_token(session, context.actor, data)
    except (ValidationError, SiyuError) as error:
        problem = form_problem(session, error, TOKEN_FIELD_LABELS)
        return _tokens_page(request, session, context, form, problem)
    response = render(
        request,
        "access/token_issued.html",
        {"ctx": context, "token": row, "plain": plain},
        status_code=201,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/tokens/{token_id}/revoke")
def revoke_token(token_id: int, session: Uow, context: ConsoleForm) -> Response:
    service.revoke_token(session, context.actor, token_id)
    return RedirectResponse("/console/tokens?done=revoked", status_code=303)
