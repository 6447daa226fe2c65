"""Touchpoints (触点), brand-defined touchpoint kinds and the codes (布码) they issue."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKeyConstraint,
    Index,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db.base import Base, TenantKey, Timestamps

CARRIERS_SQL = (
    "'official_account', 'mini_program', 'wecom', 'community', 'store', 'ads', 'offline_event'"
)


class TouchpointKind(TenantKey, Timestamps, Base):
    """A kind a brand defines beside the built-in ones (siyu.touchpoints.rules.BUILT_IN_KINDS)."""

    __tablename__ = "touchpoint_kind"
    __table_args__ = (
        UniqueConstraint("brand_id", "code"),
        CheckConstraint(f"carrier IN ({CARRIERS_SQL})", name="carrier"),
    )

    code: Mapped[str] = mapped_column(String(48))
    name: Mapped[str] = mapped_column(String(100))
    carrier: Mapped[str] = mapped_column(String(32))


class Touchpoint(TenantKey, Timestamps, Base):
    """A place a customer reaches the brand, placed at a store, region, guide and/or campaign.

    A guide placement also records the guide's store, so scope follows the store.
    """

    __tablename__ = "touchpoint"
    __table_args__ = (
        UniqueConstraint("brand_id", "code"),
        ForeignKeyConstraint(["brand_id", "store_id"], ["store.brand_id", "store.id"]),
        ForeignKeyConstraint(["brand_id", "region_id"], ["region.brand_id", "region.id"]),
        ForeignKeyConstraint(["brand_id", "staff_id"], ["staff.brand_id", "staff.id"]),
        CheckConstraint(
            "store_id IS NOT NULL OR region_id IS NOT NULL OR staff_id IS NOT NULL"
            " OR campaign IS NOT NULL",
            name="placement",
        ),
        CheckConstraint("cost_fen IS NULL OR cost_fen >= 0", name="cost_fen"),
        Index("ix_touchpoint_brand_store", "brand_id", "store_id"),
    )

    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(48))
    store_id: Mapped[int | None]
    region_id: Mapped[int | None]
    staff_id: Mapped[int | None]
    campaign: Mapped[str | None] = mapped_column(String(100))
    cost_fen: Mapped[int | None] = mapped_column(BigInteger)
    active: Mapped[bool] = mapped_column(server_default="true")


class TouchpointCode(TenantKey, Timestamps, Base):
    """A code a touchpoint issued: its mini-program scene key and its WeCom state."""

    __tablename__ = "touchpoint_code"
    __table_args__ = (
        UniqueConstraint("brand_id", "scene_key"),
        UniqueConstraint("brand_id", "wecom_state"),
        ForeignKeyConstraint(
            ["brand_id", "touchpoint_id"], ["touchpoint.brand_id", "touchpoint.id"]
        ),
        Index("ix_touchpoint_code_brand_touchpoint", "brand_id", "touchpoint_id"),
    )

    touchpoint_id: Mapped[int]
    scene_key: Mapped[str] = mapped_column(String(32))
    wecom_state: Mapped[str] = mapped_column(String(30))
