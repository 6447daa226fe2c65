"""Tiers and the points ledger.

Revision ID: 0007_loyalty
Revises: 0006_member_core
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0007_loyalty"
down_revision: str | None = "0006_member_core"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
