"""CSRF protection for console forms.

Logged-in forms carry the session's CSRF token (hidden field ``csrf_token`` or header
``X-CSRF-Token`` for HTMX). The login form, which has no session yet, uses a double-submit
cookie.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import Depends, Request

from siyu.access.service import SessionContext
from siyu.config import get_settings
from siyu.core.errors import PermissionDenied
from siyu.web.deps import console_context

LOGIN_CSRF_COOKIE = "siyu_login_csrf"


class CsrfFailed(PermissionDenied):
    code = "csrf_failed"


def new_token() -> str:
    return secrets.token_urlsafe(32)


def cookie_is_secure(request: Request) -> bool:
    mode = get_settings().cookie_secure
    if mode == "always":
        return True
    if mode == "never":
        return False
    forwarded = request.headers.get("x-forwarded-proto", "")
    return request.url.scheme == "https" or forwarded == "https"


async def submitted_token(request: Request) -> str:
    header = request.headers.get("x-csrf-token")
    if header:
        return header
    form = await request.form()
    value = form.get("csrf_token")
    return value if isinstance(value, str) else ""


def check_token(expected: str, submitted: str) -> None:
    if not expected or not submitted or not hmac.compare_digest(expected, submitted):
        raise CsrfFailed("The form has expired or did not come from this site; reload and retry.")


async def console_form_context(
    request: Request,
    context: Annotated[SessionContext, Depends(console_context, scope="function")],
) -> SessionContext:
    """The console session, after checking the submitted CSRF token against it."""
    check_token(context.console_session.csrf_token, await submitted_token(request))
    return context


ConsoleForm = Annotated[SessionContext, Depends(console_form_context, scope="function")]
