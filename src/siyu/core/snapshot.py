"""JSON-safe snapshots of ORM rows for audit entries and event payloads."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import inspect

from siyu.core.masking import mask_phone

NEVER_RECORDED = frozenset({"password_hash", "token_digest", "csrf_token"})
PHONE_FIELDS = frozenset({"phone", "contact_phone"})


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def row_snapshot(row: object, exclude: Iterable[str] = ()) -> dict[str, Any]:
    """Column values of ``row``; secrets left out, phone numbers masked, timestamps skipped."""
    skip = NEVER_RECORDED | {"created_at", "updated_at"} | set(exclude)
    mapper = inspect(type(row))
    snapshot: dict[str, Any] = {}
    for column in mapper.column_attrs:
        key = column.key
        if key in skip:
            continue
        value = getattr(row, key)
        snapshot[key] = mask_phone(value) if key in PHONE_FIELDS else _json_value(value)
    return snapshot


def changed_fields(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in after.items() if before.get(k) != v}
