"""Members (会员): one profile per person per brand, and every identifier that points to it.

A member is the brand's view of a person across channels. Consumers (mini-program logins) point
to their member through ``consumer.member_id``; offline (POS) members have no consumer at all.
Identities are unique per brand and kind, so two profiles sharing an identifier is exactly the
condition for a merge. A merged member keeps its row (``status = 'merged'``, ``merged_into_id``)
so that old references still resolve to the survivor.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKeyConstraint,
    Index,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db.base import Base, TenantKey, Timestamps

IDENTITY_KINDS_SQL = (
    "'mini_program_openid', 'official_account_openid', 'unionid', 'wecom_external_userid',"
    " 'phone', 'pos_member_number'"
)
LIFECYCLE_STAGES_SQL = (
    "'prospect', 'new', 'first_purchase', 'repeat', 'loyal', 'dormant', 'churned'"
)


class Member(TenantKey, Timestamps, Base):
    """A person known to the brand.

        ``joined_at`` is set when the person becomes a member (scan-to-join, registration, POS
        import); before that the profile is a prospect. ``source_*`` is the acquisition: where the
        member came from. The purchase summary (``order_count`` .. ``last_order_at``) counts paid
        online orders and offline orders alike, net of full refunds; it is maintained by
        ``siyu.members.stats`` and read by segments and lifecycle rules.
    ``tier_code``, ``growth_value`` and ``points_balance`` belong to tiers and points
    (``siyu.loyalty``); the ledger there explains every change of them.
    """

    __tablename__ = "member"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'merged')", name="status"),
        CheckConstraint(f"lifecycle_stage IN ({LIFECYCLE_STAGES_SQL})", name="lifecycle_stage"),
        CheckConstraint("(status = 'merged') = (merged_into_id IS NOT NULL)", name="merged_into"),
        CheckConstraint("order_count >= 0", name="order_count"),
        CheckConstraint("points_balance >= 0", name="points_balance"),
        CheckConstraint("growth_value >= 0", name="growth_value"),
        ForeignKeyConstraint(["brand_id", "merged_into_id"], ["member.brand_id", "member.id"]),
        ForeignKeyConstraint(["brand_id", "source_store_id"], ["store.brand_id", "store.id"]),
        ForeignKeyConstraint(["brand_id", "home_store_id"], ["store.brand_id", "store.id"]),
        ForeignKeyConstraint(
            ["brand_id", "source_touchpoint_id"], ["touchpoint.brand_id", "touchpoint.id"]
        ),
        ForeignKeyConstraint(["brand_id", "source_guide_staff_id"], ["staff.brand_id", "staff.id"]),
        Index(
            "ix_member_brand_phone",
            "brand_id",
            "phone",
            unique=True,
            postgresql_where=text("phone IS NOT NULL AND status = 'active'"),
        ),
        Index("ix_member_brand_joined", "brand_id", "joined_at"),
        Index("ix_member_brand_source_touchpoint", "brand_id", "source_touchpoint_id"),
        # The daily lifecycle job looks members up by stage and last order, across brands.
        Index("ix_member_lifecycle_last_order", "lifecycle_stage", "last_order_at"),
    )

    status: Mapped[str] = mapped_column(String(16), server_default="active")
    merged_into_id: Mapped[int | None]
    display_name: Mapped[str | None] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(32))
    gender: Mapped[str | None] = mapped_column(String(16))
    birthday: Mapped[date | None]
    joined_at: Mapped[datetime | None]
    join_channel: Mapped[str | None] = mapped_column(String(32))
    source_touchpoint_id: Mapped[int | None]
    source_store_id: Mapped[int | None]
    source_guide_staff_id: Mapped[int | None]
    home_store_id: Mapped[int | None]
    lifecycle_stage: Mapped[str] = mapped_column(String(16), server_default="prospect")
    lifecycle_changed_at: Mapped[datetime | None]
    order_count: Mapped[int] = mapped_column(BigInteger, server_default="0")
    total_spent_fen: Mapped[int] = mapped_column(BigInteger, server_default="0")
    first_order_at: Mapped[datetime | None]
    last_order_at: Mapped[datetime | None]
    last_visit_at: Mapped[datetime | None]
    tier_code: Mapped[str | None] = mapped_column(String(32))
    growth_value: Mapped[int] = mapped_column(BigInteger, server_default="0")
    points_balance: Mapped[int] = mapped_column(BigInteger, server_default="0")


class MemberIdentity(TenantKey, Base):
    """One identifier of a member: an openid, unionid, WeCom external_userid, phone or POS number.

    Unique per (brand, kind, value): one identifier names one member.
    """

    __tablename__ = "member_identity"
    __table_args__ = (
        UniqueConstraint("brand_id", "kind", "value"),
        CheckConstraint(f"kind IN ({IDENTITY_KINDS_SQL})", name="kind"),
        ForeignKeyConstraint(["brand_id", "member_id"], ["member.brand_id", "member.id"]),
        Index("ix_member_identity_member", "brand_id", "member_id"),
    )

    member_id: Mapped[int]
    kind: Mapped[str] = mapped_column(String(32))
    value: Mapped[str] = mapped_column(String(128))
    source: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class LifecyclePolicy(TenantKey, Timestamps, Base):
    """A brand's lifecycle thresholds (one row per brand; defaults apply while it has none).

    See ``siyu.members.rules.lifecycle_stage`` for how they are read.
    """

    __tablename__ = "lifecycle_policy"
    __table_args__ = (
        UniqueConstraint("brand_id"),
        CheckConstraint("repeat_min_orders >= 2", name="repeat_min_orders"),
        CheckConstraint("loyal_min_orders >= repeat_min_orders", name="loyal_min_orders"),
        CheckConstraint("loyal_min_spent_fen >= 0", name="loyal_min_spent_fen"),
        CheckConstraint("dormant_after_days >= 1", name="dormant_after_days"),
        CheckConstraint("churned_after_days > dormant_after_days", name="churned_after_days"),
    )

    repeat_min_orders: Mapped[int] = mapped_column(server_default="2")
    loyal_min_orders: Mapped[int] = mapped_column(server_default="5")
    loyal_min_spent_fen: Mapped[int] = mapped_column(BigInteger, server_default="200000")
    dormant_after_days: Mapped[int] = mapped_column(server_default="90")
    churned_after_days: Mapped[int] = mapped_column(server_default="180")


class MemberPurchaseEntry(TenantKey, Base):
    """One order event already counted in a member's purchase summary (the processed marker).

    Delivery of order events is at least once, so the summary is changed only by the statement
    that inserts this row: one ``paid`` entry per order, one ``refunded`` entry per refund.
    ``member_id`` is the member counted (repointed by merges like every member reference).
    """

    __tablename__ = "member_purchase_entry"
    __table_args__ = (
        CheckConstraint("kind IN ('paid', 'refunded')", name="kind"),
        CheckConstraint("(kind = 'refunded') = (refund_id IS NOT NULL)", name="refund_id"),
        CheckConstraint("amount_fen >= 0", name="amount_fen"),
        ForeignKeyConstraint(["brand_id", "member_id"], ["member.brand_id", "member.id"]),
        ForeignKeyConstraint(["brand_id", "order_id"], ["sales_order.brand_id", "sales_order.id"]),
        Index(
            "uq_member_purchase_entry_paid",
            "brand_id",
            "order_id",
            unique=True,
            postgresql_where=text("kind = 'paid'"),
        ),
        Index(
            "uq_member_purchase_entry_refund",
            "brand_id",
            "refund_id",
            unique=True,
            postgresql_where=text("kind = 'refunded'"),
        ),
        Index("ix_member_purchase_entry_member", "brand_id", "member_id"),
    )

    member_id: Mapped[int]
    order_id: Mapped[int]
    kind: Mapped[str] = mapped_column(String(16))
    refund_id: Mapped[int | None]
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    whole_order: Mapped[bool] = mapped_column(server_default="false")
    occurred_at: Mapped[datetime]
    recorded_at: Mapped[datetime] = mapped_column(server_default=func.now())
