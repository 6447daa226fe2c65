"""Refusals about WeChat configuration and the sandbox pay page."""

from __future__ import annotations

from siyu.core.errors import Conflict, NotFound


class WeChatNotConfigured(Conflict):
    """Live mode and the brand has no (complete) wechat_account row."""

    code = "wechat_not_configured"


class PrepayNotFound(NotFound):
    code = "prepay_not_found"


class SandboxTradeNotPayable(Conflict):
    code = "trade_not_payable"
