"""Attribution: the brand's model settings and every order's touchpoint credit.

``order_touchpoint_credit`` holds, for every paid online order, one row per touchpoint that
earned a share of it (or one row with ``touchpoint_id`` NULL: unattributed). An order's rows sum
to 1000 permille and to its paid amount net of refunds. ``paid_at`` repeats the order's payment
time so the touchpoint report reads a period through an index instead of the order table.

Credits are derived data rewritten in bulk (a million orders' worth when a brand changes its
model), so ``order_id`` and ``touchpoint_id`` carry no foreign keys: their checks cost more than
half of a recompute (a trigger call per inserted row). Integrity comes from the only writers,
``siyu.attribution.service.credit_order`` and ``siyu.attribution.recompute``, which take both ids
from rows they join in the same statement (a touchpoint id that names no touchpoint of the brand
is dropped as a touch); orders and touchpoints are never deleted (touchpoints are deactivated).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Index,
    Integer,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db.base import Base, TenantKey, Timestamps

MODELS_SQL = "'first_touch', 'last_touch', 'linear', 'position_based', 'time_decay'"


class AttributionSetting(TenantKey, Timestamps, Base):
    """The brand's attribution model (one row per brand; none means siyu's defaults)."""

    __tablename__ = "attribution_setting"
    __table_args__ = (
        UniqueConstraint("brand_id"),
        CheckConstraint(f"model IN ({MODELS_SQL})", name="model"),
        CheckConstraint("lookback_days BETWEEN 1 AND 365", name="lookback_days"),
        CheckConstraint("half_life_days BETWEEN 1 AND 365", name="half_life_days"),
        CheckConstraint(
            "position_first_percent >= 0 AND position_middle_percent >= 0"
            " AND position_last_percent >= 0 AND position_first_percent"
            " + position_middle_percent + position_last_percent = 100",
            name="position_percents",
        ),
    )

    model: Mapped[str] = mapped_column(String(24))
    lookback_days: Mapped[int] = mapped_column(Integer, server_default="30")
    position_first_percent: Mapped[int] = mapped_column(Integer, server_default="40")
    position_middle_percent: Mapped[int] = mapped_column(Integer, server_default="20")
    position_last_percent: Mapped[int] = mapped_column(Integer, server_default="40")
    half_life_days: Mapped[int] = mapped_column(Integer, server_default="7")


class OrderTouchpointCredit(TenantKey, Base):
    """One touchpoint's share of one paid order (``touchpoint_id`` NULL: unattributed)."""

    __tablename__ = "order_touchpoint_credit"
    __table_args__ = (
        UniqueConstraint(
            "brand_id", "order_id", "touchpoint_id", postgresql_nulls_not_distinct=True
        ),
        CheckConstraint("credit_permille BETWEEN 0 AND 1000", name="credit_permille"),
        CheckConstraint("credited_fen >= 0", name="credited_fen"),
        CheckConstraint(f"model IN ({MODELS_SQL})", name="model"),
        Index("ix_order_touchpoint_credit_paid", "brand_id", "paid_at"),
    )

    order_id: Mapped[int]
    touchpoint_id: Mapped[int | None]
    credit_permille: Mapped[int] = mapped_column(Integer)
    credited_fen: Mapped[int] = mapped_column(BigInteger)
    model: Mapped[str] = mapped_column(String(24))
    paid_at: Mapped[datetime]
    computed_at: Mapped[datetime] = mapped_column(server_default=func.now())
