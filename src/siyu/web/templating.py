"""Server-side rendering (Jinja2) for the console, with the filters every page needs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from siyu.access.rules import ROLE_LABELS, Role
from siyu.core.clock import format_shanghai
from siyu.core.masking import mask_phone

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
TEMPLATES.env.filters["shanghai"] = format_shanghai
TEMPLATES.env.filters["mask_phone"] = mask_phone
TEMPLATES.env.filters["role_label"] = lambda value: ROLE_LABELS.get(Role(value), value)


def render(
    request: Request, template: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    response: HTMLResponse = TEMPLATES.TemplateResponse(
        request, template, context, status_code=status_code
    )
    return response
