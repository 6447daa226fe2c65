"""Locks of tiers and points, in one place and one order.

- The brand's loyalty settings lock (a transaction-scoped advisory lock): taken by whoever
  replaces the tier ladder or sets the points policy, so two writers cannot both insert "the"
  policy row or interleave two ladders.
- An adjustment's Idempotency-Key (advisory), before the member row.
- Member rows: siyu.members.locks.lock_member (FOR UPDATE). Every change of a member's points
  or growth value holds it, so the balance, the lots and the ledger move together. Callers that
  also lock an order lock the order first (siyu.orders.locks), then the member.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

_SETTINGS = "siyu.loyalty.settings:"


def lock_loyalty_settings(session: Session, brand_id: int) -> None:
    session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
        {"key": f"{_SETTINGS}{brand_id}"},
    )


def lock_adjustment_key(session: Session, brand_id: int, idempotency_key: str) -> None:
    """Serialize requests carrying the same adjustment Idempotency-Key (so two cannot both
    create); taken before the member row."""
    session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
        {"key": f"siyu.loyalty.adjustment:{brand_id}:{idempotency_key}"},
    )
