"""Payments and refunds through the payment adapter, and every notification received.

``out_trade_no`` and ``out_refund_no`` are unique across the deployment: the payment provider
calls one notification address per merchant, and the number alone must find the brand.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKeyConstraint,
    Identity,
    Index,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db.base import Base, TenantKey


class Payment(TenantKey, Base):
    __tablename__ = "payment"
    __table_args__ = (
        UniqueConstraint("out_trade_no"),
        ForeignKeyConstraint(["brand_id", "order_id"], ["sales_order.brand_id", "sales_order.id"]),
        CheckConstraint("amount_fen > 0", name="amount"),
        CheckConstraint(
            "refunded_fen >= 0 AND refunded_fen <= amount_fen", name="refunded_within_amount"
        ),
        CheckConstraint("status IN ('pending', 'succeeded', 'closed')", name="status"),
        Index("ix_payment_order", "brand_id", "order_id"),
    )

    order_id: Mapped[int]
    provider: Mapped[str] = mapped_column(String(32), server_default="wechat_pay")
    out_trade_no: Mapped[str] = mapped_column(String(32))
    prepay_id: Mapped[str | None] = mapped_column(String(128))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    refunded_fen: Mapped[int] = mapped_column(BigInteger, server_default="0")
    status: Mapped[str] = mapped_column(String(16), server_default="pending")
    transaction_id: Mapped[str | None] = mapped_column(String(64))
    payer_openid: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    succeeded_at: Mapped[datetime | None]


class Refund(TenantKey, Base):
    __tablename__ = "refund"
    __table_args__ = (
        UniqueConstraint("out_refund_no"),
        UniqueConstraint("brand_id", "order_id", "idempotency_key"),
        ForeignKeyConstraint(["brand_id", "payment_id"], ["payment.brand_id", "payment.id"]),
        ForeignKeyConstraint(["brand_id", "order_id"], ["sales_order.brand_id", "sales_order.id"]),
        CheckConstraint("amount_fen > 0", name="amount"),
        CheckConstraint("status IN ('pending', 'succeeded', 'failed')", name="status"),
        Index("ix_refund_order", "brand_id", "order_id"),
    )

    payment_id: Mapped[int]
    order_id: Mapped[int]
    out_refund_no: Mapped[str] = mapped_column(String(64))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), server_default="pending")
    provider_refund_id: Mapped[str | None] = mapped_column(String(64))
    after_sale_id: Mapped[int | None]
    idempotency_key: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime] = mapped_column(server_default=func.now())
    succeeded_at: Mapped[datetime | None]
    failure: Mapped[str | None] = mapped_column(String(500))


class PaymentNotification(Base):
    """Every notification the provider (or a forger) sent, with what siyu made of it."""

    __tablename__ = "payment_notification"
    __table_args__ = (Index("ix_payment_notification_received", "received_at"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    brand_id: Mapped[int | None]
    provider: Mapped[str] = mapped_column(String(32))
    event_type: Mapped[str | None] = mapped_column(String(64))
    reference: Mapped[str | None] = mapped_column(String(64))
    signature_valid: Mapped[bool]
    outcome: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    received_at: Mapped[datetime] = mapped_column(server_default=func.now())
