"""WeChat configuration per brand, and the sandbox platform's own state.

``wechat_account`` names where a brand's secrets live (files on the server), never the secrets
themselves. ``sandbox_pay_transaction`` is the sandbox WeChat Pay's ledger: platform state,
not tenant data, keyed like the platform keys it, by ``out_trade_no``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db.base import Base, Timestamps


class WeChatAccount(Timestamps, Base):
    """A brand's mini program and WeChat Pay merchant (direct-merchant mode, APIv3)."""

    __tablename__ = "wechat_account"

    brand_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("brand.id", ondelete="CASCADE"), primary_key=True
    )
    mini_program_app_id: Mapped[str] = mapped_column(String(32))
    # The AppSecret is read from <wechat_secrets_dir>/<app id>.appsecret. The *_file columns
    # name files (absolute, or relative to wechat_secrets_dir) readable by siyu only.
    pay_mch_id: Mapped[str | None] = mapped_column(String(32))
    pay_cert_serial_no: Mapped[str | None] = mapped_column(String(64))
    pay_private_key_file: Mapped[str | None] = mapped_column(String(500))
    pay_apiv3_key_file: Mapped[str | None] = mapped_column(String(500))
    # WeChat Pay public-key mode (new merchants); without it, platform certificates are used.
    pay_public_key_id: Mapped[str | None] = mapped_column(String(64))
    pay_public_key_file: Mapped[str | None] = mapped_column(String(500))


class SandboxPayTransaction(Base):
    """One order in the sandbox WeChat Pay, with its refunds in ``refunds``."""

    __tablename__ = "sandbox_pay_transaction"
    __table_args__ = (
        CheckConstraint(
            "trade_state IN ('NOTPAY', 'SUCCESS', 'CLOSED', 'REFUND')", name="trade_state"
        ),
        CheckConstraint("amount_fen > 0", name="amount"),
        CheckConstraint("refunded_fen >= 0 AND refunded_fen <= amount_fen", name="refunded"),
    )

    out_trade_no: Mapped[str] = mapped_column(String(32), primary_key=True)
    brand_id: Mapped[int | None]
    mch_id: Mapped[str] = mapped_column(String(32))
    app_id: Mapped[str] = mapped_column(String(32))
    prepay_id: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(String(127))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    payer_openid: Mapped[str] = mapped_column(String(128))
    notify_url: Mapped[str] = mapped_column(String(256))
    expires_at: Mapped[datetime]
    trade_state: Mapped[str] = mapped_column(String(16), server_default="NOTPAY")
    transaction_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    success_time: Mapped[datetime | None]
    refunded_fen: Mapped[int] = mapped_column(BigInteger, server_default="0")
    refunds: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default="[]")
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
