"""Payments, adapter-facing half: choosing the WeChat adapters and receiving notifications.

``receive_payment_notification`` / ``receive_refund_notification`` are what the notify
endpoints and the sandbox's deliveries call. Every notification, valid or forged, leaves a
``payment_notification`` row with its outcome; a refused one leaves nothing else (the
checkout handler runs in a savepoint that is rolled back when it refuses), and the caller
commits the row before answering 4xx, like a failed login.

The checkout side plugs in through ``register_notice_handlers``: a payment handler is called
with the locked Payment row and the verified PaymentNotice and returns its outcome (a short
code such as "paid" or "duplicate"); it must be idempotent, since WeChat delivers at least once
and in any order. Modules named in ``HANDLER_MODULES`` are imported on first use so that they
can register themselves.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.config import get_settings
from siyu.core.errors import SiyuError
from siyu.core.logging import get_logger
from siyu.orders.models import Order
from siyu.payments.errors import (
    InvalidNotificationError,
    NoticeNotHandled,
    UnknownOrder,
    UnknownRefund,
)
from siyu.payments.models import Payment, PaymentNotification, Refund
from siyu.wechat.adapters import (
    InvalidNotification,
    MiniProgramAuth,
    PayGateway,
    PaymentNotice,
    RefundNotice,
)
from siyu.wechat.crypto import canonical_headers
from siyu.wechat.errors import WeChatNotConfigured
from siyu.wechat.live import LiveMiniProgramAuth, live_pay_gateway
from siyu.wechat.models import WeChatAccount
from siyu.wechat.sandbox import SANDBOX_MINI_PROGRAM
from siyu.wechat.sandbox_pay import SandboxPayGateway
from siyu.wechat.service import get_wechat_account, is_sandbox, sandbox_app_id, sandbox_mch_id

PROVIDER = "wechat_pay"
PAYMENT_NOTIFY_PATH = "/api/payments/wechat/notify"
REFUND_NOTIFY_PATH = "/api/payments/wechat/refund-notify"
# Modules that register notice handlers when imported (the checkout side).
HANDLER_MODULES = ("siyu.orders.payment_notices",)

log = get_logger("siyu.payments")

PaymentNoticeHandler = Callable[[Session, Payment, PaymentNotice], str]
RefundNoticeHandler = Callable[[Session, Refund, RefundNotice], str]


@dataclass
class _Handlers:
    payment: PaymentNoticeHandler | None = None
    refund: RefundNoticeHandler | None = None
    loaded: bool = False


_handlers = _Handlers()


def register_notice_handlers(
    *, payment: PaymentNoticeHandler | None = None, refund: RefundNoticeHandler | None = None
) -> None:
    """Install the checkout side's handlers (None leaves the current one in place)."""
    if payment is not None:
        _handlers.payment = payment
    if refund is not None:
        _handlers.refund = refund


def clear_notice_handlers() -> None:
    """Forget the handlers and do not load the checkout's (tests)."""
    _handlers.payment = _handlers.refund = None
    _handlers.loaded = True


def restore_notice_handlers() -> None:
    """Go back to the checkout's own handlers (tests, after clear_notice_handlers)."""
    _handlers.payment = _handlers.refund = None
    _handlers.loaded = False


def _load_handlers() -> None:
    if _handlers.loaded:
        return
    _handlers.loaded = True
    for name in HANDLER_MODULES:
        if importlib.util.find_spec(name) is not None:
            # Each module registers its handlers through its ``register()``: calling it (not
            # relying on the import running once) lets handlers be restored after a reset.
            importlib.import_module(name).register()


# ---------------------------------------------------------------- adapters


def get_mini_program_auth() -> MiniProgramAuth:
    """The sandbox login (``SIYU_WECHAT_MODE=sandbox``, default) or the live one."""
    if is_sandbox():
        return SANDBOX_MINI_PROGRAM
    return LiveMiniProgramAuth()


