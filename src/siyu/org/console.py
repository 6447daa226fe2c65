"""Console pages of this domain (server-rendered, Jinja2 + HTMX)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
