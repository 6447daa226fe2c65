"""Tiers and the points ledger.

Revision ID: 0007_loyalty
Revises: 0006_member_core
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_loyalty"
down_revision: str | None = "0006_member_core"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "loyalty_tier",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("min_growth_value", sa.BigInteger(), nullable=False),
        sa.Column(
            "points_multiplier_permille", sa.Integer(), server_default="1000", nullable=False
        ),
        sa.Column("sort", sa.Integer(), nullable=False),
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
        sa.CheckConstraint("min_growth_value >= 0", name=op.f("ck_loyalty_tier_min_growth_value")),
        sa.CheckConstraint(
            "points_multiplier_permille >= 0 AND points_multiplier_permille <= 100000",
            name=op.f("ck_loyalty_tier_multiplier"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brand.id"],
            name=op.f("fk_loyalty_tier_brand_id_brand"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("brand_id", "id", name=op.f("pk_loyalty_tier")),
        sa.UniqueConstraint("brand_id", "code", name=op.f("uq_loyalty_tier_brand_id_code")),
    )
    op.create_table(
        "points_policy",
        sa.Column("points_per_yuan", sa.Integer(), server_default="1", nullable=False),
        sa.Column("expiry_months", sa.Integer(), server_default="12", nullable=False),
        sa.Column("redeem_points_per_yuan", sa.Integer(), server_default="100", nullable=False),
        sa.Column("max_redeem_permille", sa.Integer(), server_default="500", nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default="true", nullable=False),
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
        sa.CheckConstraint("expiry_months >= 1", name=op.f("ck_points_policy_expiry_months")),
        sa.CheckConstraint(
            "max_redeem_permille >= 0 AND max_redeem_permille <= 1000",
            name=op.f("ck_points_policy_max_redeem"),
        ),
        sa.CheckConstraint("points_per_yuan >= 0", name=op.f("ck_points_policy_points_per_yuan")),
        sa.CheckConstraint(
            "redeem_points_per_yuan >= 1", name=op.f("ck_points_policy_redeem_points_per_yuan")
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brand.id"],
            name=op.f("fk_points_policy_brand_id_brand"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("brand_id", "id", name=op.f("pk_points_policy")),
        sa.UniqueConstraint("brand_id", name=op.f("uq_points_policy_brand_id")),
    )
    op.create_table(
        "points_adjustment",
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("delta", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("idempotency_key", sa.String(length=64), nullable=False),
        sa.Column("staff_id", sa.BigInteger(), nullable=True),
        sa.Column("actor_label", sa.String(length=200), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("brand_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "id", sa.BigInteger(), sa.Identity(always=False), autoincrement=True, nullable=False
        ),
        sa.CheckConstraint("delta <> 0", name=op.f("ck_points_adjustment_delta")),
        sa.ForeignKeyConstraint(
            ["brand_id", "member_id"],
            ["member.brand_id", "member.id"],
            name=op.f("fk_points_adjustment_brand_id_member_id_member"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id", "staff_id"],
            ["staff.brand_id", "staff.id"],
            name=op.f("fk_points_adjustment_brand_id_staff_id_staff"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brand.id"],
            name=op.f("fk_points_adjustment_brand_id_brand"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("brand_id", "id", name=op.f("pk_points_adjustment")),
        sa.UniqueConstraint(
            "brand_id",
            "idempotency_key",
            name=op.f("uq_points_adjustment_brand_id_idempotency_key"),
        ),
    )
    op.create_table(
        "growth_entry",
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("delta", sa.BigInteger(), nullable=False),
        sa.Column("shortfall", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("cause_type", sa.String(length=24), nullable=False),
        sa.Column("cause_id", sa.BigInteger(), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("value_after", sa.BigInteger(), nullable=False),
        sa.Column(
            "occurred_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("brand_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "id", sa.BigInteger(), sa.Identity(always=False), autoincrement=True, nullable=False
        ),
        sa.CheckConstraint(
            "(kind = 'purchase' AND delta >= 0) OR (kind = 'refund' AND delta <= 0)",
            name=op.f("ck_growth_entry_delta_sign"),
        ),
        sa.CheckConstraint(
            "cause_type IN ('order', 'refund')", name=op.f("ck_growth_entry_cause_type")
        ),
        sa.CheckConstraint("kind IN ('purchase', 'refund')", name=op.f("ck_growth_entry_kind")),
        sa.CheckConstraint(
            "value_after >= 0 AND shortfall >= 0", name=op.f("ck_growth_entry_value_after")
        ),
        sa.ForeignKeyConstraint(
            ["brand_id", "member_id"],
            ["member.brand_id", "member.id"],
            name=op.f("fk_growth_entry_brand_id_member_id_member"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id", "order_id"],
            ["sales_order.brand_id", "sales_order.id"],
            name=op.f("fk_growth_entry_brand_id_order_id_sales_order"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brand.id"],
            name=op.f("fk_growth_entry_brand_id_brand"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("brand_id", "id", name=op.f("pk_growth_entry")),
        sa.UniqueConstraint(
            "brand_id",
            "kind",
            "cause_type",
            "cause_id",
            "member_id",
            name=op.f("uq_growth_entry_brand_id_kind_cause_type_cause_id_member_id"),
        ),
    )
    op.create_index(
        "ix_growth_entry_member", "growth_entry", ["brand_id", "member_id", "id"], unique=False
    )
    op.create_index("ix_growth_entry_order", "growth_entry", ["brand_id", "order_id"], unique=False)
    op.create_table(
        "points_entry",
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("delta", sa.BigInteger(), nullable=False),
        sa.Column("shortfall", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("cause_type", sa.String(length=24), nullable=False),
        sa.Column("cause_id", sa.BigInteger(), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=True),
        sa.Column("balance_after", sa.BigInteger(), nullable=False),
        sa.Column(
            "occurred_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.Column("brand_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "id", sa.BigInteger(), sa.Identity(always=False), autoincrement=True, nullable=False
        ),
        sa.CheckConstraint(
            "(kind IN ('earn', 'return_spend') AND delta > 0) OR (kind IN ('spend', 'expire') AND delta < 0) OR (kind = 'reverse_earn' AND delta <= 0) OR (kind = 'adjust' AND delta <> 0)",
            name=op.f("ck_points_entry_delta_sign"),
        ),
        sa.CheckConstraint(
            "cause_type IN ('order', 'refund', 'points_adjustment', 'points_lot')",
            name=op.f("ck_points_entry_cause_type"),
        ),
        sa.CheckConstraint(
            "kind IN ('earn', 'reverse_earn', 'spend', 'return_spend', 'expire', 'adjust')",
            name=op.f("ck_points_entry_kind"),
        ),
        sa.CheckConstraint("balance_after >= 0", name=op.f("ck_points_entry_balance_after")),
        sa.CheckConstraint("shortfall >= 0", name=op.f("ck_points_entry_shortfall")),
        sa.ForeignKeyConstraint(
            ["brand_id", "member_id"],
            ["member.brand_id", "member.id"],
            name=op.f("fk_points_entry_brand_id_member_id_member"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id", "order_id"],
            ["sales_order.brand_id", "sales_order.id"],
            name=op.f("fk_points_entry_brand_id_order_id_sales_order"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brand.id"],
            name=op.f("fk_points_entry_brand_id_brand"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("brand_id", "id", name=op.f("pk_points_entry")),
        sa.UniqueConstraint(
            "brand_id",
            "kind",
            "cause_type",
            "cause_id",
            "member_id",
            name=op.f("uq_points_entry_brand_id_kind_cause_type_cause_id_member_id"),
        ),
    )
    op.create_index(
        "ix_points_entry_member", "points_entry", ["brand_id", "member_id", "id"], unique=False
    )
    op.create_index(
        "ix_points_entry_order",
        "points_entry",
        ["brand_id", "order_id"],
        unique=False,
        postgresql_where=sa.text("order_id IS NOT NULL"),
    )
    op.create_table(
        "points_lot",
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("remaining", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("origin_lot_id", sa.BigInteger(), nullable=True),
        sa.Column("brand_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "id", sa.BigInteger(), sa.Identity(always=False), autoincrement=True, nullable=False
        ),
        sa.CheckConstraint(
            "points > 0 AND remaining >= 0 AND remaining <= points",
            name=op.f("ck_points_lot_remaining"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id", "entry_id"],
            ["points_entry.brand_id", "points_entry.id"],
            name=op.f("fk_points_lot_brand_id_entry_id_points_entry"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id", "member_id"],
            ["member.brand_id", "member.id"],
            name=op.f("fk_points_lot_brand_id_member_id_member"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id", "origin_lot_id"],
            ["points_lot.brand_id", "points_lot.id"],
            name=op.f("fk_points_lot_brand_id_origin_lot_id_points_lot"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brand.id"],
            name=op.f("fk_points_lot_brand_id_brand"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("brand_id", "id", name=op.f("pk_points_lot")),
    )
    op.create_index(
        "ix_points_lot_due",
        "points_lot",
        ["expires_at"],
        unique=False,
        postgresql_where=sa.text("remaining > 0"),
    )
    op.create_index(
        "ix_points_lot_open",
        "points_lot",
        ["brand_id", "member_id", "expires_at", "id"],
        unique=False,
        postgresql_where=sa.text("remaining > 0"),
    )
    op.create_table(
        "points_lot_use",
        sa.Column("entry_id", sa.BigInteger(), nullable=False),
        sa.Column("lot_id", sa.BigInteger(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("returned_points", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("brand_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "id", sa.BigInteger(), sa.Identity(always=False), autoincrement=True, nullable=False
        ),
        sa.CheckConstraint(
            "points > 0 AND returned_points >= 0 AND returned_points <= points",
            name=op.f("ck_points_lot_use_points"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id", "entry_id"],
            ["points_entry.brand_id", "points_entry.id"],
            name=op.f("fk_points_lot_use_brand_id_entry_id_points_entry"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id", "lot_id"],
            ["points_lot.brand_id", "points_lot.id"],
            name=op.f("fk_points_lot_use_brand_id_lot_id_points_lot"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brand.id"],
            name=op.f("fk_points_lot_use_brand_id_brand"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("brand_id", "id", name=op.f("pk_points_lot_use")),
    )
    op.create_index(
        "ix_points_lot_use_entry", "points_lot_use", ["brand_id", "entry_id"], unique=False
    )
    op.add_column(
        "sales_order",
        sa.Column("points_spent", sa.BigInteger(), server_default="0", nullable=False),
    )
    op.add_column(
        "sales_order",
        sa.Column("points_discount_fen", sa.BigInteger(), server_default="0", nullable=False),
    )

    op.create_check_constraint(
        op.f("ck_sales_order_points"),
        "sales_order",
        "points_spent >= 0 AND points_discount_fen >= 0",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_sales_order_points"), "sales_order", type_="check")
    op.drop_column("sales_order", "points_discount_fen")
    op.drop_column("sales_order", "points_spent")
    op.drop_index("ix_points_lot_use_entry", table_name="points_lot_use")
    op.drop_table("points_lot_use")
    op.drop_index("ix_points_lot_open", table_name="points_lot")
    op.drop_index("ix_points_lot_due", table_name="points_lot")
    op.drop_table("points_lot")
    op.drop_index("ix_points_entry_order", table_name="points_entry")
    op.drop_index("ix_points_entry_member", table_name="points_entry")
    op.drop_table("points_entry")
    op.drop_index("ix_growth_entry_order", table_name="growth_entry")
    op.drop_index("ix_growth_entry_member", table_name="growth_entry")
    op.drop_table("growth_entry")
    op.drop_table("points_adjustment")
    op.drop_table("points_policy")
    op.drop_table("loyalty_tier")
