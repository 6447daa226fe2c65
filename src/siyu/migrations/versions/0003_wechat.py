"""WeChat: per-brand mini program and pay merchant configuration, and the sandbox pay ledger.

Revision ID: 0003_wechat
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003_wechat"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "wechat_account",
        sa.Column("brand_id", sa.BigInteger(), nullable=False),
        sa.Column("mini_program_app_id", sa.String(length=32), nullable=False),
        sa.Column("pay_mch_id", sa.String(length=32), nullable=True),
        sa.Column("pay_cert_serial_no", sa.String(length=64), nullable=True),
        sa.Column("pay_private_key_file", sa.String(length=500), nullable=True),
        sa.Column("pay_apiv3_key_file", sa.String(length=500), nullable=True),
        sa.Column("pay_public_key_id", sa.String(length=64), nullable=True),
        sa.Column("pay_public_key_file", sa.String(length=500), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brand.id"],
            name=op.f("fk_wechat_account_brand_id_brand"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("brand_id", name=op.f("pk_wechat_account")),
    )
    op.create_table(
        "sandbox_pay_transaction",
        sa.Column("out_trade_no", sa.String(length=32), nullable=False),
        sa.Column("brand_id", sa.BigInteger(), nullable=True),
        sa.Column("mch_id", sa.String(length=32), nullable=False),
        sa.Column("app_id", sa.String(length=32), nullable=False),
        sa.Column("prepay_id", sa.String(length=64), nullable=False),
        sa.Column("description", sa.String(length=127), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("payer_openid", sa.String(length=128), nullable=False),
        sa.Column("notify_url", sa.String(length=256), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("trade_state", sa.String(length=16), server_default="NOTPAY", nullable=False),
        sa.Column("transaction_id", sa.String(length=32), nullable=True),
        sa.Column("success_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refunded_fen", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column(
            "refunds",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="[]",
            nullable=False,
        ),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "trade_state IN ('NOTPAY', 'SUCCESS', 'CLOSED', 'REFUND')",
            name=op.f("ck_sandbox_pay_transaction_trade_state"),
        ),
        sa.CheckConstraint("amount_fen > 0", name=op.f("ck_sandbox_pay_transaction_amount")),
        sa.CheckConstraint(
            "refunded_fen >= 0 AND refunded_fen <= amount_fen",
            name=op.f("ck_sandbox_pay_transaction_refunded"),
        ),
        sa.PrimaryKeyConstraint("out_trade_no", name=op.f("pk_sandbox_pay_transaction")),
        sa.UniqueConstraint("prepay_id", name=op.f("uq_sandbox_pay_transaction_prepay_id")),
        sa.UniqueConstraint(
            "transaction_id", name=op.f("uq_sandbox_pay_transaction_transaction_id")
        ),
    )


def downgrade() -> None:
    op.drop_table("sandbox_pay_transaction")
    op.drop_table("wechat_account")
