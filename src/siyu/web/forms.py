"""Shared pieces of console forms and lists: HTMX partials, refusal messages, pagination."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from pydantic import ValidationError
from sqlalchemy.orm import Session

from siyu.core.errors import SiyuError

PAGE_SIZE = 50


def is_partial(request: Request) -> bool:
    """An HTMX request for the results only (a history restore needs the whole page)."""
    return (
        request.headers.get("hx-request") == "true"
        and request.headers.get("hx-history-restore-request") != "true"
    )


def validation_problem(error: ValidationError, labels: dict[str, str]) -> tuple[str, str | None]:
    """The first problem of a form, as a sentence and the field to mark."""
    first = error.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else None
    label = labels.get(field or "", field or "Form")
    if first["type"] == "string_pattern_mismatch":
        message = "has an unexpected format"
    elif first["type"] in {"int_parsing", "int_type"}:
        message = "must be chosen" if (field or "").endswith("_id") else "must be a whole number"
    else:
        message = first["msg"]
    return f"{label}: {message}.", field


@dataclass(frozen=True)
class FormProblem:
    """Why a submitted form was refused: the message, the field to mark, the HTTP status."""

    message: str
    field: str | None
    status: int


def form_problem(
    session: Session, error: ValidationError | SiyuError, labels: dict[str, str]
) -> FormProblem:
    """Roll back whatever the refused submission had begun, and say why for the form."""
    session.rollback()
    if isinstance(error, ValidationError):
        message, field = validation_problem(error, labels)
        return FormProblem(message, field, 422)
    return FormProblem(error.message, error.field, error.status)


def problem_context(problem: FormProblem | None) -> dict[str, Any]:
    """What a form template needs to show a refusal (``error``, ``error_field``)."""
    return {
        "error": problem.message if problem else None,
        "error_field": problem.field if problem else None,
    }


def pager(
    total: int, page: int, filters: dict[str, Any], page_size: int = PAGE_SIZE
) -> dict[str, Any]:
    """Page numbers and the query strings of the neighbouring pages (filters kept)."""
    pages = max(1, math.ceil(total / page_size))
    kept = {k: v for k, v in filters.items() if v not in (None, "")}

    def link(number: int) -> str:
        return "?" + urlencode({**kept, "page": number})

    return {
        "page": page,
        "pages": pages,
        "total": total,
        "previous": link(page - 1) if page > 1 else None,
        "next": link(page + 1) if page < pages else None,
    }
