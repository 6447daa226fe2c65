"""Locks of franchise settlement, in one place and one order.

Order when several are needed: the brand's ledger lock, then the brand's settlement-rule lock.
Both are transaction-scoped PostgreSQL advisory locks, held until the caller's transaction ends.

- Posting to the ledger takes the ledger lock **shared** (any number of dispatchers post at
  once); a settlement run takes it **exclusive**. So a run waits for postings in flight to
  commit before it sums the period, and a posting that starts after a run sees that run and
  books itself into the next open period (``rules.booking_moment``): no entry is ever summed
  twice or missed.
- Setting a rule takes the rule lock, so two writers cannot both insert "the" rule of one
  franchisee (the table cannot enforce it: the brand default has ``franchisee_id`` NULL).
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

_LEDGER = "siyu.settlement.ledger:"
_RULES = "siyu.settlement.rules:"


def lock_ledger_for_posting(session: Session, brand_id: int) -> None:
    session.execute(
        text("SELECT pg_advisory_xact_lock_shared(hashtextextended(:key, 0))"),
        {"key": f"{_LEDGER}{brand_id}"},
    )


def lock_ledger_for_settlement(session: Session, brand_id: int) -> None:
    session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
        {"key": f"{_LEDGER}{brand_id}"},
    )


def lock_settlement_rules(session: Session, brand_id: int) -> None:
    session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
        {"key": f"{_RULES}{brand_id}"},
    )
