"""Console page of the audit log (actors with ``audit:read``): newest first, by object type."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from siyu.audit import service
from siyu.audit.models import AuditEntry
from siyu.core.masking import mask_phones_in_text
from siyu.web.deps import ConsoleContext, Uow
from siyu.web.templating import render

router = APIRouter()

PAGE_SIZE = 50
OBJECT_TYPES = {
    "store": "Stores 门店",
    "stock_location": "Stock locations 库存地点",
    "region": "Regions 区域",
    "franchisee": "Franchisees 加盟商",
    "staff": "Staff 员工",
    "api_token": "API tokens",
}
OBJECT_PAGES = {"store": "/console/stores/{}", "staff": "/console/staff/{}"}


@dataclass(frozen=True)
class Change:
    """One field of an entry: its value before and after (None: the side has no value)."""

    field: str
    before: str | None
    after: str | None


@dataclass(frozen=True)
class EntryView:
    entry: AuditEntry
    link: str | None
    changes: list[Change]


def _shown(value: Any) -> str:
    if value is None:
        return "—"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return mask_phones_in_text(text)


def changes_of(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[Change]:
    """The fields of an entry in the order recorded, each as readable text."""
    fields = list(dict.fromkeys([*(before or {}), *(after or {})]))
    return [
        Change(
            field,
            _shown(before.get(field)) if before is not None else None,
            _shown(after.get(field)) if after is not None else None,
        )
        for field in fields
    ]


def _view(entry: AuditEntry) -> EntryView:
    page = OBJECT_PAGES.get(entry.object_type)
    link = page.format(entry.object_id) if page and entry.object_id.isdigit() else None
    return EntryView(entry, link, changes_of(entry.before, entry.after))


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    session: Uow,
    ctx: ConsoleContext,
    object_type: Annotated[str, Query(max_length=64)] = "",
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
) -> Response:
    chosen = object_type.strip() or None
    result = service.list_entries(
        session,
        ctx.actor,
        object_type=chosen,
        limit=PAGE_SIZE,
        offset=(page - 1) * PAGE_SIZE,
    )
    pages = max(1, math.ceil(result.total / PAGE_SIZE))
    kept = {"object_type": chosen} if chosen else {}
    return render(
        request,
        "audit/audit.html",
        {
            "ctx": ctx,
            "entries": [_view(e) for e in result.entries],
            "object_types": OBJECT_TYPES,
            "object_type": chosen or "",
            "total": result.total,
            "page": page,
            "pages": pages,
            "previous": "?" + urlencode({**kept, "page": page - 1}) if page > 1 else None,
            "next": "?" + urlencode({**kept, "page": page + 1}) if page < pages else None,
        },
    )
