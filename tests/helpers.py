"""Assertions shared by tests."""

from __future__ import annotations

from httpx import Response
from sqlalchemy import text
from sqlalchemy.orm import Session

from siyu.db.models import Base

COUNTED_TABLES = [t.name for t in Base.metadata.sorted_tables]


def row_counts(session: Session) -> dict[str, int]:
    """How many rows each siyu table holds: compare before and after a refusal."""
    session.expire_all()
    return {
        name: session.execute(text(f"SELECT count(*) FROM {name}")).scalar_one()
        for name in COUNTED_TABLES
        if name != "login_attempt"
    }


def assert_problem(response: Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, object] = response.json()
    assert body["code"] == code, body
    assert body["status"] == status
    assert body["request_id"] == response.headers["x-request-id"]
    return body
