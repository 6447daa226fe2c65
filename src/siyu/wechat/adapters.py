"""The WeChat platform as siyu sees it: adapter interfaces, their value types and errors.

Two implementations sit behind each interface: the sandbox (``siyu.wechat.sandbox``), default
in the demo and tests, which behaves like the platform (limits and failures included), and the
live one (``siyu.wechat.live``) that talks to WeChat. Services depend on these protocols only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

# WeChat's own error codes that siyu reacts to.
ERR_INVALID_CODE = 40029
ERR_CODE_USED = 40163
ERR_RATE_LIMITED = 45011
ERR_SYSTEM_BUSY = -1
# Access tokens (every server API but code2Session needs one).
ERR_INVALID_ACCESS_TOKEN = 40001
ERR_ACCESS_TOKEN_EXPIRED = 42001
# wxacode.getUnlimited (getwxacodeunlimit).
ERR_CODE_MINUTE_QUOTA = 45009
ERR_INVALID_PAGE = 41030
ERR_INVALID_SCENE = 40129
ERR_SCENE_LENGTH = 40169


class WeChatError(Exception):
    """The platform refused a call; ``errcode`` and ``errmsg`` are WeChat's own."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"WeChat error {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


class InvalidNotification(Exception):
    """A notification that is not provably from WeChat Pay: bad or missing signature, stale
    timestamp, or a resource that does not decrypt. ``reason`` is a stable short code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class PayError(Exception):
    """WeChat Pay refused a request (``code`` is the v3 error code, e.g. NOT_ENOUGH)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class MiniProgramSession:
    openid: str
    unionid: str | None
    session_key: str


@dataclass(frozen=True)
class PhoneNumber:
    """What ``getuserphonenumber`` tells about the user's phone: ``phone_number`` carries the
    country code for numbers outside the mainland, ``pure_phone_number`` never does."""

    phone_number: str
    pure_phone_number: str
    country_code: str


@dataclass(frozen=True)
class PaymentNotice:
    """A verified and decrypted payment notification (TRANSACTION.SUCCESS and friends)."""

    out_trade_no: str
    transaction_id: str | None
    trade_state: str
    amount_fen: int
    payer_openid: str | None
    success_time: datetime | None
    notification_id: str | None = None
    event_type: str | None = None
    mch_id: str | None = None


@dataclass(frozen=True)
class RefundResult:
    """``status`` is WeChat's: PROCESSING, SUCCESS, CLOSED or ABNORMAL."""

    status: str
    provider_refund_id: str | None


@dataclass(frozen=True)
class RefundNotice:
    out_trade_no: str
    out_refund_no: str
    refund_id: str | None
    refund_status: str
    refund_fen: int
    total_fen: int
    success_time: datetime | None
    notification_id: str | None = None
    event_type: str | None = None


class MiniProgramAuth(Protocol):
    def code_to_session(self, app_id: str, code: str) -> MiniProgramSession:
        """Exchange a ``wx.login`` code. Raises WeChatError (40029 invalid code, 40163 code
        already used, 45011 rate limited, -1 busy)."""
        ...

    def phone_number(self, app_id: str, code: str) -> PhoneNumber:
        """Exchange a ``getPhoneNumber`` code (single use, valid 5 minutes; a ``wx.login``
        code is not one). Raises WeChatError (40029 invalid, expired or used code, 45011
        rate limited, -1 busy)."""
        ...


class PayGateway(Protocol):
    def create_jsapi_order(
        self,
        *,
        out_trade_no: str,
        description: str,
        amount_fen: int,
        payer_openid: str,
        notify_url: str,
        expires_at: datetime,
    ) -> str:
        """Place a JSAPI (mini-program) order and return its prepay_id. Raises PayError."""
        ...

    def mini_program_pay_params(self, prepay_id: str) -> dict[str, Any]:
        """What ``wx.requestPayment`` needs: timeStamp, nonceStr, package, signType, paySign."""
        ...

    def parse_payment_notification(self, headers: Mapping[str, str], body: bytes) -> PaymentNotice:
        """Verify and decrypt a payment notification. Raises InvalidNotification."""
        ...

    def refund(
        self,
        *,
        out_trade_no: str,
        out_refund_no: str,
        amount_fen: int,
        total_fen: int,
        reason: str,
        notify_url: str,
    ) -> RefundResult:
        """Request a refund. Raises PayError (NOT_ENOUGH when more than what remains)."""
        ...

    def parse_refund_notification(self, headers: Mapping[str, str], body: bytes) -> RefundNotice:
        """Verify and decrypt a refund notification. Raises InvalidNotification."""
        ...

    def close_order(self, out_trade_no: str) -> None:
        """Close an unpaid order. Raises PayError (ORDERPAID when already paid)."""
        ...


class MiniProgramCodes(Protocol):
    def unlimited_code(self, app_id: str, scene: str, page: str, width: int) -> bytes:
        """A mini-program code (小程序码, ``wxacode.getUnlimited``) as PNG bytes: it opens
        ``page`` ("" for the home page; no leading ``/``, no query) with ``scene`` (1-32
        characters of ``[0-9A-Za-z!#$&'()*+,/:;=?@-._~]``); ``width`` in px (280-1280).
        Raises WeChatError (40169 scene length, 40129 scene characters, 41030 page, 45009
        more than 5,000 calls a minute, -1 busy)."""
        ...