def get_pay_gateway(session: Session, brand_id: int) -> PayGateway:
    """The brand's WeChat Pay. Sandbox: its configured (or sandbox) AppID and merchant; live:
    its wechat_account, else WeChatNotConfigured."""
    account = get_wechat_account(session, brand_id)
    if is_sandbox():
        return SandboxPayGateway(
            session,
            brand_id=brand_id,
            app_id=account.mini_program_app_id if account else sandbox_app_id(brand_id),
            mch_id=(account.pay_mch_id if account else None) or sandbox_mch_id(brand_id),
        )
    if account is None:
        raise WeChatNotConfigured("This brand has no WeChat Pay merchant configured.")
    return live_pay_gateway(account)


def notify_urls() -> tuple[str, str]:
    """(payment, refund) notification URLs to pass to the gateway."""
    base = get_settings().wechat_notify_base_url.rstrip("/")
    return base + PAYMENT_NOTIFY_PATH, base + REFUND_NOTIFY_PATH


def _notification_gateway(session: Session, headers: Mapping[str, str]) -> PayGateway:
    """Which merchant's keys verify this notification: the sandbox's, or (live) the account
    whose WeChat Pay public key id is the Wechatpay-Serial, or the only configured merchant."""
    if is_sandbox():
        return SandboxPayGateway(session, brand_id=None, app_id="", mch_id="")
    serial = canonical_headers(headers).get("Wechatpay-Serial", "")
    accounts = session.scalars(
        select(WeChatAccount).where(WeChatAccount.pay_mch_id.is_not(None))
    ).all()
    chosen = [a for a in accounts if a.pay_public_key_id and a.pay_public_key_id == serial]
    if not chosen and len(accounts) == 1:
        chosen = list(accounts)
    if len(chosen) != 1:
        raise InvalidNotification("unknown_serial", "No merchant uses this signing key.")
    return live_pay_gateway(chosen[0])


# ---------------------------------------------------------------- receiving


