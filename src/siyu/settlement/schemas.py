"""Input and output shapes of franchise settlement (API, console and CLI share them).

Money is integer fen. Periods are half-open ``[period_start, period_end)`` in Asia/Shanghai
dates: ``2026-11-01`` to ``2026-12-01`` is November.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_FIXED_FEE_FEN = 100_000_000_00  # 100 million yuan: anything larger is a typing mistake


class SettlementRuleIn(BaseModel):
    commission_bps: int = Field(
        ge=0, le=10_000, description="Commission in basis points of net sales (500 = 5%)"
    )
    fixed_fee_fen: int = Field(default=0, ge=0, le=MAX_FIXED_FEE_FEN, description="Per statement")

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"commission_bps": 500, "fixed_fee_fen": 20000}]}
    )


class SettlementRuleOut(BaseModel):
    """The rule that applies to a franchisee: their own, or the brand default."""

    franchisee_id: int | None
    commission_bps: int
    fixed_fee_fen: int
    source: Literal["franchisee", "brand_default"]
    updated_at: datetime


class SettlementRunIn(BaseModel):
    period_start: date = Field(description="First day (Asia/Shanghai), included")
    period_end: date = Field(description="Day after the last day (Asia/Shanghai), excluded")

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"period_start": "2026-11-01", "period_end": "2026-12-01"}]}
    )


class SettlementRunOut(BaseModel):
    id: int
    period_start: date
    period_end: date
    period_start_at: datetime
    period_end_at: datetime
    created_by: str
    created_at: datetime
    statement_count: int


class StatementLineOut(BaseModel):
    store_id: int
    store_code: str
    store_name: str
    sales_fen: int
    refunds_fen: int
    net_sales_fen: int
    order_count: int


class StatementOut(BaseModel):
    id: int
    run_id: int
    franchisee_id: int
    franchisee_code: str
    franchisee_name: str
    period_start: date
    period_end: date
    sales_fen: int
    refunds_fen: int
    net_sales_fen: int
    commission_fen: int
    fees_fen: int
    net_payable_fen: int
    order_count: int
    entry_count: int
    created_at: datetime
    lines: list[StatementLineOut] | None = Field(
        default=None, description="Per-store figures (on the statement itself, not in lists)"
    )


class LedgerEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    store_id: int
    franchisee_id: int | None
    order_id: int
    kind: Literal["sale", "refund", "fulfilment"]
    amount_fen: int
    source_key: str
    occurred_at: datetime
    posted_at: datetime
