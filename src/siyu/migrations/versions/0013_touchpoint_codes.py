"""Several codes per touchpoint, bulk code runs with progress.

Revision ID: 0013_touchpoint_codes
Revises: 0012_offline
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0013_touchpoint_codes"
down_revision: str | None = "0012_offline"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
