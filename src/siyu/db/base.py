"""Declarative base and the column conventions every table follows.

Tenant-owned tables carry ``brand_id`` as the first column of their primary key, and every
foreign key between tenant tables includes it, so that a deployment can distribute the tables
by ``brand_id`` (Citus) and no join can cross brands.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import BigInteger, DateTime, ForeignKey, Identity, MetaData, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: DateTime(timezone=True),
        int: BigInteger,
    }


class TenantKey:
    """Composite primary key ``(brand_id, id)`` for rows owned by one brand."""

    brand_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("brand.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[int] = mapped_column(
        BigInteger, Identity(always=False), primary_key=True, autoincrement=True
    )


class Timestamps:
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())
