"""Per-request context that services may read without depending on the web layer."""

from __future__ import annotations

from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("siyu_request_id", default=None)


def current_request_id() -> str | None:
    return request_id_var.get()
