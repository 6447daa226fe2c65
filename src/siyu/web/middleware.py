"""Pure-ASGI middleware: request ids, access log and security headers."""

from __future__ import annotations

import itertools
import re
import time
import uuid
from typing import Any

import orjson
import structlog

from siyu.core.context import request_id_var
from siyu.core.logging import get_logger

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


_REQUEST_ID_PREFIX = uuid.uuid4().hex[:16]
_request_numbers = itertools.count(1)


def _next_request_id() -> str:
    """A unique request id, 32 hex digits like a UUID: a random per-process prefix and a
    counter (a uuid4 per request reads the OS's random source: ~7 % of the event API's
    time in bench/ingest.py)."""
    return f"{_REQUEST_ID_PREFIX}{next(_request_numbers):016x}"


log = get_logger("siyu.access")

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]


async def _send_internal_error(send: Any, request_id: str) -> None:
    body = orjson.dumps(
        {
            "type": "urn:siyu:problem:internal_error",
            "title": "Internal error",
            "status": 500,
            "code": "internal_error",
            "detail": "Something went wrong on our side; quote the request id.",
            "field": None,
            "request_id": request_id,
        }
    )
    await send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RequestContextMiddleware:
    """Give every request an id (the caller's ``X-Request-ID`` if well formed), echo it in the
    response, bind it for logs and services, and log one line per request."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope.get("headers", []):
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        request_id = (
            incoming if incoming and _VALID_REQUEST_ID.match(incoming) else _next_request_id()
        )
        token = request_id_var.set(request_id)
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status_holder = {"status": 500}
        response_state = {"started": False}

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                response_state["started"] = True
                status_holder["status"] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                headers.extend(SECURITY_HEADERS)
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            # Answer here, inside the request's context, so the 500 carries its request id;
            # Starlette's outermost handler would run after the context is gone.
            log.exception("unhandled_error", path=scope.get("path"))
            if response_state["started"]:
                raise
            await _send_internal_error(send_with_headers, request_id)
        finally:
            log.info(
                "request",
                method=scope.get("method"),
                path=scope.get("path"),
                status=status_holder["status"],
                duration_ms=round((time.perf_counter() - started) * 1000, 1),
            )
            structlog.contextvars.unbind_contextvars("request_id")
            request_id_var.reset(token)
