"""Console login (argon2, cookies, CSRF, throttling) and API tokens (hashed, scoped, revocable)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from siyu.access.models import ApiToken, ConsoleSession, LoginAttempt
from siyu.access.service import token_digest
from siyu.core.clock import utc_now
from tests.factories import PASSWORD, World, build_world
from tests.helpers import assert_problem, row_counts


@pytest.fixture
def world(session: Session) -> World:
    built = build_world(session)
    session.commit()
    return built


def login_form(client: TestClient) -> str:
    page = client.get("/console/login")
    assert page.status_code == 200
    marker = 'name="csrf_token" value="'
    start = page.text.index(marker) + len(marker)
    return page.text[start : page.text.index('"', start)]


def log_in(client: TestClient, brand: str, login: str, password: str) -> Response:
    csrf = login_form(client)
    return client.post(
        "/console/login",
        data={"brand": brand, "login": login, "password": password, "csrf_token": csrf},
        follow_redirects=False,
    )


def test_staff_logs_in_and_sees_the_console(
    session: Session, client: TestClient, world: World
) -> None:
    # when
    response = log_in(client, world.brand.slug, world.staff["region_manager"].login or "", PASSWORD)
    # then
    assert response.status_code == 303
    cookie = response.headers["set-cookie"]
    assert "siyu_session=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    home = client.get("/console")
    assert home.status_code == 200
    assert world.region_a.code in home.text
    assert world.region_b.code not in home.text
    assert session.scalar(select(func.count()).select_from(ConsoleSession)) == 1


def test_passwords_are_stored_as_argon2id(world: World) -> None:
    assert (world.staff["guide"].password_hash or "").startswith("$argon2id$")


@pytest.mark.parametrize(
    ("brand", "login", "password"),
    [
        ("right", "right", "wrong-password"),
        ("right", "nobody", PASSWORD),
        ("no-such-brand", "right", PASSWORD),
    ],
)
def test_a_bad_login_is_refused_without_saying_which_part_was_wrong(
    session: Session, client: TestClient, world: World, brand: str, login: str, password: str
) -> None:
    # given
    before = row_counts(session)
    brand = world.brand.slug if brand == "right" else brand
    login = (world.staff["guide"].login or "") if login == "right" else login
    # when
    response = log_in(client, brand, login, password)
    # then
    assert response.status_code == 401
    assert "Brand, login or password is wrong." in response.text
    assert "siyu_session" not in response.headers.get("set-cookie", "")
    assert row_counts(session) == before
    assert session.scalar(select(func.count()).select_from(LoginAttempt)) == 1


def test_a_disabled_person_cannot_log_in(
    session: Session, client: TestClient, world: World
) -> None:
    # given
    session.execute(update(world.staff["guide"].__class__).values(status="disabled"))
    session.commit()
    # when
    response = log_in(client, world.brand.slug, world.staff["guide"].login or "", PASSWORD)
    # then
    assert response.status_code == 401


def test_logins_are_throttled_after_five_failures(
    session: Session, client: TestClient, world: World
) -> None:
    # given five wrong passwords
    login = world.staff["guide"].login or ""
    for _ in range(5):
        assert log_in(client, world.brand.slug, login, "wrong-password").status_code == 401
    # when the right password comes sixth
    response = log_in(client, world.brand.slug, login, PASSWORD)
    # then it is refused anyway, and no session was opened
    assert response.status_code == 429
    assert "Too many failed logins" in response.text
    assert session.scalar(select(func.count()).select_from(ConsoleSession)) == 0
    # and another account is not affected
    other = log_in(client, world.brand.slug, world.staff["store_manager"].login or "", PASSWORD)
    assert other.status_code == 303


def test_failures_older_than_the_window_do_not_count(
    session: Session, client: TestClient, world: World
) -> None:
    # given five failures sixteen minutes ago
    login = world.staff["guide"].login or ""
    for _ in range(5):
        log_in(client, world.brand.slug, login, "wrong-password")
    session.execute(update(LoginAttempt).values(attempted_at=utc_now() - timedelta(minutes=16)))
    session.commit()
    # when
    response = log_in(client, world.brand.slug, login, PASSWORD)
    # then
    assert response.status_code == 303


def test_login_without_the_csrf_token_is_refused(
    session: Session, client: TestClient, world: World
) -> None:
    # given
    login_form(client)
    before = row_counts(session)
    # when
    response = client.post(
        "/console/login",
        data={"brand": world.brand.slug, "login": world.staff["guide"].login, "password": PASSWORD},
    )
    # then
    assert response.status_code == 403
    assert row_counts(session) == before


def test_logout_ends_the_session(session: Session, client: TestClient, world: World) -> None:
    # given
    log_in(client, world.brand.slug, world.staff["guide"].login or "", PASSWORD)
    page = client.get("/console")
    marker = 'name="csrf_token" value="'
    start = page.text.index(marker) + len(marker)
    csrf = page.text[start : page.text.index('"', start)]
    # when
    response = client.post("/console/logout", data={"csrf_token": csrf}, follow_redirects=False)
    # then
    assert response.status_code == 303
    session.expire_all()
    assert session.scalar(select(ConsoleSession.revoked_at)) is not None
    assert client.get("/console", follow_redirects=False).headers["location"] == "/console/login"


def test_api_without_a_token_is_refused(client: TestClient, world: World) -> None:
    response = client.get("/api/stores")
    assert_problem(response, 401, "not_authenticated")
    assert response.headers["www-authenticate"] == "Bearer"


def test_an_unknown_token_is_refused(client: TestClient, world: World) -> None:
    response = client.get("/api/stores", headers={"Authorization": "Bearer siyu_forged"})
    assert_problem(response, 401, "invalid_token")


def test_tokens_are_stored_only_as_digests(session: Session, world: World) -> None:
    plain = world.tokens["guide"]
    row = session.scalar(select(ApiToken).where(ApiToken.token_digest == token_digest(plain)))
    assert row is not None
    assert plain not in (row.token_digest, row.token_prefix)
    assert row.token_prefix == plain[:12]


def test_a_revoked_token_stops_working(session: Session, client: TestClient, world: World) -> None:
    # given the guide issues a token and then revokes it
    issued = client.post(
        "/api/tokens", json={"name": "phone"}, headers=world.headers("guide")
    ).json()
    new_headers = {"Authorization": f"Bearer {issued['token']}"}
    assert client.get("/api/me", headers=new_headers).json()["role"] == "guide"
    # when
    revoked = client.delete(f"/api/tokens/{issued['id']}", headers=world.headers("guide"))
    # then
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    assert_problem(client.get("/api/me", headers=new_headers), 401, "invalid_token")


def test_an_expired_token_stops_working(session: Session, client: TestClient, world: World) -> None:
    # given
    session.execute(
        update(ApiToken)
        .where(ApiToken.token_digest == token_digest(world.tokens["guide"]))
        .values(expires_at=utc_now() - timedelta(seconds=1))
    )
    session.commit()
    # when / then
    assert_problem(client.get("/api/me", headers=world.headers("guide")), 401, "invalid_token")


def test_disabling_a_person_revokes_their_tokens(
    session: Session, client: TestClient, world: World
) -> None:
    # when the store manager disables the guide
    response = client.patch(
        f"/api/staff/{world.staff['guide'].id}",
        json={"active": False},
        headers=world.headers("store_manager"),
    )
    # then
    assert response.json()["active"] is False
    assert_problem(client.get("/api/me", headers=world.headers("guide")), 401, "invalid_token")


def test_a_token_cannot_carry_more_than_its_owner_may_do(
    session: Session, client: TestClient, world: World
) -> None:
    # given
    before = row_counts(session)
    # when
    response = client.post(
        "/api/tokens",
        json={"name": "sneaky", "scopes": ["audit:read"]},
        headers=world.headers("guide"),
    )
    # then
    body = assert_problem(response, 403, "permission_denied")
    assert body["field"] == "scopes"
    assert row_counts(session) == before


def test_integration_tokens_need_explicit_scopes_and_an_admin(
    session: Session, client: TestClient, world: World
) -> None:
    # given
    before = row_counts(session)
    # when
    without_scopes = client.post(
        "/api/tokens",
        json={"name": "erp", "kind": "integration"},
        headers=world.headers("brand_admin"),
    )
    by_hq = client.post(
        "/api/tokens",
        json={"name": "erp", "kind": "integration", "scopes": ["org:read"]},
        headers=world.headers("hq_operator"),
    )
    unknown_scope = client.post(
        "/api/tokens",
        json={"name": "erp", "kind": "integration", "scopes": ["org:everything"]},
        headers=world.headers("brand_admin"),
    )
    # then
    assert_problem(without_scopes, 422, "invalid_input")
    assert_problem(by_hq, 403, "permission_denied")
    assert_problem(unknown_scope, 422, "invalid_input")
    assert row_counts(session) == before


def test_whoami_describes_the_integration(client: TestClient, world: World) -> None:
    me = client.get("/api/me", headers=world.headers("integration")).json()
    assert me == {
        "brand_id": world.brand.id,
        "brand_slug": world.brand.slug,
        "kind": "integration",
        "label": "integration:erp",
        "role": None,
        "scope": "brand",
        "staff_id": None,
        "region_id": None,
        "store_id": None,
        "franchisee_id": None,
        "permissions": ["org:read"],
    }
