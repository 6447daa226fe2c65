"""The brand: the tenant. Every other tenant-owned row points here through ``brand_id``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Identity, String, func
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db.base import Base


class Brand(Base):
    __tablename__ = "brand"
    __table_args__ = (CheckConstraint("slug ~ '^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$'", name="slug"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), server_default="Asia/Shanghai")
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
