"""Time: always timezone-aware, stored in UTC, shown in Asia/Shanghai."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def utc_now() -> datetime:
    return datetime.now(UTC)


def to_shanghai(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: siyu only handles timezone-aware times")
    return moment.astimezone(SHANGHAI)


def format_shanghai(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return to_shanghai(moment).strftime("%Y-%m-%d %H:%M")
