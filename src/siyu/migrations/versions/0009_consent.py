"""The consent ledger: opt-ins, subscribe-message credits, caps and quiet hours.

Revision ID: 0009_consent
Revises: 0008_segments
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009_consent"
down_revision: str | None = "0008_segments"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "consent_policy",
        sa.Column("quiet_hours_start", sa.Time(), nullable=True),
        sa.Column("quiet_hours_end", sa.Time(), nullable=True),
        sa.Column("channels", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("purposes", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
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
            "(quiet_hours_start IS NULL) = (quiet_hours_end IS NULL) AND (quiet_hours_start IS NULL OR quiet_hours_start <> quiet_hours_end)",
            name=op.f("ck_consent_policy_quiet_hours"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brand.id"],
            name=op.f("fk_consent_policy_brand_id_brand"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("brand_id", "id", name=op.f("pk_consent_policy")),
        sa.UniqueConstraint("brand_id", name=op.f("uq_consent_policy_brand_id")),
    )
    op.create_table(
        "consent_state",
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("opted_in", sa.Boolean(), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("changed_by", sa.String(length=32), nullable=True),
        sa.Column("source", sa.String(length=64), nullable=True),
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
            "changed_by IS NULL OR changed_by IN ('consumer', 'staff', 'import', 'unsubscribe_link')",
            name=op.f("ck_consent_state_changed_by"),
        ),
        sa.CheckConstraint(
            "channel IN ('subscribe_message', 'official_account', 'wecom', 'community', 'sms')",
            name=op.f("ck_consent_state_channel"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id", "member_id"],
            ["member.brand_id", "member.id"],
            name=op.f("fk_consent_state_brand_id_member_id_member"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brand.id"],
            name=op.f("fk_consent_state_brand_id_brand"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("brand_id", "id", name=op.f("pk_consent_state")),
        sa.UniqueConstraint(
            "brand_id",
            "member_id",
            "channel",
            name=op.f("uq_consent_state_brand_id_member_id_channel"),
        ),
    )
    op.create_table(
        "consent_change",
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("opted_in", sa.Boolean(), nullable=False),
        sa.Column("changed_by", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("staff_id", sa.BigInteger(), nullable=True),
        sa.Column("consumer_id", sa.BigInteger(), nullable=True),
        sa.Column("note", sa.String(length=200), nullable=True),
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
            "changed_by <> 'staff' OR staff_id IS NOT NULL", name=op.f("ck_consent_change_staff")
        ),
        sa.CheckConstraint(
            "changed_by IN ('consumer', 'staff', 'import', 'unsubscribe_link')",
            name=op.f("ck_consent_change_changed_by"),
        ),
        sa.CheckConstraint(
            "channel IN ('subscribe_message', 'official_account', 'wecom', 'community', 'sms')",
            name=op.f("ck_consent_change_channel"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id", "consumer_id"],
            ["consumer.brand_id", "consumer.id"],
            name=op.f("fk_consent_change_brand_id_consumer_id_consumer"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id", "member_id"],
            ["member.brand_id", "member.id"],
            name=op.f("fk_consent_change_brand_id_member_id_member"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id", "staff_id"],
            ["staff.brand_id", "staff.id"],
            name=op.f("fk_consent_change_brand_id_staff_id_staff"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brand.id"],
            name=op.f("fk_consent_change_brand_id_brand"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("brand_id", "id", name=op.f("pk_consent_change")),
    )
    op.create_index(
        "ix_consent_change_member",
        "consent_change",
        ["brand_id", "member_id", "occurred_at"],
        unique=False,
    )
    op.create_table(
        "consent_subscription",
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("consumer_id", sa.BigInteger(), nullable=True),
        sa.Column("template_id", sa.String(length=64), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column(
            "reported_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("consumed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("brand_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "id", sa.BigInteger(), sa.Identity(always=False), autoincrement=True, nullable=False
        ),
        sa.CheckConstraint(
            "result = 'accept' OR consumed_at IS NULL", name=op.f("ck_consent_subscription_credit")
        ),
        sa.CheckConstraint(
            "result IN ('accept', 'reject', 'ban', 'filter')",
            name=op.f("ck_consent_subscription_result"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id", "consumer_id"],
            ["consumer.brand_id", "consumer.id"],
            name=op.f("fk_consent_subscription_brand_id_consumer_id_consumer"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id", "member_id"],
            ["member.brand_id", "member.id"],
            name=op.f("fk_consent_subscription_brand_id_member_id_member"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brand.id"],
            name=op.f("fk_consent_subscription_brand_id_brand"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("brand_id", "id", name=op.f("pk_consent_subscription")),
    )
    op.create_index(
        "ix_consent_subscription_credit",
        "consent_subscription",
        ["brand_id", "member_id", "template_id", "id"],
        unique=False,
        postgresql_where=sa.text("result = 'accept' AND consumed_at IS NULL"),
    )
    op.create_index(
        "ix_consent_subscription_member",
        "consent_subscription",
        ["brand_id", "member_id", "template_id"],
        unique=False,
    )
    op.create_table(
        "consent_send",
        sa.Column("requested_member_id", sa.BigInteger(), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=True),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("template_id", sa.String(length=64), nullable=True),
        sa.Column("campaign", sa.String(length=100), nullable=True),
        sa.Column("allowed", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("next_allowed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("local_day", sa.Date(), nullable=False),
        sa.Column("subscription_id", sa.BigInteger(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("outcome_at", sa.DateTime(timezone=True), nullable=True),
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
        sa.CheckConstraint("allowed = (reason = 'allowed')", name=op.f("ck_consent_send_allowed")),
        sa.CheckConstraint(
            "channel IN ('subscribe_message', 'official_account', 'wecom', 'community', 'sms')",
            name=op.f("ck_consent_send_channel"),
        ),
        sa.CheckConstraint(
            "outcome IS NULL OR (allowed AND outcome IN ('released', 'failed'))",
            name=op.f("ck_consent_send_outcome"),
        ),
        sa.CheckConstraint(
            "purpose IN ('transactional', 'service', 'marketing')",
            name=op.f("ck_consent_send_purpose"),
        ),
        sa.CheckConstraint(
            "reason IN ('allowed', 'opted_out', 'no_subscription_credit', 'frequency_cap_day', 'frequency_cap_week', 'quiet_hours', 'member_merged_or_missing', 'channel_unreachable')",
            name=op.f("ck_consent_send_reason"),
        ),
        sa.CheckConstraint(
            "subscription_id IS NULL OR allowed", name=op.f("ck_consent_send_subscription")
        ),
        sa.ForeignKeyConstraint(
            ["brand_id", "member_id"],
            ["member.brand_id", "member.id"],
            name=op.f("fk_consent_send_brand_id_member_id_member"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id", "subscription_id"],
            ["consent_subscription.brand_id", "consent_subscription.id"],
            name=op.f("fk_consent_send_brand_id_subscription_id_consent_subscription"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brand.id"],
            name=op.f("fk_consent_send_brand_id_brand"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("brand_id", "id", name=op.f("pk_consent_send")),
    )
    op.create_index(
        "ix_consent_send_day_reason",
        "consent_send",
        ["brand_id", "local_day", "reason"],
        unique=False,
    )
    op.create_index(
        "ix_consent_send_member_day",
        "consent_send",
        ["brand_id", "member_id", "channel", "local_day"],
        unique=False,
    )
    op.create_index(
        "ix_consent_send_member_decided",
        "consent_send",
        ["brand_id", "member_id", "decided_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_consent_send_member_decided", table_name="consent_send")
    op.drop_index("ix_consent_send_member_day", table_name="consent_send")
    op.drop_index("ix_consent_send_day_reason", table_name="consent_send")
    op.drop_table("consent_send")
    op.drop_index("ix_consent_subscription_member", table_name="consent_subscription")
    op.drop_index(
        "ix_consent_subscription_credit",
        table_name="consent_subscription",
        postgresql_where=sa.text("result = 'accept' AND consumed_at IS NULL"),
    )
    op.drop_table("consent_subscription")
    op.drop_index("ix_consent_change_member", table_name="consent_change")
    op.drop_table("consent_change")
    op.drop_table("consent_state")
    op.drop_table("consent_policy")
