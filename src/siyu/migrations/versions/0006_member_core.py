"""Members: merges, lifecycle policy and the member-side tables of the members core.

Revision ID: 0006_member_core
Revises: 0005_members
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_member_core"
down_revision: str | None = "0005_members"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "lifecycle_policy",
        sa.Column("repeat_min_orders", sa.BigInteger(), server_default="2", nullable=False),
        sa.Column("loyal_min_orders", sa.BigInteger(), server_default="5", nullable=False),
        sa.Column("loyal_min_spent_fen", sa.BigInteger(), server_default="200000", nullable=False),
        sa.Column("dormant_after_days", sa.BigInteger(), server_default="90", nullable=False),
        sa.Column("churned_after_days", sa.BigInteger(), server_default="180", nullable=False),
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
        sa.CheckConstraint(
            "churned_after_days > dormant_after_days",
            name=op.f("ck_lifecycle_policy_churned_after_days"),
        ),
        sa.CheckConstraint(
            "dormant_after_days >= 1", name=op.f("ck_lifecycle_policy_dormant_after_days")
        ),
        sa.CheckConstraint(
            "loyal_min_orders >= repeat_min_orders",
            name=op.f("ck_lifecycle_policy_loyal_min_orders"),
        ),
        sa.CheckConstraint(
            "loyal_min_spent_fen >= 0", name=op.f("ck_lifecycle_policy_loyal_min_spent_fen")
        ),
        sa.CheckConstraint(
            "repeat_min_orders >= 2", name=op.f("ck_lifecycle_policy_repeat_min_orders")
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brand.id"],
            name=op.f("fk_lifecycle_policy_brand_id_brand"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("brand_id", "id", name=op.f("pk_lifecycle_policy")),
        sa.UniqueConstraint("brand_id", name=op.f("uq_lifecycle_policy_brand_id")),
    )
    op.create_table(
        "member_purchase_entry",
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("refund_id", sa.BigInteger(), nullable=True),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("whole_order", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "recorded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("brand_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "id", sa.BigInteger(), sa.Identity(always=False), autoincrement=True, nullable=False
        ),
        sa.CheckConstraint(
            "(kind = 'refunded') = (refund_id IS NOT NULL)",
            name=op.f("ck_member_purchase_entry_refund_id"),
        ),
        sa.CheckConstraint(
            "kind IN ('paid', 'refunded')", name=op.f("ck_member_purchase_entry_kind")
        ),
        sa.CheckConstraint("amount_fen >= 0", name=op.f("ck_member_purchase_entry_amount_fen")),
        sa.ForeignKeyConstraint(
            ["brand_id", "member_id"],
            ["member.brand_id", "member.id"],
            name=op.f("fk_member_purchase_entry_brand_id_member_id_member"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id", "order_id"],
            ["sales_order.brand_id", "sales_order.id"],
            name=op.f("fk_member_purchase_entry_brand_id_order_id_sales_order"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brand.id"],
            name=op.f("fk_member_purchase_entry_brand_id_brand"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("brand_id", "id", name=op.f("pk_member_purchase_entry")),
    )
    op.create_index(
        "ix_member_purchase_entry_member",
        "member_purchase_entry",
        ["brand_id", "member_id"],
        unique=False,
    )
    op.create_index(
        "uq_member_purchase_entry_paid",
        "member_purchase_entry",
        ["brand_id", "order_id"],
        unique=True,
        postgresql_where=sa.text("kind = 'paid'"),
    )
    op.create_index(
        "uq_member_purchase_entry_refund",
        "member_purchase_entry",
        ["brand_id", "refund_id"],
        unique=True,
        postgresql_where=sa.text("kind = 'refunded'"),
    )
    op.create_index(
        "ix_member_lifecycle_last_order",
        "member",
        ["lifecycle_stage", "last_order_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_member_lifecycle_last_order", table_name="member")
    op.drop_index(
        "uq_member_purchase_entry_refund",
        table_name="member_purchase_entry",
        postgresql_where=sa.text("kind = 'refunded'"),
    )
    op.drop_index(
        "uq_member_purchase_entry_paid",
        table_name="member_purchase_entry",
        postgresql_where=sa.text("kind = 'paid'"),
    )
    op.drop_index("ix_member_purchase_entry_member", table_name="member_purchase_entry")
    op.drop_table("member_purchase_entry")
    op.drop_table("lifecycle_policy")
