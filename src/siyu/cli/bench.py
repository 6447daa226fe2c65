"""``siyu bench NAME``: run a benchmark from bench/."""

from __future__ import annotations


def bench(name: str) -> None:
    """Run benchmark NAME from the bench/ folder."""
