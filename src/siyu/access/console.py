"""Console login, logout and the home page with the organization tree."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from siyu.access import service
from siyu.config import get_settings
from siyu.org.service import org_tree
from siyu.web.csrf import (
    LOGIN_CSRF_COOKIE,
    ConsoleForm,
    check_token,
    cookie_is_secure,
    new_token,
)
from siyu.web.deps import SESSION_COOKIE, ConsoleContext, Uow
from siyu.web.templating import render

router = APIRouter()


def _login_page(request: Request, error: str | None, brand: str, login: str, status: int) -> Response:
    token = new_token()
    response = render(
        request,
        "login.html",
        {"csrf_token": token, "error": error, "brand": brand, "login": login},
        status_code=status,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict",
        secure=cookie_is_secure(request), max_age=3600, path="/console",
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
        SESSION_COOKIE, result.session_token, httponly=True, samesite="lax",
        secure=cookie_is_secure(request), max_age=get_settings().session_ttl_hours * 3600,
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
