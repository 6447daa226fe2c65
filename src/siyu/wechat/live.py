"""The live WeChat adapters: mini-program login over HTTPS, WeChat Pay APIv3 on wechatpayv3.

Never called in tests (no network); the notification parsing shares ``siyu.wechat.crypto``
with the sandbox, and that is what the tests exercise.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

from siyu.config import get_settings
from siyu.core.clock import SHANGHAI, utc_now
from siyu.core.logging import get_logger
from siyu.wechat import crypto
from siyu.wechat.adapters import (
    ERR_SYSTEM_BUSY,
    MiniProgramSession,
    PayError,
    PaymentNotice,
    RefundNotice,
    RefundResult,
    WeChatError,
)
from siyu.wechat.errors import WeChatNotConfigured
from siyu.wechat.models import WeChatAccount

JSCODE2SESSION_URL = "https://api.weixin.qq.com/sns/jscode2session"

log = get_logger("siyu.wechat")


def secrets_dir() -> Path:
    settings = get_settings()
    return settings.wechat_secrets_dir or settings.data_dir / "wechat-secrets"


def read_secret(name: str) -> str:
    """A secret from a file (absolute, or relative to ``secrets_dir``). Never logged."""
    path = Path(name)
    if not path.is_absolute():
        path = secrets_dir() / path
    return path.read_text(encoding="utf-8").strip()


class LiveMiniProgramAuth:
    """``code2Session`` against api.weixin.qq.com; the AppSecret comes from
    ``<wechat_secrets_dir>/<AppID>.appsecret``."""

    def __init__(self, *, timeout: float = 5.0) -> None:
        self.timeout = timeout

    def code_to_session(self, app_id: str, code: str) -> MiniProgramSession:
        params = {
            "appid": app_id,
            "secret": read_secret(f"{app_id}.appsecret"),
            "js_code": code,
            "grant_type": "authorization_code",
        }
        try:
            response = httpx.get(JSCODE2SESSION_URL, params=params, timeout=self.timeout)
            data = response.json()
        except (httpx.HTTPError, ValueError) as error:
            log.warning("wechat_unreachable", api="jscode2session", error=type(error).__name__)
            raise WeChatError(ERR_SYSTEM_BUSY, "WeChat could not be reached") from error
        errcode = int(data.get("errcode") or 0)
        if errcode != 0 or "openid" not in data:
            raise WeChatError(errcode or ERR_SYSTEM_BUSY, str(data.get("errmsg", "")))
        return MiniProgramSession(
            openid=str(data["openid"]),
            unionid=str(data["unionid"]) if data.get("unionid") else None,
            session_key=str(data.get("session_key", "")),
        )


class LivePayGateway:
    """WeChat Pay APIv3 for a direct merchant, through wechatpayv3's ``WeChatPay``.

    Notifications are verified by ``siyu.wechat.crypto`` (the same code as the sandbox, with
    the 5-minute freshness rule wechatpayv3 lacks) against the WeChat Pay public key, or, in
    platform-certificate mode, against wechatpayv3's certificate store.
    """

    def __init__(
        self,
        *,
        app_id: str,
        mch_id: str,
        cert_serial_no: str,
        private_key: str,
        apiv3_key: str,
        public_key: str | None = None,
        public_key_id: str | None = None,
        cert_dir: str | None = None,
    ) -> None:
        from wechatpayv3 import WeChatPay, WeChatPayType

        self.app_id = app_id
        self.mch_id = mch_id
        self._apiv3_key = apiv3_key
        self._public_keys = (
            {public_key_id: crypto.load_public_key(public_key)}
            if public_key and public_key_id
            else {}
        )
        self._private_key = crypto.load_private_key(private_key)
        self.pay = WeChatPay(
            wechatpay_type=WeChatPayType.MINIPROG,
            mchid=mch_id,
            private_key=private_key,
            cert_serial_no=cert_serial_no,
            appid=app_id,
            apiv3_key=apiv3_key,
            cert_dir=cert_dir,
            public_key=public_key,
            public_key_id=public_key_id,
            timeout=(5, 15),
        )

    @staticmethod
    def _answer(code: int, message: str) -> dict[str, Any]:
        try:
            data = orjson.loads(message) if message else {}
        except orjson.JSONDecodeError:
            data = {"message": message}
        if not 200 <= code < 300:
            raise PayError(str(data.get("code", code)), str(data.get("message", "")))
        return data if isinstance(data, dict) else {}

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
        code, message = self.pay.pay(
            description=description,
            out_trade_no=out_trade_no,
            amount={"total": amount_fen, "currency": "CNY"},
            payer={"openid": payer_openid},
            time_expire=expires_at.astimezone(SHANGHAI).isoformat(timespec="seconds"),
            notify_url=notify_url,
        )
        return str(self._answer(code, message)["prepay_id"])

    def mini_program_pay_params(self, prepay_id: str) -> dict[str, Any]:
        timestamp = str(int(utc_now().timestamp()))
        nonce = crypto.nonce_str(32)
        package = f"prepay_id={prepay_id}"
        message = f"{self.app_id}\n{timestamp}\n{nonce}\n{package}\n"
        return {
            "timeStamp": timestamp,
            "nonceStr": nonce,
            "package": package,
            "signType": "RSA",
            "paySign": crypto.rsa_sign(self._private_key, message),
        }

    def _certificate_check(self, headers: dict[str, str], body: str) -> bool:
        return bool(self.pay._core._verify_signature(headers, body))

    def _open(
        self, headers: Mapping[str, str], body: bytes
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        return crypto.open_notification(
            headers,
            body,
            apiv3_key=self._apiv3_key,
            public_keys=self._public_keys,
            now=utc_now(),
            fallback_check=None if self._public_keys else self._certificate_check,
        )

    def parse_payment_notification(self, headers: Mapping[str, str], body: bytes) -> PaymentNotice:
        return crypto.payment_notice_from(*self._open(headers, body))

    def parse_refund_notification(self, headers: Mapping[str, str], body: bytes) -> RefundNotice:
        return crypto.refund_notice_from(*self._open(headers, body))

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
        code, message = self.pay.refund(
            out_refund_no=out_refund_no,
            amount={"refund": amount_fen, "total": total_fen, "currency": "CNY"},
            out_trade_no=out_trade_no,
            reason=reason[:80],
            notify_url=notify_url,
        )
        data = self._answer(code, message)
        return RefundResult(str(data.get("status", "PROCESSING")), data.get("refund_id"))

    def close_order(self, out_trade_no: str) -> None:
        code, message = self.pay.close(out_trade_no=out_trade_no)
        self._answer(code, message)


def live_pay_gateway(account: WeChatAccount) -> LivePayGateway:
    """The live gateway of a brand's account; its secrets are read from files."""
    if not (
        account.pay_mch_id
        and account.pay_cert_serial_no
        and account.pay_private_key_file
        and account.pay_apiv3_key_file
    ):
        raise WeChatNotConfigured("This brand's WeChat Pay merchant is not configured.")
    public_key = read_secret(account.pay_public_key_file) if account.pay_public_key_file else None
    return LivePayGateway(
        app_id=account.mini_program_app_id,
        mch_id=account.pay_mch_id,
        cert_serial_no=account.pay_cert_serial_no,
        private_key=read_secret(account.pay_private_key_file),
        apiv3_key=read_secret(account.pay_apiv3_key_file),
        public_key=public_key,
        public_key_id=account.pay_public_key_id if public_key else None,
        cert_dir=str(secrets_dir() / "platform-certificates"),
    )
