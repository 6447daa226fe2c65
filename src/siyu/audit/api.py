"""HTTP API of the audit log (brand admins)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from siyu.audit import service
from siyu.audit.schemas import AuditEntryOut
from siyu.core.pagination import MAX_PAGE_SIZE, Page
from siyu.web.deps import CurrentActor, Uow

router = APIRouter(tags=["audit"])


@router.get("/audit", response_model=Page[AuditEntryOut])
def list_audit_entries(
    session: Uow,
    actor: CurrentActor,
    object_type: str | None = None,
    object_id: str | None = None,
    since: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[AuditEntryOut]:
    page = service.list_entries(
        session,
        actor,
        object_type=object_type,
        object_id=object_id,
        since=since,
        limit=limit,
        offset=offset,
    )
    return Page[AuditEntryOut](
        items=[AuditEntryOut.model_validate(e) for e in page.entries],
        total=page.total,
        limit=limit,
        offset=offset,
    )
