"""Refusals of authentication and token management."""

from __future__ import annotations

from siyu.core.errors import NotAuthenticated, NotFound, TooManyRequests


class InvalidCredentials(NotAuthenticated):
    code = "invalid_credentials"


class LoginThrottled(TooManyRequests):
    code = "login_throttled"


class InvalidToken(NotAuthenticated):
    code = "invalid_token"


class SessionExpired(NotAuthenticated):
    code = "session_expired"


class ApiTokenNotFound(NotFound):
    code = "api_token_not_found"
