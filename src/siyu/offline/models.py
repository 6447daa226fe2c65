"""Offline data (通数据): orders rung up at the stores' tills (POS) and the imports that brought
them, so offline sales sit beside online orders in member profiles and in the figures.

An offline order is a POS receipt, identified by its order number (unique per brand: importing
the same receipt again changes nothing). ``total_fen`` is what was sold on it (the sum of its
positive lines) and ``refunded_fen`` what was returned on it (the negated sum of its negative
lines), so its net GMV is ``total_fen - refunded_fen``; a return receipt has only negative lines.
``member_id`` is the member the POS named (by POS member number or phone), or NULL for an
anonymous sale: still offline GMV, in no profile.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db.base import Base, TenantKey

IMPORT_KINDS_SQL = "'pos_members', 'pos_orders'"


class OfflineImport(TenantKey, Base):
    """One POS file that was imported and created or changed something (a file that changed
    nothing, such as a re-import, leaves no record). ``mapping`` is the column mapping used,
    field -> the file's column."""

    __tablename__ = "offline_import"
    __table_args__ = (
        CheckConstraint(f"kind IN ({IMPORT_KINDS_SQL})", name="kind"),
        CheckConstraint(
            "row_count >= 0 AND created_count >= 0 AND updated_count >= 0 AND unchanged_count >= 0",
            name="counts",
        ),
        ForeignKeyConstraint(["brand_id", "staff_id"], ["staff.brand_id", "staff.id"]),
        Index("ix_offline_import_brand_created", "brand_id", "created_at"),
    )

    kind: Mapped[str] = mapped_column(String(16))
    file_name: Mapped[str | None] = mapped_column(String(255))
    mapping: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    row_count: Mapped[int] = mapped_column(Integer)
    created_count: Mapped[int] = mapped_column(Integer)
    updated_count: Mapped[int] = mapped_column(Integer, server_default="0")
    unchanged_count: Mapped[int] = mapped_column(Integer, server_default="0")
    actor_label: Mapped[str] = mapped_column(String(200))
    staff_id: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class OfflineOrder(TenantKey, Base):
    __tablename__ = "offline_order"
    __table_args__ = (
        UniqueConstraint("brand_id", "order_number"),
        CheckConstraint("total_fen >= 0 AND refunded_fen >= 0", name="amounts"),
        ForeignKeyConstraint(["brand_id", "store_id"], ["store.brand_id", "store.id"]),
        ForeignKeyConstraint(["brand_id", "member_id"], ["member.brand_id", "member.id"]),
        ForeignKeyConstraint(
            ["brand_id", "import_id"], ["offline_import.brand_id", "offline_import.id"]
        ),
        Index("ix_offline_order_brand_placed", "brand_id", "placed_at"),
        Index("ix_offline_order_store_placed", "brand_id", "store_id", "placed_at"),
        Index("ix_offline_order_member_placed", "brand_id", "member_id", "placed_at"),
        Index("ix_offline_order_import", "brand_id", "import_id"),
    )

    order_number: Mapped[str] = mapped_column(String(64))
    store_id: Mapped[int]
    member_id: Mapped[int | None]
    placed_at: Mapped[datetime]
    total_fen: Mapped[int] = mapped_column(BigInteger)
    refunded_fen: Mapped[int] = mapped_column(BigInteger, server_default="0")
    import_id: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class OfflineOrderLine(TenantKey, Base):
    """One line of a receipt. A returned item is a line with a negative quantity and amount.
    ``sku_code`` is what the POS printed; ``sku_id``/``product_id`` are set when the brand's
    catalog knows that code (an unknown code is kept as it is, never an error)."""

    __tablename__ = "offline_order_line"
    __table_args__ = (
        CheckConstraint(
            "(quantity > 0 AND amount_fen >= 0) OR (quantity < 0 AND amount_fen <= 0)",
            name="signs",
        ),
        ForeignKeyConstraint(
            ["brand_id", "offline_order_id"], ["offline_order.brand_id", "offline_order.id"]
        ),
        ForeignKeyConstraint(["brand_id", "sku_id"], ["sku.brand_id", "sku.id"]),
        ForeignKeyConstraint(["brand_id", "product_id"], ["product.brand_id", "product.id"]),
        Index("ix_offline_order_line_order", "brand_id", "offline_order_id"),
        Index("ix_offline_order_line_sku", "brand_id", "sku_id"),
    )

    offline_order_id: Mapped[int]
    sku_id: Mapped[int | None]
    sku_code: Mapped[str] = mapped_column(String(64))
    product_id: Mapped[int | None]
    quantity: Mapped[int] = mapped_column(Integer)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
