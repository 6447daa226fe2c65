"""Bad input: problem+json with a stable code, the offending field, the request id, and
nothing written."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from siyu.core.logging import configure_logging
from tests.factories import World, build_world
from tests.helpers import assert_problem, row_counts


@pytest.fixture
def world(session: Session) -> World:
    built = build_world(session)
    session.commit()
    return built


def test_a_duplicate_store_code_is_a_conflict_and_writes_nothing(
    session: Session, client: TestClient, world: World
) -> None:
    # given
    before = row_counts(session)
    # when
    response = client.post(
        "/api/stores",
        json={"code": world.direct_store.code, "name": "Copy", "region_id": world.region_a.id},
        headers=world.headers("hq_operator"),
    )
    # then
    body = assert_problem(response, 409, "duplicate_code")
    assert body["field"] == "code"
    assert body["detail"] == f"A store with code '{world.direct_store.code}' already exists."
    assert row_counts(session) == before


@pytest.mark.parametrize(
    ("payload", "status", "code", "field"),
    [
        ({"code": "N1", "name": "N", "region_id": 0}, 404, "region_not_found", "region_id"),
        (
            {"code": "N1", "name": "N", "region_id": "REGION", "ownership": "franchise"},
            422,
            "invalid_ownership",
            "franchisee_id",
        ),
        ({"code": "N 1", "name": "N", "region_id": "REGION"}, 422, "validation_error", "code"),
        (
            {"code": "N1", "name": "N", "region_id": "REGION", "opening_hours": "9-5"},
            422,
            "invalid_opening_hours",
            "opening_hours",
        ),
        (
            {"code": "N1", "name": "N", "region_id": "REGION", "latitude": 91},
            422,
            "validation_error",
            "latitude",
        ),
        (
            {
                "code": "N1",
                "name": "N",
                "region_id": "REGION",
                "ownership": "direct",
                "franchisee_id": "FRANCHISEE",
            },
            422,
            "invalid_ownership",
            "franchisee_id",
        ),
    ],
)
def test_bad_store_input_is_refused_with_its_field(
    session: Session,
    client: TestClient,
    world: World,
    payload: dict[str, object],
    status: int,
    code: str,
    field: str,
) -> None:
    # given
    before = row_counts(session)
    resolved = {
        k: world.region_a.id if v == "REGION" else world.franchisee.id if v == "FRANCHISEE" else v
        for k, v in payload.items()
    }
    # when
    response = client.post("/api/stores", json=resolved, headers=world.headers("hq_operator"))
    # then
    body = assert_problem(response, status, code)
    assert body["field"] == field
    assert row_counts(session) == before


def test_an_unknown_route_is_a_problem_too(client: TestClient, world: World) -> None:
    assert_problem(client.get("/api/nothing-here"), 404, "not_found")


def test_the_callers_request_id_is_kept(client: TestClient, world: World) -> None:
    response = client.get("/api/me", headers={**world.headers("guide"), "X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"


def test_a_malformed_request_id_is_replaced(client: TestClient, world: World) -> None:
    response = client.get("/api/me", headers={"X-Request-ID": "<script>"})
    assert response.headers["x-request-id"] != "<script>"
    assert len(response.headers["x-request-id"]) == 32


def test_page_size_is_bounded(client: TestClient, world: World) -> None:
    response = client.get("/api/stores?limit=1001", headers=world.headers("brand_admin"))
    body = assert_problem(response, 422, "validation_error")
    assert body["field"] == "limit"


def test_logs_carry_no_phone_numbers_or_tokens(client: TestClient, world: World) -> None:
    # given JSON logs at info level
    configure_logging("json", "INFO")
    captured = io.StringIO()
    try:
        with redirect_stderr(captured):
            import structlog

            structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=captured))
            # when a request fails on a phone number inside a value, with a token attached
            client.post(
                "/api/staff",
                json={
                    "code": "X",
                    "name": "X",
                    "role": "guide",
                    "phone": "13812345678",
                    "store_id": world.other_store.id,
                },
                headers=world.headers("store_manager"),
            )
            structlog.get_logger("test").info("sms sent to 13812345678", token="siyu_secret")
    finally:
        configure_logging("console", "WARNING")
    # then
    lines = [json.loads(line) for line in captured.getvalue().splitlines() if line.strip()]
    assert any(line.get("path") == "/api/staff" for line in lines)
    text = captured.getvalue()
    assert "13812345678" not in text
    assert "138****5678" in text
    assert "siyu_secret" not in text
    assert world.tokens["store_manager"] not in text


def test_an_unexpected_failure_is_a_problem_with_the_request_id(db: object) -> None:
    # given an app with a route that fails unexpectedly
    from siyu.db.session import Database
    from siyu.web.app import create_app

    assert isinstance(db, Database)
    app = create_app(db)

    @app.get("/api/explode")
    def explode() -> None:
        raise RuntimeError("a bug")

    # when
    with TestClient(app) as failing_client:
        response = failing_client.get("/api/explode", headers={"X-Request-ID": "req-500"})
    # then
    problem = assert_problem(response, 500, "internal_error")
    assert problem["request_id"] == "req-500"
    assert "a bug" not in response.text
