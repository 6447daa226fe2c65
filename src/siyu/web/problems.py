"""Errors as application/problem+json (RFC 9457) with a stable ``code`` and the request id.

Console pages get the same information as HTML, and a redirect to the login page when the
session is missing.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from siyu.core.context import current_request_id
from siyu.core.errors import NotAuthenticated, SiyuError
from siyu.core.logging import get_logger

PROBLEM_MEDIA_TYPE = "application/problem+json"
log = get_logger("siyu.web")

_HTTP_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
}


def problem_response(
    status: int,
    code: str,
    detail: str,
    *,
    field: str | None = None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"urn:siyu:problem:{code}",
        "title": code.replace("_", " ").capitalize(),
        "status": status,
        "code": code,
        "detail": detail,
        "field": field,
        "request_id": current_request_id(),
    }
    if extra:
        body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _wants_html(request: Request) -> bool:
    return request.url.path.startswith("/console")


def _html_error(request: Request, status: int, detail: str) -> Response:
    from siyu.web.templating import render

    return render(request, "error.html", {"status": status, "detail": detail}, status_code=status)


def _field_of(location: tuple[Any, ...] | list[Any]) -> str | None:
    parts = [str(p) for p in location if p not in ("body", "query", "path", "header", "cookie")]
    return ".".join(parts) or None


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(SiyuError)
    def siyu_error(request: Request, error: SiyuError) -> Response:
        if _wants_html(request):
            if isinstance(error, NotAuthenticated):
                return RedirectResponse("/console/login", status_code=303)
            return _html_error(request, error.status, error.message)
        headers = None
        if error.status == 429 and "retry_after_seconds" in error.extra:
            headers = {"Retry-After": str(error.extra["retry_after_seconds"])}
        if error.status == 401:
            headers = {"WWW-Authenticate": "Bearer"}
        return problem_response(
            error.status,
            error.code,
            error.message,
            field=error.field,
            extra=error.extra,
            headers=headers,
        )

    @app.exception_handler(RequestValidationError)
    def validation_error(request: Request, error: RequestValidationError) -> Response:
        errors = [
            {"field": _field_of(e.get("loc", ())), "message": e.get("msg", "invalid")}
            for e in error.errors()
        ]
        first = errors[0] if errors else {"field": None, "message": "invalid request"}
        detail = (
            f"{first['field']}: {first['message']}" if first["field"] else str(first["message"])
        )
        if _wants_html(request):
            return _html_error(request, 422, detail)
        return problem_response(
            422, "validation_error", detail, field=first["field"], extra={"errors": errors}
        )

    @app.exception_handler(StarletteHTTPException)
    def http_error(request: Request, error: StarletteHTTPException) -> Response:
        code = _HTTP_CODES.get(error.status_code, "http_error")
        if _wants_html(request):
            return _html_error(request, error.status_code, str(error.detail))
        return problem_response(
            error.status_code, code, str(error.detail), headers=getattr(error, "headers", None)
        )

    # Unexpected exceptions are answered by siyu.web.middleware, inside the request's context.
