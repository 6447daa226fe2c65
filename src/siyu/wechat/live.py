"""The live WeChat adapters: mini-program login and codes over HTTPS, WeChat Pay APIv3 on
wechatpayv3.

Never called against WeChat in tests (no network): the notification parsing shares
``siyu.wechat.crypto`` with the sandbox, and the HTTPS adapters take an ``httpx.Client`` that
tests replace with an in-process fake of the platform.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import orjson

from siyu.config import get_settings
from siyu.core.clock import SHANGHAI, utc_now
from siyu.core.logging import get_logger
from siyu.wechat import crypto
from siyu.wechat.adapters import (
    ERR_ACCESS_TOKEN_EXPIRED,
    ERR_INVALID_ACCESS_TOKEN,
    ERR_SYSTEM_BUSY,
    MiniProgramSession,
    PayError,
    PaymentNotice,
    PhoneNumber,
    RefundNotice,
    RefundResult,
    WeChatError,
)
from siyu.wechat.errors import WeChatNotConfigured
from siyu.wechat.models import WeChatAccount

JSCODE2SESSION_URL = "https://api.weixin.qq.com/sns/jscode2session"
STABLE_TOKEN_URL = "https://api.weixin.qq.com/cgi-bin/stable_token"  # noqa: S105 - a URL
UNLIMITED_CODE_URL = "https://api.weixin.qq.com/wxa/getwxacodeunlimit"
PHONE_NUMBER_URL = "https://api.weixin.qq.com/wxa/business/getuserphonenumber"
# Renew a token this long before WeChat says it expires (it lasts 7,200 s).
TOKEN_MARGIN = timedelta(minutes=5)
# What WeChat answers for a token it no longer takes: fetch one again, once.
TOKEN_REJECTED = frozenset({ERR_INVALID_ACCESS_TOKEN, ERR_ACCESS_TOKEN_EXPIRED})

T = TypeVar("T")

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


def _unreachable(api: str, error: Exception) -> WeChatError:
    """Log that ``api`` failed on the way (``error``: transport or not JSON); what to raise."""
    log.warning("wechat_unreachable", api=api, error=type(error).__name__)
    return WeChatError(ERR_SYSTEM_BUSY, "WeChat could not be reached")


class LiveMiniProgramAuth:
    """``code2Session`` and ``getuserphonenumber`` against api.weixin.qq.com; the AppSecret
    comes from ``<wechat_secrets_dir>/<AppID>.appsecret``. ``client`` (phone numbers) may be
    an in-process fake of the platform in tests."""

    def __init__(
        self,
        *,
        timeout: float = 5.0,
        client: httpx.Client | None = None,
        tokens: AccessTokens | None = None,
    ) -> None:
        self.timeout = timeout
        self.client = client
        self.tokens = tokens

    def phone_number(self, app_id: str, code: str) -> PhoneNumber:
        """Exchange a getPhoneNumber code with the AppID's access token (``ACCESS_TOKENS``);
        a token WeChat calls invalid or expired is fetched again once."""
        tokens = self.tokens or ACCESS_TOKENS
        client = self.client or httpx.Client(timeout=self.timeout)
        try:
            data = tokens.call(
                client,
                app_id,
                lambda token: _call_json(
                    client,
                    "getuserphonenumber",
                    PHONE_NUMBER_URL,
                    {"code": code},
                    access_token=token,
                ),
            )
        finally:
            if self.client is None:
                client.close()
        info = data.get("phone_info")
        if not isinstance(info, dict) or not info.get("purePhoneNumber"):
            raise WeChatError(ERR_SYSTEM_BUSY, "no phone_info in the answer")
        return PhoneNumber(
            phone_number=str(info.get("phoneNumber") or info["purePhoneNumber"]),
            pure_phone_number=str(info["purePhoneNumber"]),
            country_code=str(info.get("countryCode") or "86"),
        )

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
            raise _unreachable("jscode2session", error) from error
        errcode = int(data.get("errcode") or 0)
        if errcode != 0 or "openid" not in data:
            raise WeChatError(errcode or ERR_SYSTEM_BUSY, str(data.get("errmsg", "")))
        return MiniProgramSession(
            openid=str(data["openid"]),
            unionid=str(data["unionid"]) if data.get("unionid") else None,
            session_key=str(data.get("session_key", "")),
        )


@dataclass(frozen=True)
class _Token:
    value: str
    renew_at: datetime


class AccessTokens:
    """Access tokens per AppID from ``cgi-bin/stable_token``, kept in this process until five
    minutes before they expire. The stable token (not ``cgi-bin/token``) is used because
    several siyu processes share one AppID: asking for it again returns the same token
    instead of invalidating the others' copies. Thread-safe."""

    def __init__(self) -> None:
        self._tokens: dict[str, _Token] = {}
        self._lock = threading.Lock()

    def get(self, client: httpx.Client, app_id: str) -> str:
        """The AppID's token, fetched when missing or due. Raises WeChatError."""
        with self._lock:
            token = self._tokens.get(app_id)
            if token is not None and utc_now() < token.renew_at:
                return token.value
            data = _call_json(
                client,
                "stable_token",
                STABLE_TOKEN_URL,
                {
                    "grant_type": "client_credential",
                    "appid": app_id,
                    "secret": read_secret(f"{app_id}.appsecret"),
                    "force_refresh": False,
                },
            )
            if "access_token" not in data:
                raise WeChatError(ERR_SYSTEM_BUSY, "no access_token in the answer")
            lifetime = timedelta(seconds=int(data.get("expires_in", 7200)))
            token = _Token(str(data["access_token"]), utc_now() + lifetime - TOKEN_MARGIN)
            self._tokens[app_id] = token
            return token.value

    def forget(self, app_id: str) -> None:
        """Drop the AppID's token (WeChat said it is invalid or expired)."""
        with self._lock:
            self._tokens.pop(app_id, None)

    def call(self, client: httpx.Client, app_id: str, api: Callable[[str], T]) -> T:
        """``api(token)`` with the AppID's token; a token WeChat calls invalid or expired is
        dropped and ``api`` called once more with a fresh one. Raises WeChatError."""
        try:
            return api(self.get(client, app_id))
        except WeChatError as error:
            if error.errcode not in TOKEN_REJECTED:
                raise
            self.forget(app_id)
            return api(self.get(client, app_id))