def record_notification(
    session: Session,
    *,
    event_type: str | None,
    reference: str | None,
    signature_valid: bool,
    outcome: str,
    brand_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> PaymentNotification:
    """Log one notification and what siyu made of it (never secrets, never the raw body)."""
    row = PaymentNotification(
        brand_id=brand_id,
        provider=PROVIDER,
        event_type=(event_type or "")[:64] or None,
        reference=(reference or "")[:64] or None,
        signature_valid=signature_valid,
        outcome=outcome[:64],
        detail=detail or {},
    )
    session.add(row)
    session.flush()
    return row


@dataclass(frozen=True)
class NotificationReceipt:
    """What became of a notification: ``error`` is None when it was accepted."""

    outcome: str
    notification: PaymentNotification
    error: SiyuError | None = None


def _refused(
    session: Session, kind: str, headers: Mapping[str, str], body: bytes, error: InvalidNotification
) -> NotificationReceipt:
    wx = canonical_headers(headers)
    log.warning(
        "wechat_pay_notification_refused",
        kind=kind,
        reason=error.reason,
        serial=wx.get("Wechatpay-Serial"),
        timestamp=wx.get("Wechatpay-Timestamp"),
        body_bytes=len(body),
    )
    row = record_notification(
        session,
        event_type=kind,
        reference=None,
        signature_valid=False,
        outcome=f"rejected_{error.reason}",
        detail={
            "reason": error.reason,
            "serial": wx.get("Wechatpay-Serial"),
            "timestamp": wx.get("Wechatpay-Timestamp"),
            "body_bytes": len(body),
        },
    )
    return NotificationReceipt(row.outcome, row, InvalidNotificationError(error.message))


def _notice_detail(notice: PaymentNotice | RefundNotice) -> dict[str, Any]:
    detail = asdict(notice)
    detail.pop("payer_openid", None)
    return {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in detail.items()}


def _lock_order_row(session: Session, brand_id: int, order_id: int) -> None:
    # Loads the whole row: the checkout handler then finds it locked in the session.
    session.scalar(
        select(Order).where(Order.brand_id == brand_id, Order.id == order_id).with_for_update()
    )


def handle_payment_notice(session: Session, notice: PaymentNotice) -> tuple[int, str]:
    """Hand a verified notice to the checkout side: (brand_id, outcome). Locks the order, then
    the Payment. Raises UnknownOrder when no payment has this out_trade_no, NoticeNotHandled when no
    checkout handler is installed, and whatever the handler raises."""
    found = session.execute(
        select(Payment.brand_id, Payment.order_id).where(
            Payment.out_trade_no == notice.out_trade_no
        )
    ).one_or_none()
    if found is None:
        raise UnknownOrder(f"No order has out_trade_no {notice.out_trade_no}.")
    # Locks in the orders' order: the order first, then its payment (as checkout does).
    _lock_order_row(session, found.brand_id, found.order_id)
    payment = session.scalar(
        select(Payment).where(Payment.out_trade_no == notice.out_trade_no).with_for_update()
    )
    assert payment is not None
    _load_handlers()
    if _handlers.payment is None:
        raise NoticeNotHandled("Payment notifications cannot be processed yet.")
    return payment.brand_id, _handlers.payment(session, payment, notice)


def handle_refund_notice(session: Session, notice: RefundNotice) -> tuple[int, str]:
    """Like handle_payment_notice, for refunds (locks the Refund; UnknownRefund)."""
    found = session.execute(
        select(Refund.brand_id, Refund.order_id).where(Refund.out_refund_no == notice.out_refund_no)
    ).one_or_none()
    if found is None:
        raise UnknownRefund(f"No refund has out_refund_no {notice.out_refund_no}.")
    _lock_order_row(session, found.brand_id, found.order_id)
    refund = session.scalar(
        select(Refund).where(Refund.out_refund_no == notice.out_refund_no).with_for_update()
    )
    assert refund is not None
    _load_handlers()
    if _handlers.refund is None:
        raise NoticeNotHandled("Refund notifications cannot be processed yet.")
    return refund.brand_id, _handlers.refund(session, refund, notice)


def _dispatch(
    session: Session,
    notice: PaymentNotice | RefundNotice,
    reference: str,
    handle: Callable[[], tuple[int, str]],
) -> NotificationReceipt:
    brand_id: int | None = None
    error: SiyuError | None = None
    try:
        with session.begin_nested():
            brand_id, outcome = handle()
    except SiyuError as refusal:
        error, outcome = refusal, refusal.code
        log.warning(
            "wechat_pay_notification_not_applied",
            event_type=notice.event_type,
            reference=reference,
            outcome=outcome,
        )
    row = record_notification(
        session,
        brand_id=brand_id,
        event_type=notice.event_type,
        reference=reference,
        signature_valid=True,
        outcome=outcome,
        detail=_notice_detail(notice),
    )
    return NotificationReceipt(outcome, row, error)


def receive_payment_notification(
    session: Session, headers: Mapping[str, str], body: bytes
) -> NotificationReceipt:
    """Verify, log and apply a payment notification. Never raises for bad input: a refusal
    is in ``receipt.error`` and only the log row was written; the caller commits."""
    try:
        notice = _notification_gateway(session, headers).parse_payment_notification(headers, body)
    except InvalidNotification as error:
        return _refused(session, "TRANSACTION", headers, body, error)
    return _dispatch(
        session, notice, notice.out_trade_no, lambda: handle_payment_notice(session, notice)
    )


def receive_refund_notification(
    session: Session, headers: Mapping[str, str], body: bytes
) -> NotificationReceipt:
    """Like receive_payment_notification, for refund notifications."""
    try:
        notice = _notification_gateway(session, headers).parse_refund_notification(headers, body)
    except InvalidNotification as error:
        return _refused(session, "REFUND", headers, body, error)
    return _dispatch(
        session, notice, notice.out_refund_no, lambda: handle_refund_notice(session, notice)
    )
