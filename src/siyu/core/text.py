"""Small text helpers shared by services."""

from __future__ import annotations


def contains_pattern(search: str) -> str:
    """An ILIKE pattern matching ``search`` anywhere, with LIKE's wildcards taken literally."""
    escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
