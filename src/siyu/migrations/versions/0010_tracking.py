"""Tracking events and visitors.

Revision ID: 0010_tracking
Revises: 0009_consent
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010_tracking"
down_revision: str | None = "0009_consent"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tracking_write_key",
        sa.Column("brand_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "id", sa.BigInteger(), sa.Identity(always=False), autoincrement=True, nullable=False
        ),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("key_digest", sa.String(length=64), nullable=False),
        sa.Column("key_prefix", sa.String(length=16), nullable=False),
        sa.Column("created_by_staff_id", sa.BigInteger(), nullable=True),
        sa.Column("rotated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
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
            ["brand_id"],
            ["brand.id"],
            name=op.f("fk_tracking_write_key_brand_id_brand"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("brand_id", "id", name=op.f("pk_tracking_write_key")),
    )
    op.create_index(
        "ix_tracking_write_key_digest", "tracking_write_key", ["key_digest"], unique=True
    )
    op.create_table(
        "tracking_event",
        sa.Column("brand_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "id", sa.BigInteger(), sa.Identity(always=False), autoincrement=True, nullable=False
        ),
        sa.Column("event_id", sa.String(length=64, collation="C"), nullable=False),
        sa.Column("kind", sa.String(length=48, collation="C"), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("anonymous_id", sa.String(length=64, collation="C"), nullable=True),
        sa.Column("consumer_id", sa.BigInteger(), nullable=True),
        sa.Column("member_id", sa.BigInteger(), nullable=True),
        sa.Column("touchpoint_id", sa.BigInteger(), nullable=True),
        sa.Column("scene_key", sa.String(length=32, collation="C"), nullable=True),
        sa.Column("scene", sa.Integer(), nullable=True),
        sa.Column("store_id", sa.BigInteger(), nullable=True),
        sa.Column("product_id", sa.BigInteger(), nullable=True),
        sa.Column("sku_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "properties",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(kind = 'custom') = (name IS NOT NULL)", name=op.f("ck_tracking_event_custom_name")
        ),
        sa.CheckConstraint(
            "kind IN ('scan', 'visit', 'view_item', 'add_to_cart', 'share', 'claim_coupon', 'custom')",
            name=op.f("ck_tracking_event_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id", "member_id"],
            ["member.brand_id", "member.id"],
            name=op.f("fk_tracking_event_brand_id_member_id_member"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brand.id"],
            name=op.f("fk_tracking_event_brand_id_brand"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("brand_id", "id", name=op.f("pk_tracking_event")),
        sa.UniqueConstraint(
            "brand_id", "event_id", name=op.f("uq_tracking_event_brand_id_event_id")
        ),
    )
    op.create_index(
        "ix_tracking_event_anonymous",
        "tracking_event",
        ["brand_id", "anonymous_id", "occurred_at"],
        unique=False,
        postgresql_where=sa.text("anonymous_id IS NOT NULL"),
    )
    op.create_index(
        "ix_tracking_event_kind",
        "tracking_event",
        ["brand_id", "kind", "occurred_at"],
        unique=False,
    )
    op.create_index(
        "ix_tracking_event_member",
        "tracking_event",
        ["brand_id", "member_id", "occurred_at"],
        unique=False,
        postgresql_include=["kind", "name"],
        postgresql_where=sa.text("member_id IS NOT NULL"),
    )
    op.create_index(
        "ix_tracking_event_touchpoint",
        "tracking_event",
        ["brand_id", "touchpoint_id", "occurred_at"],
        unique=False,
        postgresql_where=sa.text("touchpoint_id IS NOT NULL"),
    )
    op.create_table(
        "anonymous_visitor",
        sa.Column("brand_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "id", sa.BigInteger(), sa.Identity(always=False), autoincrement=True, nullable=False
        ),
        sa.Column("anonymous_id", sa.String(length=64, collation="C"), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("consumer_id", sa.BigInteger(), nullable=True),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
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
            ["brand_id", "consumer_id"],
            ["consumer.brand_id", "consumer.id"],
            name=op.f("fk_anonymous_visitor_brand_id_consumer_id_consumer"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id", "member_id"],
            ["member.brand_id", "member.id"],
            name=op.f("fk_anonymous_visitor_brand_id_member_id_member"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brand.id"],
            name=op.f("fk_anonymous_visitor_brand_id_brand"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("brand_id", "id", name=op.f("pk_anonymous_visitor")),
        sa.UniqueConstraint(
            "brand_id", "anonymous_id", name=op.f("uq_anonymous_visitor_brand_id_anonymous_id")
        ),
    )
    op.create_index(
        "ix_anonymous_visitor_member", "anonymous_visitor", ["brand_id", "member_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_anonymous_visitor_member", table_name="anonymous_visitor")
    op.drop_table("anonymous_visitor")
    op.drop_index(
        "ix_tracking_event_touchpoint",
        table_name="tracking_event",
        postgresql_where=sa.text("touchpoint_id IS NOT NULL"),
    )
    op.drop_index(
        "ix_tracking_event_member",
        table_name="tracking_event",
        postgresql_where=sa.text("member_id IS NOT NULL"),
    )
    op.drop_index("ix_tracking_event_kind", table_name="tracking_event")
    op.drop_index(
        "ix_tracking_event_anonymous",
        table_name="tracking_event",
        postgresql_where=sa.text("anonymous_id IS NOT NULL"),
    )
    op.drop_table("tracking_event")
    op.drop_index("ix_tracking_write_key_digest", table_name="tracking_write_key")
    op.drop_table("tracking_write_key")
