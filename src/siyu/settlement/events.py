"""Domain events of franchise settlement."""

from __future__ import annotations

from siyu.outbox.events import DomainEvent


class SettlementRuleSet(DomainEvent):
    """A franchisee's rule (or the brand default, ``franchisee_id`` None) was set."""

    aggregate_type = "settlement_rule"
    settlement_rule_id: int
    franchisee_id: int | None
    commission_bps: int
    fixed_fee_fen: int


class SettlementRunCompleted(DomainEvent):
    aggregate_type = "settlement_run"
    settlement_run_id: int
    period_start: str
    period_end: str
    statement_count: int


class StatementIssued(DomainEvent):
    aggregate_type = "statement"
    statement_id: int
    settlement_run_id: int
    franchisee_id: int
    period_start: str
    period_end: str
    sales_fen: int
    refunds_fen: int
    commission_fen: int
    fees_fen: int
    net_payable_fen: int
