"""Touchpoints: brand-defined kinds, the touchpoint registry and the codes (scene keys) they issue.

Revision ID: 0004_touchpoints
Revises: 0003_wechat
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_touchpoints"
down_revision: str | None = "0003_wechat"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "touchpoint_kind",
        sa.Column("code", sa.String(length=48), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("carrier", sa.String(length=32), nullable=False),
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
            "carrier IN ('official_account', 'mini_program', 'wecom', 'community', 'store', 'ads', 'offline_event')",
            name=op.f("ck_touchpoint_kind_carrier"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brand.id"],
            name=op.f("fk_touchpoint_kind_brand_id_brand"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("brand_id", "id", name=op.f("pk_touchpoint_kind")),
        sa.UniqueConstraint("brand_id", "code", name=op.f("uq_touchpoint_kind_brand_id_code")),
    )
    op.create_table(
        "touchpoint",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=48), nullable=False),
        sa.Column("store_id", sa.BigInteger(), nullable=True),
        sa.Column("region_id", sa.BigInteger(), nullable=True),
        sa.Column("staff_id", sa.BigInteger(), nullable=True),
        sa.Column("campaign", sa.String(length=100), nullable=True),
        sa.Column("cost_fen", sa.BigInteger(), nullable=True),
        sa.Column("active", sa.Boolean(), server_default="true", nullable=False),
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
            "cost_fen IS NULL OR cost_fen >= 0", name=op.f("ck_touchpoint_cost_fen")
        ),
        sa.CheckConstraint(
            "store_id IS NOT NULL OR region_id IS NOT NULL OR staff_id IS NOT NULL OR campaign IS NOT NULL",
            name=op.f("ck_touchpoint_placement"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id", "region_id"],
            ["region.brand_id", "region.id"],
            name=op.f("fk_touchpoint_brand_id_region_id_region"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id", "staff_id"],
            ["staff.brand_id", "staff.id"],
            name=op.f("fk_touchpoint_brand_id_staff_id_staff"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id", "store_id"],
            ["store.brand_id", "store.id"],
            name=op.f("fk_touchpoint_brand_id_store_id_store"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brand.id"],
            name=op.f("fk_touchpoint_brand_id_brand"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("brand_id", "id", name=op.f("pk_touchpoint")),
        sa.UniqueConstraint("brand_id", "code", name=op.f("uq_touchpoint_brand_id_code")),
    )
    op.create_index(
        "ix_touchpoint_brand_store", "touchpoint", ["brand_id", "store_id"], unique=False
    )
    op.create_table(
        "touchpoint_code",
        sa.Column("touchpoint_id", sa.BigInteger(), nullable=False),
        sa.Column("scene_key", sa.String(length=32), nullable=False),
        sa.Column("wecom_state", sa.String(length=30), nullable=False),
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
        sa.ForeignKeyConstraint(
            ["brand_id", "touchpoint_id"],
            ["touchpoint.brand_id", "touchpoint.id"],
            name=op.f("fk_touchpoint_code_brand_id_touchpoint_id_touchpoint"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brand.id"],
            name=op.f("fk_touchpoint_code_brand_id_brand"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("brand_id", "id", name=op.f("pk_touchpoint_code")),
        sa.UniqueConstraint(
            "brand_id", "scene_key", name=op.f("uq_touchpoint_code_brand_id_scene_key")
        ),
        sa.UniqueConstraint(
            "brand_id", "wecom_state", name=op.f("uq_touchpoint_code_brand_id_wecom_state")
        ),
    )
    op.create_index(
        "ix_touchpoint_code_brand_touchpoint",
        "touchpoint_code",
        ["brand_id", "touchpoint_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_touchpoint_code_brand_touchpoint", table_name="touchpoint_code")
    op.drop_table("touchpoint_code")
    op.drop_index("ix_touchpoint_brand_store", table_name="touchpoint")
    op.drop_table("touchpoint")
    op.drop_table("touchpoint_kind")
