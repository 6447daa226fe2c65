"""Offline (POS) orders and their imports.

Revision ID: 0012_offline
Revises: 0011_attribution
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012_offline"
down_revision: str | None = "0011_attribution"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "offline_import",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=True),
        sa.Column(
            "mapping", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False
        ),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("created_count", sa.Integer(), nullable=False),
        sa.Column("updated_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("unchanged_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("actor_label", sa.String(length=200), nullable=False),
        sa.Column("staff_id", sa.BigInteger(), nullable=True),
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
        sa.CheckConstraint(
            "kind IN ('pos_members', 'pos_orders')", name=op.f("ck_offline_import_kind")
        ),
        sa.CheckConstraint(
            "row_count >= 0 AND created_count >= 0 AND updated_count >= 0 AND unchanged_count >= 0",
            name=op.f("ck_offline_import_counts"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id", "staff_id"],
            ["staff.brand_id", "staff.id"],
            name=op.f("fk_offline_import_brand_id_staff_id_staff"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brand.id"],
            name=op.f("fk_offline_import_brand_id_brand"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("brand_id", "id", name=op.f("pk_offline_import")),
    )
    op.create_index(
        "ix_offline_import_brand_created",
        "offline_import",
        ["brand_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "offline_order",
        sa.Column("order_number", sa.String(length=64), nullable=False),
        sa.Column("store_id", sa.BigInteger(), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=True),
        sa.Column("placed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("total_fen", sa.BigInteger(), nullable=False),
        sa.Column("refunded_fen", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("import_id", sa.BigInteger(), nullable=True),
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
        sa.CheckConstraint(
            "total_fen >= 0 AND refunded_fen >= 0", name=op.f("ck_offline_order_amounts")
        ),
        sa.ForeignKeyConstraint(
            ["brand_id", "import_id"],
            ["offline_import.brand_id", "offline_import.id"],
            name=op.f("fk_offline_order_brand_id_import_id_offline_import"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id", "member_id"],
            ["member.brand_id", "member.id"],
            name=op.f("fk_offline_order_brand_id_member_id_member"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id", "store_id"],
            ["store.brand_id", "store.id"],
            name=op.f("fk_offline_order_brand_id_store_id_store"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brand.id"],
            name=op.f("fk_offline_order_brand_id_brand"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("brand_id", "id", name=op.f("pk_offline_order")),
        sa.UniqueConstraint(
            "brand_id", "order_number", name=op.f("uq_offline_order_brand_id_order_number")
        ),
    )
    op.create_index(
        "ix_offline_order_brand_placed", "offline_order", ["brand_id", "placed_at"], unique=False
    )
    op.create_index(
        "ix_offline_order_import", "offline_order", ["brand_id", "import_id"], unique=False
    )
    op.create_index(
        "ix_offline_order_member_placed",
        "offline_order",
        ["brand_id", "member_id", "placed_at"],
        unique=False,
    )
    op.create_index(
        "ix_offline_order_store_placed",
        "offline_order",
        ["brand_id", "store_id", "placed_at"],
        unique=False,
    )
    op.create_table(
        "offline_order_line",
        sa.Column("offline_order_id", sa.BigInteger(), nullable=False),
        sa.Column("sku_id", sa.BigInteger(), nullable=True),
        sa.Column("sku_code", sa.String(length=64), nullable=False),
        sa.Column("product_id", sa.BigInteger(), nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("brand_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "id", sa.BigInteger(), sa.Identity(always=False), autoincrement=True, nullable=False
        ),
        sa.CheckConstraint(
            "(quantity > 0 AND amount_fen >= 0) OR (quantity < 0 AND amount_fen <= 0)",
            name=op.f("ck_offline_order_line_signs"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id", "offline_order_id"],
            ["offline_order.brand_id", "offline_order.id"],
            name=op.f("fk_offline_order_line_brand_id_offline_order_id_offline_order"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id", "product_id"],
            ["product.brand_id", "product.id"],
            name=op.f("fk_offline_order_line_brand_id_product_id_product"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id", "sku_id"],
            ["sku.brand_id", "sku.id"],
            name=op.f("fk_offline_order_line_brand_id_sku_id_sku"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brand.id"],
            name=op.f("fk_offline_order_line_brand_id_brand"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("brand_id", "id", name=op.f("pk_offline_order_line")),
    )
    op.create_index(
        "ix_offline_order_line_order",
        "offline_order_line",
        ["brand_id", "offline_order_id"],
        unique=False,
    )
    op.create_index(
        "ix_offline_order_line_sku", "offline_order_line", ["brand_id", "sku_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_offline_order_line_sku", table_name="offline_order_line")
    op.drop_index("ix_offline_order_line_order", table_name="offline_order_line")
    op.drop_table("offline_order_line")
    op.drop_index("ix_offline_order_store_placed", table_name="offline_order")
    op.drop_index("ix_offline_order_member_placed", table_name="offline_order")
    op.drop_index("ix_offline_order_import", table_name="offline_order")
    op.drop_index("ix_offline_order_brand_placed", table_name="offline_order")
    op.drop_table("offline_order")
    op.drop_index("ix_offline_import_brand_created", table_name="offline_import")
    op.drop_table("offline_import")
