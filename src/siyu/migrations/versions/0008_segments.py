"""Tags (manual, rule and per-guide) and segments.

Revision ID: 0008_segments
Revises: 0007_loyalty
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0008_segments"
down_revision: str | None = "0007_loyalty"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
