"""Attribution models and order touchpoint credit.

Revision ID: 0011_attribution
Revises: 0010_tracking
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_attribution"
down_revision: str | None = "0010_tracking"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MODELS = "'first_touch', 'last_touch', 'linear', 'position_based', 'time_decay'"


def upgrade() -> None:
    op.create_table(
        "attribution_setting",
        sa.Column("model", sa.String(length=24), nullable=False),
        sa.Column("lookback_days", sa.Integer(), server_default="30", nullable=False),
        sa.Column("position_first_percent", sa.Integer(), server_default="40", nullable=False),
        sa.Column("position_middle_percent", sa.Integer(), server_default="20", nullable=False),
        sa.Column("position_last_percent", sa.Integer(), server_default="40", nullable=False),
        sa.Column("half_life_days", sa.Integer(), server_default="7", nullable=False),
        sa.Column("brand_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "id", sa.BigInteger(), sa.Identity(always=False), autoincrement=True, nullable=False
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(f"model IN ({MODELS})", name=op.f("ck_attribution_setting_model")),
        sa.CheckConstraint(
            "half_life_days BETWEEN 1 AND 365", name=op.f("ck_attribution_setting_half_life_days")
        ),
        sa.CheckConstraint(
            "lookback_days BETWEEN 1 AND 365", name=op.f("ck_attribution_setting_lookback_days")
        ),
        sa.CheckConstraint(
            "position_first_percent >= 0 AND position_middle_percent >= 0"
            " AND position_last_percent >= 0 AND position_first_percent"
            " + position_middle_percent + position_last_percent = 100",
            name=op.f("ck_attribution_setting_position_percents"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brand.id"],
            name=op.f("fk_attribution_setting_brand_id_brand"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("brand_id", "id", name=op.f("pk_attribution_setting")),
        sa.UniqueConstraint("brand_id", name=op.f("uq_attribution_setting_brand_id")),
    )
    op.create_table(
        "order_touchpoint_credit",
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("touchpoint_id", sa.BigInteger(), nullable=True),
        sa.Column("credit_permille", sa.Integer(), nullable=False),
        sa.Column("credited_fen", sa.BigInteger(), nullable=False),
        sa.Column("model", sa.String(length=24), nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "computed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("brand_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "id", sa.BigInteger(), sa.Identity(always=False), autoincrement=True, nullable=False
        ),
        sa.CheckConstraint(f"model IN ({MODELS})", name=op.f("ck_order_touchpoint_credit_model")),
        sa.CheckConstraint(
            "credit_permille BETWEEN 0 AND 1000",
            name=op.f("ck_order_touchpoint_credit_credit_permille"),
        ),
        sa.CheckConstraint(
            "credited_fen >= 0", name=op.f("ck_order_touchpoint_credit_credited_fen")
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brand.id"],
            name=op.f("fk_order_touchpoint_credit_brand_id_brand"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("brand_id", "id", name=op.f("pk_order_touchpoint_credit")),
        sa.UniqueConstraint(
            "brand_id",
            "order_id",
            "touchpoint_id",
            name=op.f("uq_order_touchpoint_credit_brand_id_order_id_touchpoint_id"),
            postgresql_nulls_not_distinct=True,
        ),
    )
    op.create_index(
        "ix_order_touchpoint_credit_paid", "order_touchpoint_credit", ["brand_id", "paid_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_order_touchpoint_credit_paid", table_name="order_touchpoint_credit")
    op.drop_table("order_touchpoint_credit")
    op.drop_table("attribution_setting")
