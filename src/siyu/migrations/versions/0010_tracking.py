"""Tracking events and visitors.

Revision ID: 0010_tracking
Revises: 0009_consent
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0010_tracking"
down_revision: str | None = "0009_consent"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
