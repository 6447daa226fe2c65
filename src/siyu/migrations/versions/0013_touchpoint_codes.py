"""Several codes per touchpoint, bulk code runs with progress.

Revision ID: 0013_touchpoint_codes
Revises: 0012_offline
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013_touchpoint_codes"
down_revision: str | None = "0012_offline"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MEDIA = "'link_qr', 'mini_program_code', 'official_account_qr', 'wecom_contact_way'"


def _tenant_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("brand_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "id", sa.BigInteger(), sa.Identity(always=False), autoincrement=True, nullable=False
        ),
    ]


def _timestamps() -> list[sa.Column[object]]:
    return [
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
    ]


def upgrade() -> None:
    # Existing codes become the default code of their touchpoint: a QR of the launch URL.
    op.add_column(
        "touchpoint_code",
        sa.Column("label", sa.String(length=100), server_default="默认", nullable=False),
    )
    op.add_column(
        "touchpoint_code",
        sa.Column("medium", sa.String(length=32), server_default="link_qr", nullable=False),
    )
    op.add_column("touchpoint_code", sa.Column("page", sa.String(length=128), nullable=True))
    op.add_column(
        "touchpoint_code",
        sa.Column("active", sa.Boolean(), server_default="true", nullable=False),
    )
    op.create_check_constraint(
        op.f("ck_touchpoint_code_medium"), "touchpoint_code", f"medium IN ({MEDIA})"
    )
    op.create_check_constraint(
        op.f("ck_touchpoint_code_page"),
        "touchpoint_code",
        "page IS NULL OR medium = 'mini_program_code'",
    )

    op.create_table(
        "touchpoint_code_image",
        sa.Column("touchpoint_code_id", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(length=300), nullable=False),
        sa.Column("png", sa.LargeBinary(), nullable=False),
        sa.Column("svg", sa.Text(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column(
            "drawn_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        *_tenant_columns(),
        sa.ForeignKeyConstraint(
            ["brand_id", "touchpoint_code_id"],
            ["touchpoint_code.brand_id", "touchpoint_code.id"],
            name=op.f("fk_touchpoint_code_image_brand_id_touchpoint_code_id_touchpoint_code"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brand.id"],
            name=op.f("fk_touchpoint_code_image_brand_id_brand"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("brand_id", "id", name=op.f("pk_touchpoint_code_image")),
        sa.UniqueConstraint(
            "brand_id",
            "touchpoint_code_id",
            name=op.f("uq_touchpoint_code_image_brand_id_touchpoint_code_id"),
        ),
    )

    op.create_table(
        "store_code_run",
        sa.Column("kind", sa.String(length=48), nullable=False),
        sa.Column("campaign", sa.String(length=100), nullable=True),
        sa.Column("medium", sa.String(length=32), nullable=False),
        sa.Column("page", sa.String(length=128), nullable=True),
        sa.Column("store_ids", postgresql.ARRAY(sa.BigInteger()), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="queued", nullable=False),
        sa.Column("stores_total", sa.BigInteger(), nullable=False),
        sa.Column("stores_done", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("requested_by_staff_id", sa.BigInteger(), nullable=True),
        sa.Column("actor", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("archive", sa.LargeBinary(), nullable=True),
        sa.Column("archive_bytes", sa.BigInteger(), nullable=True),
        *_tenant_columns(),
        *_timestamps(),
        sa.CheckConstraint(f"medium IN ({MEDIA})", name=op.f("ck_store_code_run_medium")),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'succeeded', 'failed')",
            name=op.f("ck_store_code_run_status"),
        ),
        sa.CheckConstraint(
            "stores_done >= 0 AND stores_done <= stores_total",
            name=op.f("ck_store_code_run_progress"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id", "requested_by_staff_id"],
            ["staff.brand_id", "staff.id"],
            name=op.f("fk_store_code_run_brand_id_requested_by_staff_id_staff"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brand.id"],
            name=op.f("fk_store_code_run_brand_id_brand"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("brand_id", "id", name=op.f("pk_store_code_run")),
    )
    op.create_index(
        "ix_store_code_run_brand_created",
        "store_code_run",
        ["brand_id", "created_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_store_code_run_brand_created", table_name="store_code_run")
    op.drop_table("store_code_run")
    op.drop_table("touchpoint_code_image")
    op.drop_constraint(op.f("ck_touchpoint_code_page"), "touchpoint_code", type_="check")
    op.drop_constraint(op.f("ck_touchpoint_code_medium"), "touchpoint_code", type_="check")
    op.drop_column("touchpoint_code", "active")
    op.drop_column("touchpoint_code", "page")
    op.drop_column("touchpoint_code", "medium")
    op.drop_column("touchpoint_code", "label")
