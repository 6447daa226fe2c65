"""Attribution models and order touchpoint credit.

Revision ID: 0011_attribution
Revises: 0010_tracking
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0011_attribution"
down_revision: str | None = "0010_tracking"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
