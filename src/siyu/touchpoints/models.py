"""Touchpoints (触点), brand-defined touchpoint kinds, the codes (布码) they issue, the
drawn images of those codes, and bulk code runs (one code per store, as a ZIP to print)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKeyConstraint,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db.base import Base, TenantKey, Timestamps

CARRIERS_SQL = (
    "'official_account', 'mini_program', 'wecom', 'community', 'store', 'ads', 'offline_event'"
)
MEDIA_SQL = "'link_qr', 'mini_program_code', 'official_account_qr', 'wecom_contact_way'"
RUN_STATUSES_SQL = "'queued', 'running', 'succeeded', 'failed'"


class TouchpointKind(TenantKey, Timestamps, Base):
    """A kind a brand defines beside the built-in ones (siyu.touchpoints.rules.BUILT_IN_KINDS)."""

    __tablename__ = "touchpoint_kind"
    __table_args__ = (
        UniqueConstraint("brand_id", "code"),
        CheckConstraint(f"carrier IN ({CARRIERS_SQL})", name="carrier"),
    )

    code: Mapped[str] = mapped_column(String(48))
    name: Mapped[str] = mapped_column(String(100))
    carrier: Mapped[str] = mapped_column(String(32))


class Touchpoint(TenantKey, Timestamps, Base):
    """A place a customer reaches the brand, placed at a store, region, guide and/or campaign.

    A guide placement also records the guide's store, so scope follows the store.
    """

    __tablename__ = "touchpoint"
    __table_args__ = (
        UniqueConstraint("brand_id", "code"),
        ForeignKeyConstraint(["brand_id", "store_id"], ["store.brand_id", "store.id"]),
        ForeignKeyConstraint(["brand_id", "region_id"], ["region.brand_id", "region.id"]),
        ForeignKeyConstraint(["brand_id", "staff_id"], ["staff.brand_id", "staff.id"]),
        CheckConstraint(
            "store_id IS NOT NULL OR region_id IS NOT NULL OR staff_id IS NOT NULL"
            " OR campaign IS NOT NULL",
            name="placement",
        ),
        CheckConstraint("cost_fen IS NULL OR cost_fen >= 0", name="cost_fen"),
        Index("ix_touchpoint_brand_store", "brand_id", "store_id"),
    )

    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(48))
    store_id: Mapped[int | None]
    region_id: Mapped[int | None]
    staff_id: Mapped[int | None]
    campaign: Mapped[str | None] = mapped_column(String(100))
    cost_fen: Mapped[int | None] = mapped_column(BigInteger)
    active: Mapped[bool] = mapped_column(server_default="true")


class TouchpointCode(TenantKey, Timestamps, Base):
    """A code a touchpoint issued (one per print batch, shelf or medium): its own scene key
    and WeCom state, a label, the medium it is printed as and whether it still counts.

    The touchpoint's first code (lowest id) is its default. ``page`` is the mini-program page a
    mini-program code opens (NULL: the home page; other media have none).
    """

    __tablename__ = "touchpoint_code"
    __table_args__ = (
        UniqueConstraint("brand_id", "scene_key"),
        UniqueConstraint("brand_id", "wecom_state"),
        ForeignKeyConstraint(
            ["brand_id", "touchpoint_id"], ["touchpoint.brand_id", "touchpoint.id"]
        ),
        CheckConstraint(f"medium IN ({MEDIA_SQL})", name="medium"),
        CheckConstraint("page IS NULL OR medium = 'mini_program_code'", name="page"),
        Index("ix_touchpoint_code_brand_touchpoint", "brand_id", "touchpoint_id"),
    )

    touchpoint_id: Mapped[int]
    scene_key: Mapped[str] = mapped_column(String(32))
    wecom_state: Mapped[str] = mapped_column(String(30))
    label: Mapped[str] = mapped_column(String(100), server_default="默认")
    medium: Mapped[str] = mapped_column(String(32), server_default="link_qr")
    page: Mapped[str | None] = mapped_column(String(128))
    active: Mapped[bool] = mapped_column(server_default="true")


class TouchpointCodeImage(TenantKey, Base):
    """The drawn image of a code, kept so printing never draws (or asks WeChat) twice.

    ``source`` says what produced it (medium, content or AppID/page/width, sandbox or live);
    an image whose source no longer matches the code is drawn again. A side table rather than
    columns of touchpoint_code, so code lists and audit snapshots never carry image bytes.
    """

    __tablename__ = "touchpoint_code_image"
    __table_args__ = (
        UniqueConstraint("brand_id", "touchpoint_code_id"),
        ForeignKeyConstraint(
            ["brand_id", "touchpoint_code_id"], ["touchpoint_code.brand_id", "touchpoint_code.id"]
        ),
    )

    touchpoint_code_id: Mapped[int]
    source: Mapped[str] = mapped_column(String(300))
    png: Mapped[bytes] = mapped_column(LargeBinary)
    svg: Mapped[str | None] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    drawn_at: Mapped[datetime] = mapped_column(server_default=func.now())


class StoreCodeRun(TenantKey, Timestamps, Base):
    """A bulk 布码 run: one code of ``kind`` per store in ``store_ids`` (sorted by store code),
    done by a background job that reports progress and leaves the ZIP in ``archive``.

    ``actor`` is the requester's actor as it was when they asked (the job acts as them);
    ``requested_by_staff_id`` lets staff outside HQ see their own runs. The ZIP (about 1.5 MB
    per 1,000 stores) lives in the database so that it survives restarts and is reachable from
    any app server or worker host; it is deferred so listing runs never loads it.
    """

    __tablename__ = "store_code_run"
    __table_args__ = (
        ForeignKeyConstraint(["brand_id", "requested_by_staff_id"], ["staff.brand_id", "staff.id"]),
        CheckConstraint(f"status IN ({RUN_STATUSES_SQL})", name="status"),
        CheckConstraint(f"medium IN ({MEDIA_SQL})", name="medium"),
        CheckConstraint("stores_done >= 0 AND stores_done <= stores_total", name="progress"),
        Index("ix_store_code_run_brand_created", "brand_id", "created_at"),
    )

    kind: Mapped[str] = mapped_column(String(48))
    campaign: Mapped[str | None] = mapped_column(String(100))
    medium: Mapped[str] = mapped_column(String(32))
    page: Mapped[str | None] = mapped_column(String(128))
    store_ids: Mapped[list[int]] = mapped_column(ARRAY(BigInteger))
    status: Mapped[str] = mapped_column(String(16), server_default="queued")
    stores_total: Mapped[int]
    stores_done: Mapped[int] = mapped_column(server_default="0")
    requested_by_staff_id: Mapped[int | None]
    actor: Mapped[dict[str, Any]] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(String(500))
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    archive: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    archive_bytes: Mapped[int | None]
