"""The console pages: stores, staff, API tokens and the audit log, driven through a logged-in
browser session (real login form, session cookie, CSRF tokens)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from markupsafe import escape
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.access.models import ApiToken
from siyu.audit.models import AuditEntry
from siyu.org.models import Store
from siyu.staff.models import Staff
from tests.factories import PASSWORD, World, build_world

CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
CODE_CELL = re.compile(r"<td><code>([^<]+)</code></td>")
HX = {"HX-Request": "true"}


def log_in(client: TestClient, world: World, who: str) -> str:
    """Log in through the login form as ``world.staff[who]``; return the session's CSRF token."""
    client.cookies.clear()
    form = client.get("/console/login")
    login_csrf = CSRF_INPUT.search(form.text)
    assert login_csrf is not None
    response = client.post(
        "/console/login",
        data={
            "brand": world.brand.slug,
            "login": world.staff[who].login or "",
            "password": PASSWORD,
            "csrf_token": login_csrf.group(1),
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    home = client.get("/console")
    session_csrf = CSRF_INPUT.search(home.text)
    assert session_csrf is not None
    return session_csrf.group(1)


def count(session: Session, model: type[object]) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def opening_hours_of(session: Session, store_id: int) -> dict[str, list[list[str]]]:
    hours = session.scalar(select(Store.opening_hours).where(Store.id == store_id))
    assert hours is not None
    return hours


DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
EVERY_DAY_10_TO_22 = {day: [["10:00", "22:00"]] for day in DAYS}


def input_tag(html: str, name: str) -> str:
    """The ``<input>`` tag called ``name``."""
    match = re.search(rf'<input [^>]*name="{name}"[^>]*>', html)
    assert match is not None, f"no input {name}"
    return match.group(0)


def options_of(html: str, name: str) -> list[str]:
    """The option values of the select called ``name``."""
    select_html = html.split(f'<select name="{name}"', 1)[1].split("</select>", 1)[0]
    return re.findall(r'<option value="([^"]*)"', select_html)


def store_form(world: World, store: Store, **changes: str) -> dict[str, str]:
    """What the HQ edit form of ``store`` submits unchanged (phone left blank)."""
    form = {
        "name": store.name,
        "status": "open",
        "address": "",
        "opening_hours": "10:00-22:00",
        "phone": "",
        "region_id": str(store.region_id),
        "ownership": store.ownership,
        "franchisee_id": str(store.franchisee_id or ""),
    }
    form.update(changes)
    return form


# ---------------------------------------------------------------- stores


def test_region_manager_sees_only_their_regions_stores(
    session: Session, client: TestClient
) -> None:
    # given
    world = build_world(session)
    session.commit()
    log_in(client, world, "region_manager")
    # when
    page = client.get("/console/stores")
    partial = client.get("/console/stores", headers=HX)
    # then
    assert page.status_code == 200
    assert f"<code>{world.other_store.code}</code>" not in page.text
    assert "Warehouses" in page.text
    assert partial.status_code == 200
    assert "<html" not in partial.text
    assert CODE_CELL.findall(partial.text) == sorted(
        [world.direct_store.code, world.franchise_store.code]
    )
    assert "2 store(s)" in partial.text


def test_store_search_and_status_filters_narrow_the_table(
    session: Session, client: TestClient
) -> None:
    # given
    world = build_world(session)
    session.commit()
    log_in(client, world, "hq_operator")
    # when
    by_code = client.get("/console/stores", params={"q": world.other_store.code}, headers=HX)
    by_region = client.get(
        "/console/stores", params={"region_id": world.region_b.id, "status": "open"}, headers=HX
    )
    closed = client.get("/console/stores", params={"status": "closed"}, headers=HX)
    # then
    assert CODE_CELL.findall(by_code.text) == [world.other_store.code]
    assert CODE_CELL.findall(by_region.text) == [world.other_store.code]
    assert CODE_CELL.findall(closed.text) == []
    assert "No stores match." in closed.text


def test_guide_cannot_open_another_stores_page(session: Session, client: TestClient) -> None:
    # given
    world = build_world(session)
    session.commit()
    log_in(client, world, "guide")
    # when
    response = client.get(f"/console/stores/{world.other_store.id}")
    own = client.get(f"/console/stores/{world.direct_store.id}")
    # then
    assert response.status_code == 404
    assert f"Store {world.other_store.id} was not found." in response.text
    assert world.other_store.name not in response.text
    assert own.status_code == 200
    assert 'id="store-form"' not in own.text


def test_store_manager_cannot_edit_a_store(session: Session, client: TestClient) -> None:
    # given
    world = build_world(session)
    session.commit()
    csrf = log_in(client, world, "store_manager")
    store = world.direct_store
    audit_before = count(session, AuditEntry)
    # when
    page = client.get(f"/console/stores/{store.id}")
    response = client.post(
        f"/console/stores/{store.id}",
        data={"csrf_token": csrf, "name": "Renamed", "opening_hours": "09:00-18:00"},
        follow_redirects=False,
    )
    # then
    assert page.status_code == 200
    assert 'id="store-form"' not in page.text
    assert response.status_code == 403
    assert escape("This action needs the 'store:write' permission.") in response.text
    assert session.scalar(select(Store.name).where(Store.id == store.id)) == store.name
    assert opening_hours_of(session, store.id) == EVERY_DAY_10_TO_22
    assert count(session, AuditEntry) == audit_before


def test_hq_operator_edits_opening_hours_and_it_is_audited(
    session: Session, client: TestClient
) -> None:
    # given
    world = build_world(session)
    session.commit()
    csrf = log_in(client, world, "hq_operator")
    store = world.franchise_store
    page = client.get(f"/console/stores/{store.id}")
    # when
    response = client.post(
        f"/console/stores/{store.id}",
        data={
            "csrf_token": csrf,
            **store_form(world, store, opening_hours="mon-fri 09:00-21:00; sat,sun 10:00-23:00"),
        },
        follow_redirects=False,
    )
    # then
    assert 'id="store-form"' in page.text
    assert 'name="region_id"' in page.text
    assert response.status_code == 303
    assert response.headers["location"] == f"/console/stores/{store.id}?saved=1"
    weekday, weekend = [["09:00", "21:00"]], [["10:00", "23:00"]]
    expected = {d: weekday for d in DAYS[:5]} | {d: weekend for d in DAYS[5:]}
    assert opening_hours_of(session, store.id) == expected
    entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "store.update")).all()
    assert len(entries) == 1
    entry = entries[0]
    assert entry.object_id == str(store.id)
    assert entry.actor_staff_id == world.staff["hq_operator"].id
    assert entry.actor_label == world.staff["hq_operator"].name
    assert entry.before == {"opening_hours": EVERY_DAY_10_TO_22}
    assert entry.after == {"opening_hours": expected}
    shown = client.get(response.headers["location"])
    assert "Saved." in shown.text
    assert "mon-fri 09:00-21:00; sat-sun 10:00-23:00" in shown.text


