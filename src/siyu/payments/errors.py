"""Refusals of payment notifications (what WeChat Pay, or a forger, is told)."""

from __future__ import annotations

from typing import ClassVar

from siyu.core.errors import NotAuthenticated, NotFound, SiyuError


class InvalidNotificationError(NotAuthenticated):
    """Not provably from WeChat Pay: bad signature, stale timestamp, undecryptable resource."""

    code = "invalid_notification"


class UnknownOrder(NotFound):
    """A genuine notification for an out_trade_no siyu never issued."""

    code = "unknown_order"


class UnknownRefund(NotFound):
    code = "unknown_refund"


class NoticeNotHandled(SiyuError):
    """The payment exists but no checkout handler is installed: WeChat should retry later."""

    status: ClassVar[int] = 503
    code = "notice_not_handled"
