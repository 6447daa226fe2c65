"""Tracking: the events the storefront and servers report, the anonymous visitors stitched to
members, and the brands' storefront write keys.

Events reach ``tracking_event`` in two steps (siyu.tracking.ingestion, siyu.tracking.loading):
the API validates a batch and appends it whole, as the client sent it, to ``tracking_batch``
(one unindexed row per request: what keeps the answer cheap), and the loader job moves the
batches into ``tracking_event`` in the background, deduplicating by event id.

``tracking_event`` is append-only and the hottest table of siyu (goal: 150,000 rows/s through
the API), so it carries only the foreign keys the house rules demand: the brand (TenantKey) and
the member (merges repoint it). ``consumer_id``, ``touchpoint_id``, ``store_id``,
``product_id`` and ``sku_id`` are checked at ingestion against per-process caches of the
brand's ids (siyu.tracking.ingestion) instead of by foreign keys, each of which would cost a
trigger and an index probe per inserted row. Identifier columns use the "C" collation: they are
opaque, and byte comparison keeps the unique index on ``event_id`` cheap.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    Boolean,
    CheckConstraint,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db.base import Base, TenantKey, Timestamps

EVENT_KINDS_SQL = "'scan', 'visit', 'view_item', 'add_to_cart', 'share', 'claim_coupon', 'custom'"


class TrackingEvent(TenantKey, Base):
    """One event: a scan, a visit (with the mini-program scene value), a product viewed or added
    to the cart, a share, a coupon claimed, or a brand's custom event (``name``).

    ``occurred_at`` is the client's time (late events keep theirs), ``received_at`` the
    server's. ``scene_key`` is kept as sent; ``touchpoint_id`` is NULL when the brand never
    issued that key (an unknown source). ``member_id`` is set at ingestion (the consumer's
    member, or the member an anonymous visitor was stitched to) or later by stitching.
    """

    __tablename__ = "tracking_event"
    __table_args__ = (
        UniqueConstraint("brand_id", "event_id"),
        CheckConstraint(f"kind IN ({EVENT_KINDS_SQL})", name="kind"),
        CheckConstraint("(kind = 'custom') = (name IS NOT NULL)", name="custom_name"),
        ForeignKeyConstraint(["brand_id", "member_id"], ["member.brand_id", "member.id"]),
        Index(
            "ix_tracking_event_member",
            "brand_id",
            "member_id",
            "occurred_at",
            # kind and name ride along so a segment's per-member event check is an index-only
            # scan (bench/segment.py: 1.78 s without them, 0.45 s with)
            postgresql_include=["kind", "name"],
            postgresql_where=text("member_id IS NOT NULL"),
        ),
        Index(
            "ix_tracking_event_touchpoint",
            "brand_id",
            "touchpoint_id",
            "occurred_at",
            postgresql_where=text("touchpoint_id IS NOT NULL"),
        ),
        Index("ix_tracking_event_kind", "brand_id", "kind", "occurred_at"),
        Index(
            "ix_tracking_event_anonymous",
            "brand_id",
            "anonymous_id",
            "occurred_at",
            postgresql_where=text("anonymous_id IS NOT NULL"),
        ),
    )

    event_id: Mapped[str] = mapped_column(String(64, collation="C"))
    kind: Mapped[str] = mapped_column(String(48, collation="C"))
    name: Mapped[str | None] = mapped_column(String(64))
    occurred_at: Mapped[datetime]
    received_at: Mapped[datetime]
    anonymous_id: Mapped[str | None] = mapped_column(String(64, collation="C"))
    consumer_id: Mapped[int | None]
    member_id: Mapped[int | None]
    touchpoint_id: Mapped[int | None]
    scene_key: Mapped[str | None] = mapped_column(String(32, collation="C"))
    scene: Mapped[int | None] = mapped_column(Integer)
    store_id: Mapped[int | None]
    product_id: Mapped[int | None]
    sku_id: Mapped[int | None]
    properties: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))


class TrackingBatch(TenantKey, Base):
    """A batch of events accepted by the API and not loaded into ``tracking_event`` yet.

    ``body`` is the request body as received (validated: it is parsed again by the loader the
    same way, against ``received_at``); ``skipped`` lists the indices of its events that were
    not accepted (malformed, naming what the brand does not have, or repeating an event id of
    the batch). The sender is kept as the credential resolved it. The loader deletes the row
    in the transaction that writes its events, so each batch is loaded exactly once; a batch
    that cannot be loaded is set aside with ``failed_at`` and ``error`` and kept. No index
    beyond the primary key and no foreign key but the brand: a row costs PostgreSQL about as
    much as one event of ``tracking_event`` does.
    """

    __tablename__ = "tracking_batch"

    received_at: Mapped[datetime]
    consumer_id: Mapped[int | None]
    member_id: Mapped[int | None]
    may_name_member: Mapped[bool] = mapped_column(Boolean)
    event_count: Mapped[int] = mapped_column(Integer)
    skipped: Mapped[list[int]] = mapped_column(ARRAY(Integer))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    failed_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(String(500))


class AnonymousVisitor(TenantKey, Timestamps, Base):
    """An anonymous id the storefront used before a login, and the member it belongs to.

    Written when a consumer logs in with the anonymous id they browsed with (the latest login
    wins on a shared device); events arriving later with that id get the member at ingestion.
    """

    __tablename__ = "anonymous_visitor"
    __table_args__ = (
        UniqueConstraint("brand_id", "anonymous_id"),
        ForeignKeyConstraint(["brand_id", "member_id"], ["member.brand_id", "member.id"]),
        ForeignKeyConstraint(["brand_id", "consumer_id"], ["consumer.brand_id", "consumer.id"]),
        Index("ix_anonymous_visitor_member", "brand_id", "member_id"),
    )

    anonymous_id: Mapped[str] = mapped_column(String(64, collation="C"))
    member_id: Mapped[int]
    consumer_id: Mapped[int | None]
    linked_at: Mapped[datetime]


class TrackingWriteKey(TenantKey, Timestamps, Base):
    """A brand's storefront write key: it may only add tracking events, for visitors who have
    not logged in. Only the SHA-256 digest is stored; rotating replaces it (the old key stops
    working), revoking ends it."""

    __tablename__ = "tracking_write_key"
    __table_args__ = (Index("ix_tracking_write_key_digest", "key_digest", unique=True),)

    name: Mapped[str] = mapped_column(String(100))
    key_digest: Mapped[str] = mapped_column(String(64))
    key_prefix: Mapped[str] = mapped_column(String(16))
    created_by_staff_id: Mapped[int | None]
    rotated_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
