"""The sandbox WeChat Pay: a ledger in PostgreSQL that behaves like APIv3 for mini programs.

It hands out prepay ids, lets the payer "pay" (``sandbox_pay``, or the page at
/sandbox/pay/{prepay_id}), and then, like WeChat, notifies asynchronously: each notification
is a procrastinate job (``siyu.wechat.jobs``) that builds the notification at delivery time,
signed with the sandbox platform RSA key and encrypted with the sandbox APIv3 key exactly as
documented, and hands it to the same receiving code as a real one. Deliveries can be made
late (``delay_seconds``), repeated (``copies``), or reordered (by delaying one more than
another). Refunds succeed asynchronously with a refund notification; a refund of more than
what remains is refused with NOT_ENOUGH. Keys are generated once into
``<data_dir>/wechat-sandbox`` (never into git).
"""

from __future__ import annotations

import re
import secrets
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.config import get_settings
from siyu.core.clock import SHANGHAI, utc_now
from siyu.jobs.deferral import defer_job
from siyu.wechat import crypto
from siyu.wechat.adapters import PayError, PaymentNotice, RefundNotice, RefundResult
from siyu.wechat.errors import PrepayNotFound, SandboxTradeNotPayable
from siyu.wechat.models import SandboxPayTransaction

PLATFORM_SERIAL = "PUB_KEY_ID_SIYU_SANDBOX"
PAYMENT_TASK = "siyu:deliver_sandbox_payment_notification"
REFUND_TASK = "siyu:deliver_sandbox_refund_notification"
NOTIFY_QUEUE = "wechat_sandbox"
_OUT_NO = re.compile(r"^[A-Za-z0-9_\-|*@]{6,32}$")


# ---------------------------------------------------------------- keys


@dataclass(frozen=True)
class SandboxKeys:
    platform_private: rsa.RSAPrivateKey
    platform_public: rsa.RSAPublicKey
    merchant_private: rsa.RSAPrivateKey
    apiv3_key: str


_key_lock = threading.Lock()


def _create_once(path: Path, content: bytes) -> bytes:
    """Write ``path`` unless it exists, race-free across processes; return what it holds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as handle:
            handle.write(content)
        temporary = Path(handle.name)
        temporary.chmod(0o600)
        try:
            path.hardlink_to(temporary)
        except FileExistsError:
            pass  # another process created it first: use theirs
        finally:
            temporary.unlink()
    return path.read_bytes()


def _key_file(path: Path) -> rsa.RSAPrivateKey:
    fresh = crypto.private_pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    return crypto.load_private_key(_create_once(path, fresh))


@lru_cache(maxsize=4)
def _load_keys(directory: Path) -> SandboxKeys:
    with _key_lock:
        platform = _key_file(directory / "platform_private_key.pem")
        merchant = _key_file(directory / "merchant_private_key.pem")
        apiv3 = _create_once(directory / "apiv3.key", crypto.nonce_str(32).encode()).decode()
    return SandboxKeys(platform, platform.public_key(), merchant, apiv3.strip())


def sandbox_keys() -> SandboxKeys:
    return _load_keys(get_settings().data_dir / "wechat-sandbox")


# ---------------------------------------------------------------- job deferral


def defer_delivery(
    session: Session, task_name: str, args: Mapping[str, Any], *, delay_seconds: int
) -> int:
    """Queue a procrastinate job in the caller's transaction: it exists only if they commit."""
    return defer_job(session, task_name, args, queue=NOTIFY_QUEUE, delay_seconds=delay_seconds)


def _schedule(
    session: Session,
    task_name: str,
    args: Mapping[str, Any],
    delay_seconds: int | None,
    copies: int | None,
) -> None:
    settings = get_settings()
    delay = settings.wechat_sandbox_notify_delay_seconds if delay_seconds is None else delay_seconds
    count = settings.wechat_sandbox_notify_copies if copies is None else copies
    for _ in range(max(count, 0)):
        defer_delivery(session, task_name, args, delay_seconds=delay)


# ---------------------------------------------------------------- the gateway


def _transaction_resource(tx: SandboxPayTransaction) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "appid": tx.app_id,
        "mchid": tx.mch_id,
        "out_trade_no": tx.out_trade_no,
        "transaction_id": tx.transaction_id,
        "trade_type": "JSAPI",
        "trade_state": "SUCCESS" if tx.trade_state == "REFUND" else tx.trade_state,
        "trade_state_desc": "支付成功" if tx.transaction_id else "",
        "bank_type": "OTHERS",
        "attach": "",
        "payer": {"openid": tx.payer_openid},
        "amount": {
            "total": tx.amount_fen,
            "payer_total": tx.amount_fen,
            "currency": "CNY",
            "payer_currency": "CNY",
        },
    }
    if tx.success_time is not None:
        resource["success_time"] = tx.success_time.astimezone(SHANGHAI).isoformat(
            timespec="seconds"
        )
    return resource


