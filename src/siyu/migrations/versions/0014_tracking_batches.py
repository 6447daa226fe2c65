"""Tracking batches: the API appends accepted batches, a loader job moves them into
tracking_event.

Revision ID: 0014_tracking_batches
Revises: 0013_touchpoint_codes
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014_tracking_batches"
down_revision: str | None = "0013_touchpoint_codes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tracking_batch",
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("consumer_id", sa.BigInteger(), nullable=True),
        sa.Column("member_id", sa.BigInteger(), nullable=True),
        sa.Column("may_name_member", sa.Boolean(), nullable=False),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.Column("skipped", postgresql.ARRAY(sa.Integer()), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("brand_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "id", sa.BigInteger(), sa.Identity(always=False), autoincrement=True, nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brand.id"],
            name=op.f("fk_tracking_batch_brand_id_brand"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("brand_id", "id", name=op.f("pk_tracking_batch")),
    )
    # Bodies are JSON the loader reads once: compressing them (pglz) would cost the writer
    # more CPU than the disk it saves.
    op.execute("ALTER TABLE tracking_batch ALTER COLUMN body SET STORAGE EXTERNAL")


def downgrade() -> None:
    op.drop_table("tracking_batch")
