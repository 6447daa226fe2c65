"""Tags (标签), per-guide tags and segments (分组) with their materialised membership.

A tag is defined once per brand. A manual tag is put on members by staff (or in bulk from a
segment); a rule tag holds a segment rule and its members are recomputed on its schedule.
Per-guide tags are kept on the guide relationship as WeCom keeps them: the same person can be
tagged differently by each guide, and only that guide and the managers whose scope covers the
member see them.

Segments and rule tags remember the scope of the staff member who made them (``scope_*``): a
segment made by a region manager only ever holds members of that region, even when the
scheduled job recomputes it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKeyConstraint,
    Index,
    PrimaryKeyConstraint,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db.base import Base, TenantKey, Timestamps
from siyu.members.models import Member

SCHEDULES_SQL = "'manual', 'hourly', 'daily'"
SCOPES_SQL = "'brand', 'region', 'franchisee', 'store', 'self'"


class OwnerScope:
    """The scope a segment or rule tag was made in; its members never leave it."""

    scope_kind: Mapped[str] = mapped_column(String(16), server_default="brand")
    scope_region_id: Mapped[int | None]
    scope_franchisee_id: Mapped[int | None]
    scope_store_id: Mapped[int | None]
    scope_staff_id: Mapped[int | None]
    created_by_staff_id: Mapped[int | None]


def _owner_scope_constraints() -> tuple[Any, ...]:
    return (
        CheckConstraint(f"scope_kind IN ({SCOPES_SQL})", name="scope_kind"),
        ForeignKeyConstraint(["brand_id", "scope_region_id"], ["region.brand_id", "region.id"]),
        ForeignKeyConstraint(
            ["brand_id", "scope_franchisee_id"], ["franchisee.brand_id", "franchisee.id"]
        ),
        ForeignKeyConstraint(["brand_id", "scope_store_id"], ["store.brand_id", "store.id"]),
        ForeignKeyConstraint(["brand_id", "scope_staff_id"], ["staff.brand_id", "staff.id"]),
        ForeignKeyConstraint(["brand_id", "created_by_staff_id"], ["staff.brand_id", "staff.id"]),
    )


class Tag(OwnerScope, TenantKey, Timestamps, Base):
    """A tag definition. ``rule`` (normalised JSON, see siyu.segments.rules) only on rule tags,
    which are recomputed on ``schedule``; manual tags keep ``schedule`` 'manual'."""

    __tablename__ = "tag"
    __table_args__ = (
        UniqueConstraint("brand_id", "code"),
        CheckConstraint("kind IN ('manual', 'rule')", name="kind"),
        CheckConstraint("(kind = 'rule') = (rule IS NOT NULL)", name="rule_of_rule_tag"),
        CheckConstraint(f"schedule IN ({SCHEDULES_SQL})", name="schedule"),
        *_owner_scope_constraints(),
    )

    code: Mapped[str] = mapped_column(String(48))
    name: Mapped[str] = mapped_column(String(100))
    group_name: Mapped[str | None] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16), server_default="manual")
    rule: Mapped[dict[str, Any] | None] = mapped_column(JSONB(none_as_null=True))
    schedule: Mapped[str] = mapped_column(String(16), server_default="manual")
    last_refreshed_at: Mapped[datetime | None]


class MemberTag(TenantKey, Base):
    """A brand tag on a member. ``source``: manual (staff), rule (the tag's rule) or segment
    (bulk tagging from a segment)."""

    __tablename__ = "member_tag"
    __table_args__ = (
        UniqueConstraint("brand_id", "member_id", "tag_id"),
        ForeignKeyConstraint(["brand_id", "member_id"], ["member.brand_id", "member.id"]),
        ForeignKeyConstraint(["brand_id", "tag_id"], ["tag.brand_id", "tag.id"]),
        ForeignKeyConstraint(["brand_id", "tagged_by_staff_id"], ["staff.brand_id", "staff.id"]),
        CheckConstraint("source IN ('manual', 'rule', 'segment')", name="source"),
        Index("ix_member_tag_tag_member", "brand_id", "tag_id", "member_id"),
    )

    member_id: Mapped[int]
    tag_id: Mapped[int]
    source: Mapped[str] = mapped_column(String(16))
    tagged_by_staff_id: Mapped[int | None]
    tagged_at: Mapped[datetime] = mapped_column(server_default=func.now())


class MemberGuideTag(Base):
    """A tag one guide keeps on one member (WeCom keeps tags per staff and contact)."""

    __tablename__ = "member_guide_tag"
    __table_args__ = (
        PrimaryKeyConstraint("brand_id", "member_id", "guide_staff_id", "tag_id"),
        ForeignKeyConstraint(["brand_id", "member_id"], ["member.brand_id", "member.id"]),
        ForeignKeyConstraint(["brand_id", "guide_staff_id"], ["staff.brand_id", "staff.id"]),
        ForeignKeyConstraint(["brand_id", "tag_id"], ["tag.brand_id", "tag.id"]),
        ForeignKeyConstraint(["brand_id", "tagged_by_staff_id"], ["staff.brand_id", "staff.id"]),
        ForeignKeyConstraint(["brand_id"], ["brand.id"], ondelete="CASCADE"),
        Index("ix_member_guide_tag_tag", "brand_id", "tag_id"),
        Index("ix_member_guide_tag_guide", "brand_id", "guide_staff_id", "member_id"),
    )

    brand_id: Mapped[int] = mapped_column(BigInteger)
    member_id: Mapped[int] = mapped_column(BigInteger)
    guide_staff_id: Mapped[int] = mapped_column(BigInteger)
    tag_id: Mapped[int] = mapped_column(BigInteger)
    tagged_by_staff_id: Mapped[int | None]
    tagged_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Segment(OwnerScope, TenantKey, Timestamps, Base):
    """A saved segment: a rule, how often it is recomputed, and when it last was."""

    __tablename__ = "segment"
    __table_args__ = (
        UniqueConstraint("brand_id", "name"),
        CheckConstraint(f"schedule IN ({SCHEDULES_SQL})", name="schedule"),
        CheckConstraint("member_count >= 0", name="member_count"),
        *_owner_scope_constraints(),
    )

    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(500), server_default="")
    rule: Mapped[dict[str, Any]] = mapped_column(JSONB)
    schedule: Mapped[str] = mapped_column(String(16), server_default="manual")
    last_refreshed_at: Mapped[datetime | None]
    member_count: Mapped[int] = mapped_column(BigInteger, server_default="0")


class SegmentMember(Base):
    """A member of a segment as of its last refresh (materialised membership). The brand is
    held through the segment's key; no foreign key of its own, as every inserted row would
    check it."""

    __tablename__ = "segment_member"
    __table_args__ = (
        PrimaryKeyConstraint("brand_id", "segment_id", "member_id"),
        ForeignKeyConstraint(["brand_id", "segment_id"], ["segment.brand_id", "segment.id"]),
        ForeignKeyConstraint(["brand_id", "member_id"], ["member.brand_id", "member.id"]),
        Index("ix_segment_member_member", "brand_id", "member_id"),
    )

    brand_id: Mapped[int] = mapped_column(BigInteger)
    segment_id: Mapped[int] = mapped_column(BigInteger)
    member_id: Mapped[int] = mapped_column(BigInteger)


# Segments select by tier (分层) more than by any other column of the member; this gives them an
# index-only path to the active members of a tier instead of reading every member row.
Index(
    "ix_member_active_tier",
    Member.brand_id,
    Member.tier_code,
    Member.id,
    postgresql_where=text("status = 'active'"),
)