def test_post_without_csrf_token_is_refused_and_changes_nothing(
    session: Session, client: TestClient
) -> None:
    # given
    world = build_world(session)
    session.commit()
    log_in(client, world, "hq_operator")
    store = world.direct_store
    audit_before = count(session, AuditEntry)
    # when
    missing = client.post(
        f"/console/stores/{store.id}",
        data=store_form(world, store, name="Hijacked"),
        follow_redirects=False,
    )
    wrong = client.post(
        f"/console/stores/{store.id}",
        data={"csrf_token": "not-the-token", **store_form(world, store, name="Hijacked")},
        follow_redirects=False,
    )
    # then
    assert missing.status_code == 403
    assert wrong.status_code == 403
    assert "The form has expired or did not come from this site" in missing.text
    assert session.scalar(select(Store.name).where(Store.id == store.id)) == store.name
    assert count(session, AuditEntry) == audit_before


def test_bad_opening_hours_rerender_the_form_and_change_nothing(
    session: Session, client: TestClient
) -> None:
    # given
    world = build_world(session)
    session.commit()
    csrf = log_in(client, world, "hq_operator")
    store = world.direct_store
    audit_before = count(session, AuditEntry)
    # when
    response = client.post(
        f"/console/stores/{store.id}",
        data={
            "csrf_token": csrf,
            **store_form(world, store, name="New name", opening_hours="10:00-25:00"),
        },
        follow_redirects=False,
    )
    # then
    assert response.status_code == 422
    assert escape("'25:00' is not a time like 09:30") in response.text
    field = input_tag(response.text, "opening_hours")
    assert 'value="10:00-25:00"' in field
    assert 'class="invalid" aria-invalid="true"' in field
    assert 'value="New name"' in response.text
    assert session.scalar(select(Store.name).where(Store.id == store.id)) == store.name
    assert opening_hours_of(session, store.id) == EVERY_DAY_10_TO_22
    assert count(session, AuditEntry) == audit_before


