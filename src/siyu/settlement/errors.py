"""Refusals of franchise settlement, each with a stable code."""

from __future__ import annotations

from siyu.core.errors import Conflict, InvalidInput, NotFound


class StatementNotFound(NotFound):
    code = "statement_not_found"


class SettlementRunNotFound(NotFound):
    code = "settlement_run_not_found"


class SettlementRuleNotFound(NotFound):
    code = "settlement_rule_not_found"


class InvalidSettlementPeriod(InvalidInput):
    """The period ends before it starts, or has not ended yet."""

    code = "invalid_settlement_period"


class SettlementPeriodOverlaps(Conflict):
    """The period shares days with a period already settled."""

    code = "settlement_period_overlaps"


class SettlementRuleMissing(Conflict):
    """A franchisee to settle has no rule of its own and the brand has no default."""

    code = "settlement_rule_missing"
