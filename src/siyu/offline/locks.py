"""Locks of offline data: one transaction-scoped advisory lock per brand and kind of POS
import, so two imports of one brand never race to create the same member or receipt. Take it
before any row lock (members are updated after it, in member id order)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from siyu.offline.rules import ImportKind

_KEY = "siyu.offline.import:"


def lock_pos_import(session: Session, brand_id: int, kind: ImportKind) -> None:
    """Wait for any other import of ``kind`` into the brand; held until the transaction ends."""
    session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
        {"key": f"{_KEY}{kind.value}:{brand_id}"},
    )
