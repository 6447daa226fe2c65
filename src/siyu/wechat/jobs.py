"""The sandbox WeChat Pay's deliveries: one procrastinate job per notification sent.

Each job builds its notification when it runs (signed and encrypted like WeChat's, with a
fresh timestamp) and hands it to the receiving service directly, not over HTTP, in a unit of
work of its own. A refund job also completes the refund in the sandbox ledger first.
"""

from __future__ import annotations

import procrastinate

from siyu.core.clock import utc_now
from siyu.db.session import get_database
from siyu.payments.service import receive_payment_notification, receive_refund_notification
from siyu.wechat.models import SandboxPayTransaction
from siyu.wechat.sandbox_pay import (
    NOTIFY_QUEUE,
    mark_refund_succeeded,
    payment_notification,
    refund_notification,
)

tasks = procrastinate.Blueprint()


@tasks.task(name="deliver_sandbox_payment_notification", queue=NOTIFY_QUEUE)
def deliver_sandbox_payment_notification(out_trade_no: str) -> str:
    """Deliver TRANSACTION.SUCCESS for a paid sandbox trade; returns siyu's outcome."""
    with get_database().unit_of_work() as session:
        tx = session.get(SandboxPayTransaction, out_trade_no)
        if tx is None or tx.transaction_id is None:
            return "no_transaction"
        headers, body = payment_notification(tx, utc_now())
        return receive_payment_notification(session, headers, body).outcome


@tasks.task(name="deliver_sandbox_refund_notification", queue=NOTIFY_QUEUE)
def deliver_sandbox_refund_notification(out_trade_no: str, out_refund_no: str) -> str:
    """Complete a sandbox refund and deliver REFUND.SUCCESS; returns siyu's outcome."""
    with get_database().unit_of_work() as session:
        found = mark_refund_succeeded(session, out_trade_no, out_refund_no)
        if found is None:
            return "no_refund"
        tx, refund = found
        headers, body = refund_notification(tx, refund, utc_now())
        return receive_refund_notification(session, headers, body).outcome
