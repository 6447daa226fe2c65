"""Franchise settlement: a per-store ledger posted from order events, and statements.

Every amount is integer fen. A statement's figures are sums of ledger entries, so they
reconcile to the orders exactly.
"""

from __future__ import annotations

from datetime import datetime

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
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db.base import Base, TenantKey, Timestamps


class LedgerEntry(TenantKey, Base):
    """One posting to a store's ledger. ``source_key`` makes posting idempotent."""

    __tablename__ = "store_ledger_entry"
    __table_args__ = (
        UniqueConstraint("brand_id", "source_key"),
        ForeignKeyConstraint(["brand_id", "store_id"], ["store.brand_id", "store.id"]),
        CheckConstraint("kind IN ('sale', 'refund', 'fulfilment')", name="kind"),
        Index("ix_store_ledger_entry_period", "brand_id", "store_id", "occurred_at"),
    )

    store_id: Mapped[int]
    franchisee_id: Mapped[int | None]
    order_id: Mapped[int]
    kind: Mapped[str] = mapped_column(String(16))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    source_key: Mapped[str] = mapped_column(String(96))
    occurred_at: Mapped[datetime]
    posted_at: Mapped[datetime] = mapped_column(server_default=func.now())


class SettlementRule(TenantKey, Timestamps, Base):
    """How the brand charges a franchisee (or all franchisees when ``franchisee_id`` is empty):
    a commission in basis points of net sales plus a fixed fee per statement."""

    __tablename__ = "settlement_rule"
    __table_args__ = (
        ForeignKeyConstraint(
            ["brand_id", "franchisee_id"], ["franchisee.brand_id", "franchisee.id"]
        ),
        CheckConstraint("commission_bps BETWEEN 0 AND 10000", name="commission"),
        CheckConstraint("fixed_fee_fen >= 0", name="fixed_fee"),
    )

    franchisee_id: Mapped[int | None]
    commission_bps: Mapped[int] = mapped_column(Integer)
    fixed_fee_fen: Mapped[int] = mapped_column(BigInteger, server_default="0")


class SettlementRun(TenantKey, Base):
    __tablename__ = "settlement_run"
    __table_args__ = (
        UniqueConstraint("brand_id", "period_start", "period_end"),
        CheckConstraint("period_end > period_start", name="period"),
    )

    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Statement(TenantKey, Base):
    __tablename__ = "settlement_statement"
    __table_args__ = (
        UniqueConstraint("brand_id", "run_id", "franchisee_id"),
        ForeignKeyConstraint(
            ["brand_id", "run_id"], ["settlement_run.brand_id", "settlement_run.id"]
        ),
        ForeignKeyConstraint(
            ["brand_id", "franchisee_id"], ["franchisee.brand_id", "franchisee.id"]
        ),
    )

    run_id: Mapped[int]
    franchisee_id: Mapped[int]
    sales_fen: Mapped[int] = mapped_column(BigInteger)
    refunds_fen: Mapped[int] = mapped_column(BigInteger)
    net_sales_fen: Mapped[int] = mapped_column(BigInteger)
    commission_fen: Mapped[int] = mapped_column(BigInteger)
    fees_fen: Mapped[int] = mapped_column(BigInteger)
    net_payable_fen: Mapped[int] = mapped_column(BigInteger)
    order_count: Mapped[int] = mapped_column(Integer)
    entry_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class StatementLine(TenantKey, Timestamps, Base):
    """Per-store figures inside a statement."""

    __tablename__ = "settlement_statement_line"
    __table_args__ = (
        ForeignKeyConstraint(
            ["brand_id", "statement_id"],
            ["settlement_statement.brand_id", "settlement_statement.id"],
        ),
        ForeignKeyConstraint(["brand_id", "store_id"], ["store.brand_id", "store.id"]),
    )

    statement_id: Mapped[int]
    store_id: Mapped[int]
    sales_fen: Mapped[int] = mapped_column(BigInteger)
    refunds_fen: Mapped[int] = mapped_column(BigInteger)
    order_count: Mapped[int] = mapped_column(Integer)
