"""Offset pagination shared by every list endpoint."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel

T = TypeVar("T")

MAX_PAGE_SIZE = 1000


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int
