"""Connects WeChat Pay notifications (siyu.payments) to orders: siyu.payments imports this
module on first use and calls ``register``, which installs the handlers that settle payments
and refunds."""

from __future__ import annotations

from siyu.orders.payment import settle_payment_notice, settle_refund_notice
from siyu.payments.service import register_notice_handlers


def register() -> None:
    register_notice_handlers(payment=settle_payment_notice, refund=settle_refund_notice)
