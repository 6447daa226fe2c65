"""Offline (POS) orders and their imports.

Revision ID: 0012_offline
Revises: 0011_attribution
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0012_offline"
down_revision: str | None = "0011_attribution"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
