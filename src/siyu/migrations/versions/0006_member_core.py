"""Members: merges, lifecycle policy and the member-side tables of the members core.

Revision ID: 0006_member_core
Revises: 0005_members
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0006_member_core"
down_revision: str | None = "0005_members"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
