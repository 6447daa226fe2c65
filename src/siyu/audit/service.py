"""Writing and reading the audit log.

``record_change`` is called by every service that changes administrative state, inside the
caller's transaction, so the entry commits or rolls back with the change itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.access.rules import Actor, Permission
from siyu.audit.models import AuditEntry
from siyu.core.context import current_request_id
from siyu.core.snapshot import changed_fields, row_snapshot


def record_change(
    session: Session,
    actor: Actor,
    *,
    action: str,
    object_type: str,
    object_id: int | str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> AuditEntry:
    """Add one audit entry (flushed with the session; no commit)."""
    entry = AuditEntry(
        brand_id=actor.brand_id,
        actor_kind=actor.kind.value,
        actor_staff_id=actor.staff_id,
        actor_token_id=actor.token_id,
        actor_label=actor.label,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        before=before,
        after=after,
        request_id=current_request_id(),
    )
    session.add(entry)
    return entry


def record_creation(session: Session, actor: Actor, *, object_type: str, row: Any) -> None:
    """Audit the creation of ``row`` (flushed, so it has its id) as ``<object_type>.create``."""
    record_change(
        session,
        actor,
        action=f"{object_type}.create",
        object_type=object_type,
        object_id=row.id,
        before=None,
        after=row_snapshot(row),
    )


def record_update(
    session: Session, actor: Actor, *, object_type: str, row: Any, before: dict[str, Any]
) -> dict[str, Any]:
    """Audit what changed in ``row`` since the snapshot ``before`` (as
    ``<object_type>.update``, only the changed fields) and return the changes; nothing is
    recorded when nothing changed."""
    changes = changed_fields(before, row_snapshot(row))
    if changes:
        record_change(
            session,
            actor,
            action=f"{object_type}.update",
            object_type=object_type,
            object_id=row.id,
            before={k: before.get(k) for k in changes},
            after=changes,
        )
    return changes


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    total: int


def list_entries(
    session: Session,
    actor: Actor,
    *,
    object_type: str | None = None,
    object_id: str | None = None,
    since: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> AuditPage:
    """Newest first. Requires ``audit:read`` (brand admins)."""
    actor.require(Permission.AUDIT_READ)
    conditions = [AuditEntry.brand_id == actor.brand_id]
    if object_type:
        conditions.append(AuditEntry.object_type == object_type)
    if object_id:
        conditions.append(AuditEntry.object_id == object_id)
    if since:
        conditions.append(AuditEntry.occurred_at >= since)
    total = session.scalar(select(func.count()).select_from(AuditEntry).where(*conditions)) or 0
    rows = session.scalars(
        select(AuditEntry)
        .where(*conditions)
        .order_by(AuditEntry.occurred_at.desc(), AuditEntry.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return AuditPage(entries=list(rows), total=total)