def payment_notification(tx: SandboxPayTransaction, now: datetime) -> tuple[dict[str, str], bytes]:
    keys = sandbox_keys()
    return crypto.build_notification(
        private_key=keys.platform_private,
        serial=PLATFORM_SERIAL,
        apiv3_key=keys.apiv3_key,
        event_type="TRANSACTION.SUCCESS",
        resource_type="transaction",
        summary="支付成功",
        data=_transaction_resource(tx),
        now=now,
    )


def refund_notification(
    tx: SandboxPayTransaction, refund: Mapping[str, Any], now: datetime
) -> tuple[dict[str, str], bytes]:
    keys = sandbox_keys()
    data = {
        "mchid": tx.mch_id,
        "out_trade_no": tx.out_trade_no,
        "transaction_id": tx.transaction_id,
        "out_refund_no": refund["out_refund_no"],
        "refund_id": refund["refund_id"],
        "refund_status": refund["status"],
        "success_time": refund.get("success_time"),
        "user_received_account": "支付用户零钱",
        "amount": {
            "total": tx.amount_fen,
            "refund": refund["amount_fen"],
            "payer_total": tx.amount_fen,
            "payer_refund": refund["amount_fen"],
        },
    }
    return crypto.build_notification(
        private_key=keys.platform_private,
        serial=PLATFORM_SERIAL,
        apiv3_key=keys.apiv3_key,
        event_type=f"REFUND.{refund['status']}",
        resource_type="refund",
        summary="退款成功",
        data=data,
        now=now,
    )


def _new_id(prefix: str, now: datetime, digits: int) -> str:
    return (
        prefix
        + now.strftime("%Y%m%d%H%M%S")
        + "".join(secrets.choice("0123456789") for _ in range(digits))
    )


