"""Tiers (会员等级), growth value (成长值) and the points ledger (积分).

The member row keeps the current figures (``tier_code``, ``growth_value``, ``points_balance``);
the tables here explain every change of them. Both ledgers are append-only and carry a unique
key on their cause, so an event delivered twice changes nothing the second time. Points enter
in lots (an earn, a positive adjustment, spent points given back), each with its expiry and
what is left of it; spending, reversals and expiry take from the lots, earliest expiry first.

Member references are (brand_id, member_id): a merge repoints them to the survivor. No unique
key here can collide between two members (each names a cause only one member can have: an
order, a refund, an adjustment, a lot).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db.base import Base, TenantKey, Timestamps

POINTS_KINDS_SQL = "'earn', 'reverse_earn', 'spend', 'return_spend', 'expire', 'adjust'"
POINTS_CAUSES_SQL = "'order', 'refund', 'points_adjustment', 'points_lot'"


class LoyaltyTier(TenantKey, Timestamps, Base):
    """One rung of the brand's ladder: members with at least ``min_growth_value`` are in it
    (the highest such rung); it multiplies the points they earn."""

    __tablename__ = "loyalty_tier"
    __table_args__ = (
        UniqueConstraint("brand_id", "code"),
        CheckConstraint("min_growth_value >= 0", name="min_growth_value"),
        CheckConstraint(
            "points_multiplier_permille >= 0 AND points_multiplier_permille <= 100000",
            name="multiplier",
        ),
    )

    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(100))
    min_growth_value: Mapped[int] = mapped_column(BigInteger)
    points_multiplier_permille: Mapped[int] = mapped_column(Integer, server_default="1000")
    sort: Mapped[int] = mapped_column(Integer)


class PointsPolicy(TenantKey, Timestamps, Base):
    """How a brand earns and redeems points; a brand without a row uses the defaults
    (siyu.loyalty.rules.PointsRules)."""

    __tablename__ = "points_policy"
    __table_args__ = (
        UniqueConstraint("brand_id"),
        CheckConstraint("points_per_yuan >= 0", name="points_per_yuan"),
        CheckConstraint("expiry_months >= 1", name="expiry_months"),
        CheckConstraint("redeem_points_per_yuan >= 1", name="redeem_points_per_yuan"),
        CheckConstraint(
            "max_redeem_permille >= 0 AND max_redeem_permille <= 1000", name="max_redeem"
        ),
    )

    points_per_yuan: Mapped[int] = mapped_column(Integer, server_default="1")
    expiry_months: Mapped[int] = mapped_column(Integer, server_default="12")
    redeem_points_per_yuan: Mapped[int] = mapped_column(Integer, server_default="100")
    max_redeem_permille: Mapped[int] = mapped_column(Integer, server_default="500")
    enabled: Mapped[bool] = mapped_column(Boolean, server_default="true")


class PointsAdjustment(TenantKey, Base):
    """A staff member's manual change of a member's points, with its reason; the ledger row it
    made names it as its cause. Idempotent per brand and ``idempotency_key``."""

    __tablename__ = "points_adjustment"
    __table_args__ = (
        UniqueConstraint("brand_id", "idempotency_key"),
        ForeignKeyConstraint(["brand_id", "member_id"], ["member.brand_id", "member.id"]),
        ForeignKeyConstraint(["brand_id", "staff_id"], ["staff.brand_id", "staff.id"]),
        CheckConstraint("delta <> 0", name="delta"),
    )

    member_id: Mapped[int]
    delta: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(200))
    idempotency_key: Mapped[str] = mapped_column(String(64))
    staff_id: Mapped[int | None]
    actor_label: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class PointsEntry(TenantKey, Base):
    """One change of a member's points balance (append-only).

    ``delta`` signs by kind: earn, return_spend > 0; spend, expire < 0; reverse_earn <= 0
    (``shortfall`` is what it could not take back: already spent); adjust either way.
    ``balance_after`` is the member's balance right after the row. ``expires_at`` is set on
    rows that add points (the expiry of the lot(s) they made).
    """

    __tablename__ = "points_entry"
    __table_args__ = (
        UniqueConstraint("brand_id", "kind", "cause_type", "cause_id", "member_id"),
        ForeignKeyConstraint(["brand_id", "member_id"], ["member.brand_id", "member.id"]),
        ForeignKeyConstraint(["brand_id", "order_id"], ["sales_order.brand_id", "sales_order.id"]),
        CheckConstraint(f"kind IN ({POINTS_KINDS_SQL})", name="kind"),
        CheckConstraint(f"cause_type IN ({POINTS_CAUSES_SQL})", name="cause_type"),
        CheckConstraint(
            "(kind IN ('earn', 'return_spend') AND delta > 0)"
            " OR (kind IN ('spend', 'expire') AND delta < 0)"
            " OR (kind = 'reverse_earn' AND delta <= 0)"
            " OR (kind = 'adjust' AND delta <> 0)",
            name="delta_sign",
        ),
        CheckConstraint("shortfall >= 0", name="shortfall"),
        CheckConstraint("balance_after >= 0", name="balance_after"),
        Index("ix_points_entry_member", "brand_id", "member_id", "id"),
        Index(
            "ix_points_entry_order",
            "brand_id",
            "order_id",
            postgresql_where=text("order_id IS NOT NULL"),
        ),
    )

    member_id: Mapped[int]
    kind: Mapped[str] = mapped_column(String(16))
    delta: Mapped[int] = mapped_column(BigInteger)
    shortfall: Mapped[int] = mapped_column(BigInteger, server_default="0")
    cause_type: Mapped[str] = mapped_column(String(24))
    cause_id: Mapped[int] = mapped_column(BigInteger)
    order_id: Mapped[int | None]
    balance_after: Mapped[int] = mapped_column(BigInteger)
    occurred_at: Mapped[datetime] = mapped_column(server_default=func.now())
    expires_at: Mapped[datetime | None]
    note: Mapped[str | None] = mapped_column(String(200))


class PointsLot(TenantKey, Base):
    """Points that entered together and expire together; ``remaining`` is what is left.

    ``origin_lot_id`` is set on a lot of spent points given back: the lot they were spent from
    (whose expiry it keeps)."""

    __tablename__ = "points_lot"
    __table_args__ = (
        ForeignKeyConstraint(["brand_id", "member_id"], ["member.brand_id", "member.id"]),
        ForeignKeyConstraint(
            ["brand_id", "entry_id"], ["points_entry.brand_id", "points_entry.id"]
        ),
        ForeignKeyConstraint(
            ["brand_id", "origin_lot_id"], ["points_lot.brand_id", "points_lot.id"]
        ),
        CheckConstraint("points > 0 AND remaining >= 0 AND remaining <= points", name="remaining"),
        Index(
            "ix_points_lot_open",
            "brand_id",
            "member_id",
            "expires_at",
            "id",
            postgresql_where=text("remaining > 0"),
        ),
        Index("ix_points_lot_due", "expires_at", postgresql_where=text("remaining > 0")),
    )

    member_id: Mapped[int]
    entry_id: Mapped[int]
    points: Mapped[int] = mapped_column(BigInteger)
    remaining: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[datetime]
    origin_lot_id: Mapped[int | None]


class PointsLotUse(TenantKey, Base):
    """How many points of a lot a ledger row took (spend, reverse_earn, a negative
    adjustment); ``returned_points`` of them were given back since (cancelled or refunded
    orders)."""

    __tablename__ = "points_lot_use"
    __table_args__ = (
        ForeignKeyConstraint(
            ["brand_id", "entry_id"], ["points_entry.brand_id", "points_entry.id"]
        ),
        ForeignKeyConstraint(["brand_id", "lot_id"], ["points_lot.brand_id", "points_lot.id"]),
        CheckConstraint(
            "points > 0 AND returned_points >= 0 AND returned_points <= points", name="points"
        ),
        Index("ix_points_lot_use_entry", "brand_id", "entry_id"),
    )

    entry_id: Mapped[int]
    lot_id: Mapped[int]
    points: Mapped[int] = mapped_column(BigInteger)
    returned_points: Mapped[int] = mapped_column(BigInteger, server_default="0")


class GrowthEntry(TenantKey, Base):
    """One change of a member's growth value (append-only): +1 per whole yuan of a paid
    order, taken back in proportion on refund. ``value_after`` is the growth value right after
    the row; ``shortfall`` what a reversal could not take (the value never goes below 0)."""

    __tablename__ = "growth_entry"
    __table_args__ = (
        UniqueConstraint("brand_id", "kind", "cause_type", "cause_id", "member_id"),
        ForeignKeyConstraint(["brand_id", "member_id"], ["member.brand_id", "member.id"]),
        ForeignKeyConstraint(["brand_id", "order_id"], ["sales_order.brand_id", "sales_order.id"]),
        CheckConstraint("kind IN ('purchase', 'refund')", name="kind"),
        CheckConstraint("cause_type IN ('order', 'refund')", name="cause_type"),
        CheckConstraint(
            "(kind = 'purchase' AND delta >= 0) OR (kind = 'refund' AND delta <= 0)",
            name="delta_sign",
        ),
        CheckConstraint("value_after >= 0 AND shortfall >= 0", name="value_after"),
        Index("ix_growth_entry_member", "brand_id", "member_id", "id"),
        Index("ix_growth_entry_order", "brand_id", "order_id"),
    )

    member_id: Mapped[int]
    kind: Mapped[str] = mapped_column(String(16))
    delta: Mapped[int] = mapped_column(BigInteger)
    shortfall: Mapped[int] = mapped_column(BigInteger, server_default="0")
    cause_type: Mapped[str] = mapped_column(String(24))
    cause_id: Mapped[int] = mapped_column(BigInteger)
    order_id: Mapped[int]
    value_after: Mapped[int] = mapped_column(BigInteger)
    occurred_at: Mapped[datetime] = mapped_column(server_default=func.now())
