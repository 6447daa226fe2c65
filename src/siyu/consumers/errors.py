"""Refusals of the consumers domain (mini-program login, consumer tokens, addresses)."""

from __future__ import annotations

from typing import ClassVar

from siyu.core.errors import (
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    SiyuError,
    TooManyRequests,
)


class InvalidLoginCode(NotAuthenticated):
    """WeChat does not know the wx.login code (40029) or it has expired."""

    code = "invalid_login_code"


class LoginCodeUsed(NotAuthenticated):
    """The wx.login code was already exchanged (40163): codes are valid once."""

    code = "login_code_used"


class WeChatRateLimited(TooManyRequests):
    code = "wechat_rate_limited"


class WeChatUnavailable(SiyuError):
    status: ClassVar[int] = 502
    code = "wechat_unavailable"


class ConsumerBlocked(PermissionDenied):
    code = "consumer_blocked"


class AddressNotFound(NotFound):
    code = "address_not_found"
