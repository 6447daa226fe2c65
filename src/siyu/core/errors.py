"""The error vocabulary every domain raises and every adapter translates.

A ``SiyuError`` carries a stable machine-readable ``code``, a human message and, when one input
is to blame, the offending ``field``. The web layer renders it as application/problem+json; the
CLI prints it. Domains subclass these per meaning, never per call site.
"""

from __future__ import annotations

from typing import Any, ClassVar


class SiyuError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        code: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code  # type: ignore[misc]
        self.extra = extra or {}


class InvalidInput(SiyuError):
    status = 422
    code = "invalid_input"


class NotFound(SiyuError):
    """Also raised for objects outside the actor's brand or scope, so existence never leaks."""

    status = 404
    code = "not_found"


class Conflict(SiyuError):
    status = 409
    code = "conflict"


class NotAuthenticated(SiyuError):
    status = 401
    code = "not_authenticated"


class PermissionDenied(SiyuError):
    status = 403
    code = "permission_denied"


class TooManyRequests(SiyuError):
    status = 429
    code = "too_many_requests"
