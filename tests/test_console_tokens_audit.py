"""Console pages of API tokens (shown once, revocable) and of the audit log."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from markupsafe import escape
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.access.models import ApiToken
from tests.factories import build_world
from tests.helpers import row_counts
from tests.test_console_pages import log_in, store_form


def test_token_is_shown_once_and_works_as_bearer(session: Session, client: TestClient) -> None:
    # given
    world = build_world(session)
    session.commit()
    csrf = log_in(client, world, "hq_operator")
    # when
    created = client.post(
        "/console/tokens",
        data={"csrf_token": csrf, "name": "BI export", "kind": "user", "scopes": ["org:read"]},
        follow_redirects=False,
    )
    match = re.search(r'id="plain-token">(siyu_[A-Za-z0-9_-]+)<', created.text)
    assert match is not None
    plain = match.group(1)
    listing = client.get("/console/tokens")
    me = client.get("/api/me", headers={"Authorization": f"Bearer {plain}"})
    # then
    assert created.status_code == 201
    assert created.headers["cache-control"] == "no-store"
    assert plain not in listing.text
    assert "BI export" in listing.text
    assert f"<code>{plain[:12]}…</code>" in listing.text
    assert me.status_code == 200
    assert me.json()["staff_id"] == world.staff["hq_operator"].id
    assert me.json()["permissions"] == ["org:read"]


def test_brand_admin_creates_an_integration_token(session: Session, client: TestClient) -> None:
    # given
    world = build_world(session)
    session.commit()
    csrf = log_in(client, world, "brand_admin")
    # when
    unscoped = client.post(
        "/console/tokens",
        data={"csrf_token": csrf, "name": "crm", "kind": "integration"},
        follow_redirects=False,
    )
    created = client.post(
        "/console/tokens",
        data={
            "csrf_token": csrf,
            "name": "crm",
            "kind": "integration",
            "scopes": ["org:read", "staff:read"],
            "expires_in_days": "30",
        },
        follow_redirects=False,
    )
    # then
    assert unscoped.status_code == 422
    assert "An integration token needs its scopes." in unscoped.text
    assert created.status_code == 201
    row = session.scalars(select(ApiToken).where(ApiToken.name == "crm")).one()
    assert (row.kind, row.staff_id, row.scopes) == ("integration", None, ["org:read", "staff:read"])
    assert row.expires_at is not None


def test_token_beyond_own_permissions_is_refused(session: Session, client: TestClient) -> None:
    # given
    world = build_world(session)
    session.commit()
    csrf = log_in(client, world, "guide")
    before = row_counts(session)
    # when
    response = client.post(
        "/console/tokens",
        data={"csrf_token": csrf, "name": "sneaky", "kind": "integration", "scopes": ["org:read"]},
        follow_redirects=False,
    )
    # then
    assert response.status_code == 403
    assert escape("This action needs the 'integration:manage' permission.") in response.text
    assert row_counts(session) == before


def test_revoked_token_stops_working(session: Session, client: TestClient) -> None:
    # given
    world = build_world(session)
    session.commit()
    csrf = log_in(client, world, "store_manager")
    created = client.post(
        "/console/tokens", data={"csrf_token": csrf, "name": "script"}, follow_redirects=False
    )
    match = re.search(r'id="plain-token">(siyu_[A-Za-z0-9_-]+)<', created.text)
    assert match is not None
    token_id = session.scalar(select(ApiToken.id).where(ApiToken.name == "script"))
    assert token_id is not None
    # when
    response = client.post(
        f"/console/tokens/{token_id}/revoke", data={"csrf_token": csrf}, follow_redirects=False
    )
    me = client.get("/api/me", headers={"Authorization": f"Bearer {match.group(1)}"})
    # then
    assert response.status_code == 303
    assert response.headers["location"] == "/console/tokens?done=revoked"
    assert me.status_code == 401
    assert session.scalar(select(ApiToken.revoked_at).where(ApiToken.id == token_id)) is not None
    assert "Token revoked." in client.get(response.headers["location"]).text


def test_someone_elses_token_cannot_be_revoked(session: Session, client: TestClient) -> None:
    # given
    world = build_world(session)
    session.commit()
    csrf = log_in(client, world, "guide")
    other = session.scalar(
        select(ApiToken.id).where(ApiToken.staff_id == world.staff["store_manager"].id)
    )
    before = row_counts(session)
    # when
    response = client.post(
        f"/console/tokens/{other}/revoke", data={"csrf_token": csrf}, follow_redirects=False
    )
    # then
    assert response.status_code == 404
    assert session.scalar(select(ApiToken.revoked_at).where(ApiToken.id == other)) is None
    assert row_counts(session) == before


# ---------------------------------------------------------------- audit log


def test_audit_page_is_refused_for_hq_operator(session: Session, client: TestClient) -> None:
    # given
    world = build_world(session)
    session.commit()
    log_in(client, world, "hq_operator")
    # when
    response = client.get("/console/audit")
    # then
    assert response.status_code == 403
    assert escape("This action needs the 'audit:read' permission.") in response.text


def test_audit_page_shows_changes_to_brand_admin(session: Session, client: TestClient) -> None:
    # given
    world = build_world(session)
    session.commit()
    csrf = log_in(client, world, "hq_operator")
    client.post(
        f"/console/stores/{world.direct_store.id}",
        data={"csrf_token": csrf, **store_form(world, world.direct_store, name="Renamed")},
        follow_redirects=False,
    )
    log_in(client, world, "brand_admin")
    # when
    everything = client.get("/console/audit")
    stores_only = client.get("/console/audit", params={"object_type": "store"})
    tokens_only = client.get("/console/audit", params={"object_type": "api_token"})
    # then
    assert everything.status_code == 200
    assert "<code>store.update</code>" in everything.text
    assert (
        f'<a href="/console/stores/{world.direct_store.id}">store #{world.direct_store.id}</a>'
        in everything.text
    )
    assert (
        f'<span class="old">{world.direct_store.name}</span> → <span class="new">Renamed</span>'
        in stores_only.text
    )
    assert world.staff["hq_operator"].name in stores_only.text
    assert re.findall(r"<code>(store\.[a-z]+)</code>", stores_only.text) == [
        "store.update",
        "store.create",
        "store.create",
        "store.create",
    ]
    assert "8 entries" in tokens_only.text
    assert tokens_only.text.count("<code>api_token.issue</code>") == 8


def test_pages_need_a_login(client: TestClient) -> None:
    # given no session cookie
    # when
    response = client.get("/console/stores", follow_redirects=False)
    # then
    assert response.status_code == 303
    assert response.headers["location"] == "/console/login"
