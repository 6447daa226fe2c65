"""Shapes of the brand."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class BrandOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    slug: str
    name: str
    timezone: str
    created_at: datetime
