"""Paying for orders and refunding them through the payment adapter (WeChat Pay).

Notifications may arrive late, twice or out of order: every handler here is idempotent and
decides from the stored state, never from the order of arrival. Locks: the order, then the
payment or refund row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.config import get_settings
from siyu.consumers.models import ConsumerIdentity
from siyu.core.clock import utc_now
from siyu.core.errors import InvalidInput
from siyu.inventory.service import release_holds
from siyu.orders import events
from siyu.orders.checkout import Shopper
from siyu.orders.errors import (
    OrderNotFound,
    OrderNotPayable,
    PaymentRefused,
    RefundExceedsPaid,
)
from siyu.orders.locks import lock_order, locked_order
from siyu.orders.models import Order
from siyu.orders.rules import out_trade_no
from siyu.orders.service import add_order_event, record_order_payment
from siyu.outbox.service import record_event
from siyu.payments.models import Payment, Refund
from siyu.payments.service import get_pay_gateway
from siyu.wechat.adapters import PayError, PayGateway, PaymentNotice, RefundNotice

PAYMENT_DESCRIPTION_LIMIT = 127


def notify_url(kind: str) -> str:
    base = get_settings().wechat_notify_base_url.rstrip("/")
    return f"{base}/api/payments/wechat/{kind}"


@dataclass(frozen=True)
class PaymentStart:
    payment: Payment
    pay_params: dict[str, Any]


def start_payment(
    session: Session, shopper: Shopper, order_id: int, gateway: PayGateway
) -> PaymentStart:
    """Create (or reuse) the payment of an unpaid order and return what the mini-program needs
    to pay. Locks the order. Raises OrderNotFound, OrderNotPayable, PaymentRefused."""
    order = session.scalar(
        select(Order)
        .where(
            Order.brand_id == shopper.brand_id,
            Order.consumer_id == shopper.consumer_id,
            Order.id == order_id,
        )
        .with_for_update()
    )
    if order is None:
        raise OrderNotFound(f"Order {order_id} was not found.")
    now = utc_now()
    if order.lifecycle_status != "open" or order.payment_status != "unpaid":
        raise OrderNotPayable(f"Order {order.number} is not awaiting payment.")
    if order.payment_due_at <= now:
        raise OrderNotPayable(f"Order {order.number} was not paid in time.")
    earlier = session.scalars(
        select(Payment).where(Payment.brand_id == order.brand_id, Payment.order_id == order.id)
    ).all()
    for pending in earlier:
        if pending.status == "pending" and pending.prepay_id is not None:
            return PaymentStart(pending, gateway.mini_program_pay_params(pending.prepay_id))
    openid = session.scalar(
        select(ConsumerIdentity.value).where(
            ConsumerIdentity.brand_id == order.brand_id,
            ConsumerIdentity.consumer_id == order.consumer_id,
            ConsumerIdentity.kind == "mini_program_openid",
        )
    )
    if openid is None:
        raise OrderNotPayable("Log in through the mini-program to pay.", field="consumer")
    number = out_trade_no(order.brand_id, order.id, len(earlier) + 1)
    try:
        prepay_id = gateway.create_jsapi_order(
            out_trade_no=number,
            description=f"Order {order.number}"[:PAYMENT_DESCRIPTION_LIMIT],
            amount_fen=order.total_fen,
            payer_openid=openid,
            notify_url=notify_url("notify"),
            expires_at=order.payment_due_at,
        )
    except PayError as error:
        raise PaymentRefused(error.message, extra={"provider_code": error.code}) from error
    payment = Payment(
        brand_id=order.brand_id,
        order_id=order.id,
        out_trade_no=number,
        prepay_id=prepay_id,
        amount_fen=order.total_fen,
        payer_openid=openid,
    )
    session.add(payment)
    add_order_event(session, order, "payment_started", shopper.label, out_trade_no=number)
    session.flush()
    return PaymentStart(payment, gateway.mini_program_pay_params(prepay_id))


def settle_payment_notice(session: Session, payment: Payment, notice: PaymentNotice) -> str:
    """Apply a verified payment notification to its payment (locked by the caller, after its
    order); returns the outcome recorded with it: ``paid``, ``duplicate``, ``closed``,
    ``amount_mismatch``, ``refunded_cancelled_order`` or ``refunded_double_payment``."""
    order = locked_order(session, payment.brand_id, payment.order_id)
    if notice.trade_state != "SUCCESS":
        if payment.status == "pending":
            payment.status = "closed"
            return "closed"
        return "duplicate"
    if payment.status == "succeeded":
        return "duplicate"
    if notice.amount_fen != payment.amount_fen:
        add_order_event(
            session,
            order,
            "payment_amount_mismatch",
            "wechat_pay",
            expected_fen=payment.amount_fen,
            received_fen=notice.amount_fen,
        )
        return "amount_mismatch"
    payment.status = "succeeded"
    payment.transaction_id = notice.transaction_id
    payment.succeeded_at = notice.success_time or utc_now()
    outcome = record_order_payment(
        session,
        order.id,
        order.brand_id,
        amount_fen=notice.amount_fen,
        payment_id=payment.id,
        paid_at=payment.succeeded_at,
        actor_label="wechat_pay",
    )
    if outcome.result == "paid":
        return "paid"
    gateway = get_pay_gateway(session, payment.brand_id)
    if outcome.result == "order_cancelled":
        # The money arrived after the order was cancelled: give it back in full.
        reason, result = (
            "Order was cancelled before the payment arrived",
            "refunded_cancelled_order",
        )
    else:
        # A second payment for an order already paid through another one.
        reason, result = "The order was already paid", "refunded_double_payment"
    _refund(
        session,
        order,
        payment,
        amount_fen=payment.amount_fen,
        reason=reason,
        idempotency_key=automatic_refund_key(payment.id),
        gateway=gateway,
        actor_label="system",
    )
    return result


def automatic_refund_key(payment_id: int) -> str:
    """The idempotency key of the refund giving back a payment that never became a sale."""
    return f"auto-refund-{payment_id}"


def is_automatic_refund(refund: Refund) -> bool:
    """Whether ``refund`` gave back money that never paid for the order (a payment for a
    cancelled order, or a second payment of a paid one)."""
    return refund.idempotency_key == automatic_refund_key(refund.payment_id)


def refundable_fen(session: Session, order: Order) -> int:
    """What is left to refund: paid, minus refunds succeeded or still in flight."""
    promised = (
        session.scalar(
            select(func.coalesce(func.sum(Refund.amount_fen), 0)).where(
                Refund.brand_id == order.brand_id,
                Refund.order_id == order.id,
                Refund.status.in_(("pending", "succeeded")),
            )
        )
        or 0
    )
    return order.paid_fen - int(promised)


def refund_order(
    session: Session,
    order_id: int,
    brand_id: int,
    *,
    amount_fen: int,
    reason: str,
    idempotency_key: str,
    gateway: PayGateway,
    actor_label: str,
    after_sale_id: int | None = None,
) -> Refund:
    """Refund part or all of what was paid for an order (after-sales, HQ). Idempotent per order
    and key. Locks the order and its payment. Raises OrderNotFound, RefundExceedsPaid,
    PaymentRefused."""
    order = lock_order(session, brand_id, order_id)
    if order is None:
        raise OrderNotFound(f"Order {order_id} was not found.")
    existing = session.scalar(
        select(Refund).where(
            Refund.brand_id == brand_id,
            Refund.order_id == order_id,
            Refund.idempotency_key == idempotency_key,
        )
    )
    if existing is not None:
        return existing
    if amount_fen <= 0:
        raise InvalidInput("A refund must be at least 1 fen.", field="amount_fen")
    payment = session.scalar(
        select(Payment)
        .where(
            Payment.brand_id == brand_id,
            Payment.order_id == order_id,
            Payment.status == "succeeded",
        )
        .order_by(Payment.id)
        .with_for_update()
    )
    remaining = refundable_fen(session, order)
    if payment is None or amount_fen > remaining:
        raise RefundExceedsPaid(
            f"At most {max(remaining, 0)} fen can still be refunded for order {order.number}.",
            field="amount_fen",
            extra={"refundable_fen": max(remaining, 0)},
        )
    refund = _refund(
        session,
        order,
        payment,
        amount_fen=amount_fen,
        reason=reason,
        idempotency_key=idempotency_key,
        gateway=gateway,
        actor_label=actor_label,
    )
    refund.after_sale_id = after_sale_id
    return refund


def _refund(
    session: Session,
    order: Order,
    payment: Payment,
    *,
    amount_fen: int,
    reason: str,
    idempotency_key: str,
    gateway: PayGateway,
    actor_label: str,
) -> Refund:
    count = (
        session.scalar(
            select(func.count())
            .select_from(Refund)
            .where(Refund.payment_id == payment.id, Refund.brand_id == payment.brand_id)
        )
        or 0
    )
    refund = Refund(
        brand_id=order.brand_id,
        payment_id=payment.id,
        order_id=order.id,
        out_refund_no=f"{payment.out_trade_no}R{count + 1}",
        amount_fen=amount_fen,
        reason=reason[:200],
        idempotency_key=idempotency_key,
    )
    session.add(refund)
    session.flush()
    try:
        result = gateway.refund(
            out_trade_no=payment.out_trade_no,
            out_refund_no=refund.out_refund_no,
            amount_fen=amount_fen,
            total_fen=payment.amount_fen,
            reason=reason,
            notify_url=notify_url("refund-notify"),
        )
    except PayError as error:
        raise PaymentRefused(error.message, extra={"provider_code": error.code}) from error
    refund.provider_refund_id = result.provider_refund_id
    add_order_event(
        session,
        order,
        "refund_requested",
        actor_label,
        out_refund_no=refund.out_refund_no,
        amount_fen=amount_fen,
        reason=reason,
    )
    if result.status == "SUCCESS":
        _refund_succeeded(session, order, payment, refund)
    return refund


def settle_refund_notice(session: Session, refund: Refund, notice: RefundNotice) -> str:
    """Apply a verified refund notification to its refund (locked by the caller, after its
    order): ``refunded``, ``failed``, ``processing`` or ``duplicate``."""
    order = locked_order(session, refund.brand_id, refund.order_id)
    if refund.status != "pending":
        return "duplicate"
    payment = session.scalar(
        select(Payment)
        .where(Payment.brand_id == refund.brand_id, Payment.id == refund.payment_id)
        .with_for_update()
    )
    assert payment is not None
    if notice.refund_status == "SUCCESS":
        _refund_succeeded(session, order, payment, refund)
        return "refunded"
    if notice.refund_status in {"CLOSED", "ABNORMAL"}:
        refund.status = "failed"
        refund.failure = notice.refund_status
        add_order_event(
            session, order, "refund_failed", "wechat_pay", out_refund_no=refund.out_refund_no
        )
        return "failed"
    return "processing"


def _refund_succeeded(session: Session, order: Order, payment: Payment, refund: Refund) -> None:
    refund.status = "succeeded"
    refund.succeeded_at = utc_now()
    payment.refunded_fen += refund.amount_fen
    if order.payment_status in {"paid", "partially_refunded"}:
        order.refunded_fen += refund.amount_fen
        order.payment_status = (
            "refunded" if order.refunded_fen >= order.paid_fen else "partially_refunded"
        )
        if order.payment_status == "refunded" and order.fulfilment_status != "fulfilled":
            # Nothing left to deliver: the goods go back on sale.
            release_holds(
                session,
                order.brand_id,
                holder_kind="order",
                holder_id=order.id,
                actor_label="system",
                reason="refunded",
            )
            order.lifecycle_status = "cancelled"
            order.cancelled_at = utc_now()
            order.cancel_reason = order.cancel_reason or "refunded"
            order.pickup_code = None
    add_order_event(
        session,
        order,
        "refunded",
        "wechat_pay",
        out_refund_no=refund.out_refund_no,
        amount_fen=refund.amount_fen,
    )
    record_event(
        session,
        order.brand_id,
        events.OrderRefunded(
            order_id=order.id,
            selling_store_id=order.selling_store_id,
            refund_id=refund.id,
            amount_fen=refund.amount_fen,
        ),
    )