class SandboxPayGateway:
    """The PayGateway of the sandbox for one merchant (AppID + mch id) and brand."""

    def __init__(self, session: Session, *, brand_id: int | None, app_id: str, mch_id: str):
        self.session = session
        self.brand_id = brand_id
        self.app_id = app_id
        self.mch_id = mch_id

    def _transaction(self, out_trade_no: str, *, lock: bool = False) -> SandboxPayTransaction:
        query = select(SandboxPayTransaction).where(
            SandboxPayTransaction.out_trade_no == out_trade_no
        )
        tx = self.session.scalar(query.with_for_update() if lock else query)
        if tx is None:
            raise PayError("ORDER_NOT_EXIST", "订单不存在")
        return tx

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
        if not _OUT_NO.match(out_trade_no):
            raise PayError("PARAM_ERROR", "out_trade_no must be 6-32 letters, digits, _-|*@")
        if amount_fen <= 0:
            raise PayError("PARAM_ERROR", "amount.total must be a positive number of fen")
        if not description or len(description) > 127:
            raise PayError("PARAM_ERROR", "description must be 1-127 characters")
        if not notify_url.startswith(("http://", "https://")):
            raise PayError("PARAM_ERROR", "notify_url must be a URL")
        existing = self.session.scalar(
            select(SandboxPayTransaction)
            .where(SandboxPayTransaction.out_trade_no == out_trade_no)
            .with_for_update()
        )
        if existing is not None:
            if existing.trade_state in ("SUCCESS", "REFUND"):
                raise PayError("ORDERPAID", "该订单已支付")
            if existing.trade_state == "CLOSED":
                raise PayError("ORDER_CLOSED", "该订单已关闭")
            if (existing.amount_fen, existing.payer_openid) != (amount_fen, payer_openid):
                raise PayError("INVALID_REQUEST", "商户订单号重复")
            return existing.prepay_id
        now = utc_now()
        prepay_id = "wx" + now.strftime("%d%H%M%S") + secrets.token_hex(12)
        self.session.add(
            SandboxPayTransaction(
                out_trade_no=out_trade_no,
                brand_id=self.brand_id,
                mch_id=self.mch_id,
                app_id=self.app_id,
                prepay_id=prepay_id,
                description=description,
                amount_fen=amount_fen,
                payer_openid=payer_openid,
                notify_url=notify_url,
                expires_at=expires_at,
            )
        )
        self.session.flush()
        return prepay_id

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
            "paySign": crypto.rsa_sign(sandbox_keys().merchant_private, message),
        }

    def _open(
        self, headers: Mapping[str, str], body: bytes
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        keys = sandbox_keys()
        return crypto.open_notification(
            headers,
            body,
            apiv3_key=keys.apiv3_key,
            public_keys={PLATFORM_SERIAL: keys.platform_public},
            now=utc_now(),
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
        delay_seconds: int | None = None,
        copies: int | None = None,
    ) -> RefundResult:
        tx = self._transaction(out_trade_no, lock=True)
        for refund in tx.refunds:
            if refund["out_refund_no"] == out_refund_no:
                # WeChat answers a repeated request with the refund it already has.
                return RefundResult(refund["status"], refund["refund_id"])
        if tx.trade_state not in ("SUCCESS", "REFUND"):
            raise PayError("INVALID_REQUEST", "订单未支付，不能退款")
        if total_fen != tx.amount_fen:
            raise PayError("INVALID_REQUEST", "订单金额与原订单金额不一致")
        if amount_fen <= 0:
            raise PayError("PARAM_ERROR", "amount.refund must be a positive number of fen")
        if amount_fen > tx.amount_fen - tx.refunded_fen:
            raise PayError("NOT_ENOUGH", "申请退款金额超过订单可退金额")
        now = utc_now()
        refund_id = _new_id("50", now, 14)
        tx.refunds = [
            *tx.refunds,
            {
                "out_refund_no": out_refund_no,
                "refund_id": refund_id,
                "amount_fen": amount_fen,
                "reason": reason[:80],
                "notify_url": notify_url,
                "status": "PROCESSING",
                "created_at": now.isoformat(),
                "success_time": None,
            },
        ]
        tx.refunded_fen += amount_fen
        tx.trade_state = "REFUND"
        self.session.flush()
        _schedule(
            self.session,
            REFUND_TASK,
            {"out_trade_no": out_trade_no, "out_refund_no": out_refund_no},
            delay_seconds,
            copies,
        )
        return RefundResult("PROCESSING", refund_id)

    def close_order(self, out_trade_no: str) -> None:
        tx = self._transaction(out_trade_no, lock=True)
        if tx.trade_state in ("SUCCESS", "REFUND"):
            raise PayError("ORDERPAID", "该订单已支付")
        tx.trade_state = "CLOSED"
        self.session.flush()


# ---------------------------------------------------------------- the payer's side


def get_prepaid(session: Session, prepay_id: str, *, lock: bool = False) -> SandboxPayTransaction:
    query = select(SandboxPayTransaction).where(SandboxPayTransaction.prepay_id == prepay_id)
    tx = session.scalar(query.with_for_update() if lock else query)
    if tx is None:
        raise PrepayNotFound("This payment does not exist.", field="prepay_id")
    return tx


def sandbox_pay(
    session: Session,
    prepay_id: str,
    *,
    delay_seconds: int | None = None,
    copies: int | None = None,
) -> SandboxPayTransaction:
    """The payer confirms: the trade succeeds and its notification(s) are queued.

    ``delay_seconds`` and ``copies`` override SIYU_WECHAT_SANDBOX_NOTIFY_DELAY_SECONDS and
    SIYU_WECHAT_SANDBOX_NOTIFY_COPIES. Raises PrepayNotFound, SandboxTradeNotPayable (paid,
    closed or expired). Locks the transaction row; the caller commits.
    """
    tx = get_prepaid(session, prepay_id, lock=True)
    now = utc_now()
    if tx.trade_state != "NOTPAY":
        raise SandboxTradeNotPayable(f"This payment is {tx.trade_state}.")
    if tx.expires_at <= now:
        raise SandboxTradeNotPayable("This payment has expired.")
    tx.trade_state = "SUCCESS"
    tx.transaction_id = _new_id("42", now, 14)
    tx.success_time = now.replace(microsecond=0)
    session.flush()
    _schedule(session, PAYMENT_TASK, {"out_trade_no": tx.out_trade_no}, delay_seconds, copies)
    return tx


def mark_refund_succeeded(
    session: Session, out_trade_no: str, out_refund_no: str
) -> tuple[SandboxPayTransaction, dict[str, Any]] | None:
    """The sandbox's bank finishes a refund (at its first delivery). Locks the row."""
    tx = session.scalar(
        select(SandboxPayTransaction)
        .where(SandboxPayTransaction.out_trade_no == out_trade_no)
        .with_for_update()
    )
    if tx is None:
        return None
    refunds = [dict(r) for r in tx.refunds]
    for refund in refunds:
        if refund["out_refund_no"] == out_refund_no:
            if refund["status"] == "PROCESSING":
                refund["status"] = "SUCCESS"
                refund["success_time"] = (
                    utc_now().astimezone(SHANGHAI).isoformat(timespec="seconds")
                )
                tx.refunds = refunds
                session.flush()
            return tx, refund
    return None
