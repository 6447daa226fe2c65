"""Tags (manual, rule and per-guide) and segments.

Revision ID: 0008_segments
Revises: 0007_loyalty
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008_segments"
down_revision: str | None = "0007_loyalty"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tag",
        sa.Column("code", sa.String(length=48), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("group_name", sa.String(length=100), nullable=True),
        sa.Column("kind", sa.String(length=16), server_default="manual", nullable=False),
        sa.Column("rule", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("schedule", sa.String(length=16), server_default="manual", nullable=False),
        sa.Column("last_refreshed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("scope_kind", sa.String(length=16), server_default="brand", nullable=False),
        sa.Column("scope_region_id", sa.BigInteger(), nullable=True),
        sa.Column("scope_franchisee_id", sa.BigInteger(), nullable=True),
        sa.Column("scope_store_id", sa.BigInteger(), nullable=True),
        sa.Column("scope_staff_id", sa.BigInteger(), nullable=True),
        sa.Column("created_by_staff_id", sa.BigInteger(), nullable=True),
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
            "(kind = 'rule') = (rule IS NOT NULL)", name=op.f("ck_tag_rule_of_rule_tag")
        ),
        sa.CheckConstraint("kind IN ('manual', 'rule')", name=op.f("ck_tag_kind")),
        sa.CheckConstraint(
            "schedule IN ('manual', 'hourly', 'daily')", name=op.f("ck_tag_schedule")
        ),
        sa.CheckConstraint(
            "scope_kind IN ('brand', 'region', 'franchisee', 'store', 'self')",
            name=op.f("ck_tag_scope_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id", "created_by_staff_id"],
            ["staff.brand_id", "staff.id"],
            name=op.f("fk_tag_brand_id_created_by_staff_id_staff"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id", "scope_franchisee_id"],
            ["franchisee.brand_id", "franchisee.id"],
            name=op.f("fk_tag_brand_id_scope_franchisee_id_franchisee"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id", "scope_region_id"],
            ["region.brand_id", "region.id"],
            name=op.f("fk_tag_brand_id_scope_region_id_region"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id", "scope_staff_id"],
            ["staff.brand_id", "staff.id"],
            name=op.f("fk_tag_brand_id_scope_staff_id_staff"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id", "scope_store_id"],
            ["store.brand_id", "store.id"],
            name=op.f("fk_tag_brand_id_scope_store_id_store"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brand.id"], name=op.f("fk_tag_brand_id_brand"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("brand_id", "id", name=op.f("pk_tag")),
        sa.UniqueConstraint("brand_id", "code", name=op.f("uq_tag_brand_id_code")),
    )
    op.create_table(
        "member_tag",
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("tag_id", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("tagged_by_staff_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "tagged_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("brand_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "id", sa.BigInteger(), sa.Identity(always=False), autoincrement=True, nullable=False
        ),
        sa.CheckConstraint(
            "source IN ('manual', 'rule', 'segment')", name=op.f("ck_member_tag_source")
        ),
        sa.ForeignKeyConstraint(
            ["brand_id", "member_id"],
            ["member.brand_id", "member.id"],
            name=op.f("fk_member_tag_brand_id_member_id_member"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id", "tag_id"],
            ["tag.brand_id", "tag.id"],
            name=op.f("fk_member_tag_brand_id_tag_id_tag"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id", "tagged_by_staff_id"],
            ["staff.brand_id", "staff.id"],
            name=op.f("fk_member_tag_brand_id_tagged_by_staff_id_staff"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brand.id"],
            name=op.f("fk_member_tag_brand_id_brand"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("brand_id", "id", name=op.f("pk_member_tag")),
        sa.UniqueConstraint(
            "brand_id", "member_id", "tag_id", name=op.f("uq_member_tag_brand_id_member_id_tag_id")
        ),
    )
    op.create_table(
        "member_guide_tag",
        sa.Column("brand_id", sa.BigInteger(), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("guide_staff_id", sa.BigInteger(), nullable=False),
        sa.Column("tag_id", sa.BigInteger(), nullable=False),
        sa.Column("tagged_by_staff_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "tagged_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["brand_id", "guide_staff_id"],
            ["staff.brand_id", "staff.id"],
            name=op.f("fk_member_guide_tag_brand_id_guide_staff_id_staff"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id", "member_id"],
            ["member.brand_id", "member.id"],
            name=op.f("fk_member_guide_tag_brand_id_member_id_member"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id", "tag_id"],
            ["tag.brand_id", "tag.id"],
            name=op.f("fk_member_guide_tag_brand_id_tag_id_tag"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id", "tagged_by_staff_id"],
            ["staff.brand_id", "staff.id"],
            name=op.f("fk_member_guide_tag_brand_id_tagged_by_staff_id_staff"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brand.id"],
            name=op.f("fk_member_guide_tag_brand_id_brand"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "brand_id", "member_id", "guide_staff_id", "tag_id", name=op.f("pk_member_guide_tag")
        ),
    )
    op.create_table(
        "segment",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=500), server_default="", nullable=False),
        sa.Column("rule", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("schedule", sa.String(length=16), server_default="manual", nullable=False),
        sa.Column("last_refreshed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("member_count", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("scope_kind", sa.String(length=16), server_default="brand", nullable=False),
        sa.Column("scope_region_id", sa.BigInteger(), nullable=True),
        sa.Column("scope_franchisee_id", sa.BigInteger(), nullable=True),
        sa.Column("scope_store_id", sa.BigInteger(), nullable=True),
        sa.Column("scope_staff_id", sa.BigInteger(), nullable=True),
        sa.Column("created_by_staff_id", sa.BigInteger(), nullable=True),
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
            "schedule IN ('manual', 'hourly', 'daily')", name=op.f("ck_segment_schedule")
        ),
        sa.CheckConstraint(
            "scope_kind IN ('brand', 'region', 'franchisee', 'store', 'self')",
            name=op.f("ck_segment_scope_kind"),
        ),
        sa.CheckConstraint("member_count >= 0", name=op.f("ck_segment_member_count")),
        sa.ForeignKeyConstraint(
            ["brand_id", "created_by_staff_id"],
            ["staff.brand_id", "staff.id"],
            name=op.f("fk_segment_brand_id_created_by_staff_id_staff"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id", "scope_franchisee_id"],
            ["franchisee.brand_id", "franchisee.id"],
            name=op.f("fk_segment_brand_id_scope_franchisee_id_franchisee"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id", "scope_region_id"],
            ["region.brand_id", "region.id"],
            name=op.f("fk_segment_brand_id_scope_region_id_region"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id", "scope_staff_id"],
            ["staff.brand_id", "staff.id"],
            name=op.f("fk_segment_brand_id_scope_staff_id_staff"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id", "scope_store_id"],
            ["store.brand_id", "store.id"],
            name=op.f("fk_segment_brand_id_scope_store_id_store"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brand.id"], name=op.f("fk_segment_brand_id_brand"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("brand_id", "id", name=op.f("pk_segment")),
        sa.UniqueConstraint("brand_id", "name", name=op.f("uq_segment_brand_id_name")),
    )
    op.create_table(
        "segment_member",
        sa.Column("brand_id", sa.BigInteger(), nullable=False),
        sa.Column("segment_id", sa.BigInteger(), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["brand_id", "member_id"],
            ["member.brand_id", "member.id"],
            name=op.f("fk_segment_member_brand_id_member_id_member"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id", "segment_id"],
            ["segment.brand_id", "segment.id"],
            name=op.f("fk_segment_member_brand_id_segment_id_segment"),
        ),
        sa.PrimaryKeyConstraint(
            "brand_id", "segment_id", "member_id", name=op.f("pk_segment_member")
        ),
    )
    op.create_index(
        "ix_member_guide_tag_guide",
        "member_guide_tag",
        ["brand_id", "guide_staff_id", "member_id"],
        unique=False,
    )
    op.create_index(
        "ix_member_guide_tag_tag", "member_guide_tag", ["brand_id", "tag_id"], unique=False
    )
    op.create_index(
        "ix_member_tag_tag_member", "member_tag", ["brand_id", "tag_id", "member_id"], unique=False
    )
    op.create_index(
        "ix_segment_member_member", "segment_member", ["brand_id", "member_id"], unique=False
    )

    op.create_index(
        "ix_member_active_tier",
        "member",
        ["brand_id", "tier_code", "id"],
        unique=False,
        postgresql_where=sa.text("status = 'active'"),
    )


def downgrade() -> None:
    op.drop_index("ix_member_active_tier", table_name="member")
    op.drop_index("ix_segment_member_member", table_name="segment_member")
    op.drop_index("ix_member_tag_tag_member", table_name="member_tag")
    op.drop_index("ix_member_guide_tag_tag", table_name="member_guide_tag")
    op.drop_index("ix_member_guide_tag_guide", table_name="member_guide_tag")
    op.drop_table("segment_member")
    op.drop_table("segment")
    op.drop_table("member_guide_tag")
    op.drop_table("member_tag")
    op.drop_table("tag")
