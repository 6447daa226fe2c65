"""Staff: everyone who works for a brand, from the brand admin to the guide on the floor."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKeyConstraint, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db.base import Base, TenantKey, Timestamps


class Staff(TenantKey, Timestamps, Base):
    __tablename__ = "staff"
    __table_args__ = (
        UniqueConstraint("brand_id", "code"),
        UniqueConstraint("brand_id", "login"),
        ForeignKeyConstraint(["brand_id", "region_id"], ["region.brand_id", "region.id"]),
        ForeignKeyConstraint(["brand_id", "store_id"], ["store.brand_id", "store.id"]),
        ForeignKeyConstraint(
            ["brand_id", "franchisee_id"], ["franchisee.brand_id", "franchisee.id"]
        ),
        CheckConstraint(
            "role IN ('brand_admin', 'hq_operator', 'region_manager', 'store_manager',"
            " 'franchisee_owner', 'guide')",
            name="role",
        ),
        CheckConstraint("role <> 'region_manager' OR region_id IS NOT NULL", name="region_scope"),
        CheckConstraint(
            "role NOT IN ('store_manager', 'guide') OR store_id IS NOT NULL", name="store_scope"
        ),
        CheckConstraint(
            "role <> 'franchisee_owner' OR franchisee_id IS NOT NULL", name="franchisee_scope"
        ),
        CheckConstraint("status IN ('active', 'disabled')", name="status"),
        Index("ix_staff_brand_store", "brand_id", "store_id"),
        Index("ix_staff_brand_region", "brand_id", "region_id"),
    )

    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(32))
    phone: Mapped[str | None] = mapped_column(String(32))
    email: Mapped[str | None] = mapped_column(String(200))
    login: Mapped[str | None] = mapped_column(String(64))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    region_id: Mapped[int | None]
    store_id: Mapped[int | None]
    franchisee_id: Mapped[int | None]
    status: Mapped[str] = mapped_column(String(16), server_default="active")
    last_login_at: Mapped[datetime | None]