def test_invalid_phone_is_refused_by_the_schema_with_422(
    session: Session, client: TestClient
) -> None:
    # given
    world = build_world(session)
    session.commit()
    csrf = log_in(client, world, "hq_operator")
    store = world.direct_store
    audit_before = count(session, AuditEntry)
    # when
    response = client.post(
        f"/console/stores/{store.id}",
        data={"csrf_token": csrf, **store_form(world, store, phone="call me")},
        follow_redirects=False,
    )
    # then
    assert response.status_code == 422
    assert "Phone: has an unexpected format." in response.text
    assert session.scalar(select(Store.phone).where(Store.id == store.id)) is None
    assert count(session, AuditEntry) == audit_before


def test_hq_operator_opens_a_store_and_region_manager_may_not(
    session: Session, client: TestClient
) -> None:
    # given
    world = build_world(session)
    session.commit()
    csrf = log_in(client, world, "hq_operator")
    # when
    response = client.post(
        "/console/stores/new",
        data={
            "csrf_token": csrf,
            "code": "SH900",
            "name": "Jing'an Flagship",
            "region_id": str(world.region_b.id),
            "ownership": "direct",
            "franchisee_id": "",
            "address": "1 Nanjing West Rd",
            "opening_hours": "10:00-22:00",
            "status": "planned",
            "phone": "13900001111",
        },
        follow_redirects=False,
    )
    log_in(client, world, "region_manager")
    refused = client.get("/console/stores/new")
    # then
    created = session.scalar(select(Store).where(Store.code == "SH900"))
    assert created is not None
    assert response.status_code == 303
    assert response.headers["location"] == f"/console/stores/{created.id}?saved=created"
    assert (created.name, created.region_id, created.status, created.phone) == (
        "Jing'an Flagship",
        world.region_b.id,
        "planned",
        "13900001111",
    )
    assert refused.status_code == 403


def test_duplicate_store_code_rerenders_the_new_store_form(
    session: Session, client: TestClient
) -> None:
    # given
    world = build_world(session)
    session.commit()
    csrf = log_in(client, world, "hq_operator")
    stores_before = count(session, Store)
    # when
    response = client.post(
        "/console/stores/new",
        data={
            "csrf_token": csrf,
            "code": world.direct_store.code,
            "name": "Copy",
            "region_id": str(world.region_a.id),
            "ownership": "direct",
            "status": "open",
        },
        follow_redirects=False,
    )
    # then
    assert response.status_code == 409
    assert escape(f"A store with code '{world.direct_store.code}' already exists.") in (
        response.text
    )
    assert count(session, Store) == stores_before


# ---------------------------------------------------------------- staff


def test_phones_are_masked_in_the_staff_list(session: Session, client: TestClient) -> None:
    # given
    world = build_world(session)
    session.commit()
    log_in(client, world, "brand_admin")
    # when
    listing = client.get("/console/staff")
    detail = client.get(f"/console/staff/{world.staff['guide'].id}")
    # then
    assert listing.status_code == 200
    assert "138****5678" in listing.text
    assert "13812345678" not in listing.text
    assert "138****5678" in detail.text
    assert "13812345678" not in detail.text


def test_staff_list_filters_by_role_and_store(session: Session, client: TestClient) -> None:
    # given
    world = build_world(session)
    session.commit()
    log_in(client, world, "brand_admin")
    # when
    guides = client.get("/console/staff", params={"role": "guide"}, headers=HX)
    at_store = client.get("/console/staff", params={"store_id": world.other_store.id}, headers=HX)
    # then
    assert CODE_CELL.findall(guides.text) == sorted(
        [world.staff["guide"].code, world.staff["other_guide"].code]
    )
    assert CODE_CELL.findall(at_store.text) == [world.staff["other_guide"].code]


def test_store_manager_hires_a_guide_from_the_console(session: Session, client: TestClient) -> None:
    # given
    world = build_world(session)
    session.commit()
    csrf = log_in(client, world, "store_manager")
    # when
    form = client.get("/console/staff/new")
    response = client.post(
        "/console/staff/new",
        data={
            "csrf_token": csrf,
            "code": "G100",
            "name": "Li Na",
            "role": "guide",
            "store_id": str(world.direct_store.id),
            "phone": "13700001234",
            "email": "",
            "login": "li.na",
            "password": "a-long-password",
        },
        follow_redirects=False,
    )
    # then
    assert options_of(form.text, "role") == ["", "guide"]
    assert options_of(form.text, "store_id") == ["", str(world.direct_store.id)]
    hired = session.scalar(select(Staff).where(Staff.code == "G100"))
    assert hired is not None
    assert response.status_code == 303
    assert response.headers["location"] == f"/console/staff/{hired.id}?saved=hired"
    assert (hired.name, hired.role, hired.store_id, hired.phone, hired.login) == (
        "Li Na",
        "guide",
        world.direct_store.id,
        "13700001234",
        "li.na",
    )
    entry = session.scalar(
        select(AuditEntry).where(
            AuditEntry.action == "staff.hire", AuditEntry.object_id == str(hired.id)
        )
    )
    assert entry is not None
    assert entry.actor_staff_id == world.staff["store_manager"].id