ACCESS_TOKENS = AccessTokens()


def _call_json(
    client: httpx.Client, api: str, url: str, body: dict[str, Any], **params: str
) -> dict[str, Any]:
    """POST ``body`` as JSON and read a JSON answer; errcode != 0 raises WeChatError."""
    try:
        response = client.post(url, params=params, json=body)
        data = response.json()
    except (httpx.HTTPError, ValueError) as error:
        raise _unreachable(api, error) from error
    if not isinstance(data, dict):
        raise WeChatError(ERR_SYSTEM_BUSY, "unexpected answer")
    errcode = int(data.get("errcode") or 0)
    if errcode != 0:
        raise WeChatError(errcode, str(data.get("errmsg", "")))
    return data


class LiveMiniProgramCodes:
    """``wxacode.getUnlimited`` against api.weixin.qq.com with the AppID's access token
    (``ACCESS_TOKENS``); a token WeChat calls invalid or expired is fetched again once."""

    def __init__(
        self, *, client: httpx.Client | None = None, tokens: AccessTokens = ACCESS_TOKENS
    ) -> None:
        self.client = client or httpx.Client(timeout=10.0)
        self.tokens = tokens

    def unlimited_code(self, app_id: str, scene: str, page: str, width: int) -> bytes:
        body: dict[str, Any] = {"scene": scene, "width": width, "check_path": True}
        if page:
            body["page"] = page
        return self.tokens.call(self.client, app_id, lambda token: self._fetch(token, body))

    def _fetch(self, token: str, body: dict[str, Any]) -> bytes:
        try:
            response = self.client.post(
                UNLIMITED_CODE_URL, params={"access_token": token}, json=body
            )
        except httpx.HTTPError as error:
            raise _unreachable("getwxacodeunlimit", error) from error
        # The image comes back as bytes; a refusal as JSON (with a 200 status).
        if response.headers.get("content-type", "").startswith("image/"):
            return response.content
        try:
            data = response.json()
        except ValueError as error:
            raise WeChatError(ERR_SYSTEM_BUSY, "unexpected answer") from error
        raise WeChatError(int(data.get("errcode") or ERR_SYSTEM_BUSY), str(data.get("errmsg", "")))


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
