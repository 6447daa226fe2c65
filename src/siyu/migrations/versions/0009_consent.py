"""The consent ledger: opt-ins, subscribe-message credits, caps and quiet hours.

Revision ID: 0009_consent
Revises: 0008_segments
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0009_consent"
down_revision: str | None = "0008_segments"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