def test_store_manager_cannot_hire_a_region_manager(session: Session, client: TestClient) -> None:
    # given
    world = build_world(session)
    session.commit()
    csrf = log_in(client, world, "store_manager")
    staff_before = count(session, Staff)
    audit_before = count(session, AuditEntry)
    # when
    response = client.post(
        "/console/staff/new",
        data={
            "csrf_token": csrf,
            "code": "RM9",
            "name": "Climber",
            "role": "region_manager",
            "region_id": str(world.region_a.id),
            "login": "climber",
            "password": "a-long-password",
        },
        follow_redirects=False,
    )
    # then
    assert response.status_code == 403
    assert "A store manager cannot manage a region manager." in response.text
    assert count(session, Staff) == staff_before
    assert count(session, AuditEntry) == audit_before
    assert session.scalar(select(Staff.id).where(Staff.code == "RM9")) is None


def test_guide_has_no_hiring_form(session: Session, client: TestClient) -> None:
    # given
    world = build_world(session)
    session.commit()
    log_in(client, world, "guide")
    # when
    response = client.get("/console/staff/new")
    # then
    assert response.status_code == 403


def test_store_manager_renames_a_guide_and_the_phone_is_kept(
    session: Session, client: TestClient
) -> None:
    # given
    world = build_world(session)
    session.commit()
    csrf = log_in(client, world, "store_manager")
    guide = world.staff["guide"]
    # when
    page = client.get(f"/console/staff/{guide.id}")
    response = client.post(
        f"/console/staff/{guide.id}",
        data={
            "csrf_token": csrf,
            "name": "Wang Fang",
            "login": guide.login or "",
            "phone": "",
            "email": "",
            "active": "true",
        },
        follow_redirects=False,
    )
    # then
    assert 'id="staff-form"' in page.text
    assert response.status_code == 303
    row = session.execute(select(Staff.name, Staff.phone).where(Staff.id == guide.id)).one()
    assert tuple(row) == ("Wang Fang", "13812345678")
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "staff.update"))
    assert entry is not None
    assert entry.before == {"name": guide.name}
    assert entry.after == {"name": "Wang Fang"}


def test_store_manager_sets_a_guides_password_and_the_guide_logs_in_with_it(
    session: Session, client: TestClient
) -> None:
    # given
    world = build_world(session)
    session.commit()
    csrf = log_in(client, world, "store_manager")
    guide = world.staff["guide"]
    # when
    short = client.post(
        f"/console/staff/{guide.id}/password",
        data={"csrf_token": csrf, "password": "short"},
        follow_redirects=False,
    )
    response = client.post(
        f"/console/staff/{guide.id}/password",
        data={"csrf_token": csrf, "password": "brand-new-password"},
        follow_redirects=False,
    )
    client.cookies.clear()
    login_page = client.get("/console/login")
    token = CSRF_INPUT.search(login_page.text)
    assert token is not None
    login = client.post(
        "/console/login",
        data={
            "brand": world.brand.slug,
            "login": guide.login or "",
            "password": "brand-new-password",
            "csrf_token": token.group(1),
        },
        follow_redirects=False,
    )
    # then
    assert short.status_code == 422
    assert "Password: String should have at least 10 characters." in short.text
    assert response.status_code == 303
    assert login.status_code == 303
    assert (
        session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "staff.set_password")
        )
        == 1
    )


# ---------------------------------------------------------------- API tokens


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


def test_token_beyond_own_permissions_is_refused(session: Session, client: TestClient) -> None:
    # given
    world = build_world(session)
    session.commit()
    csrf = log_in(client, world, "guide")
    tokens_before = count(session, ApiToken)
    # when
    response = client.post(
        "/console/tokens",
        data={"csrf_token": csrf, "name": "sneaky", "kind": "integration", "scopes": ["org:read"]},
        follow_redirects=False,
    )
    # then
    assert response.status_code == 403
    assert escape("This action needs the 'integration:manage' permission.") in response.text
    assert count(session, ApiToken) == tokens_before


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
    audit_before = count(session, AuditEntry)
    # when
    response = client.post(
        f"/console/tokens/{other}/revoke", data={"csrf_token": csrf}, follow_redirects=False
    )
    # then
    assert response.status_code == 404
    assert session.scalar(select(ApiToken.revoked_at).where(ApiToken.id == other)) is None
    assert count(session, AuditEntry) == audit_before


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
