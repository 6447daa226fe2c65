"""Console pages of stores, and the helpers the other console tests share: logging in through
the real login form (session cookie, CSRF tokens) and reading the rendered HTML."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from markupsafe import escape
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.audit.models import AuditEntry
from siyu.org.models import Store
from tests.factories import PASSWORD, World, build_world, make_store
from tests.helpers import row_counts

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
    before = row_counts(session)
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
    assert row_counts(session) == before


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
    before = row_counts(session)
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
    assert row_counts(session) == before


def test_bad_opening_hours_rerender_the_form_and_change_nothing(
    session: Session, client: TestClient
) -> None:
    # given
    world = build_world(session)
    session.commit()
    csrf = log_in(client, world, "hq_operator")
    store = world.direct_store
    before = row_counts(session)
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
    assert row_counts(session) == before


def test_invalid_phone_is_refused_by_the_schema_with_422(
    session: Session, client: TestClient
) -> None:
    # given
    world = build_world(session)
    session.commit()
    csrf = log_in(client, world, "hq_operator")
    store = world.direct_store
    before = row_counts(session)
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
    assert row_counts(session) == before


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
    before = row_counts(session)
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
    assert row_counts(session) == before


def test_store_list_is_paged_fifty_at_a_time(session: Session, client: TestClient) -> None:
    # given 53 stores: the world's three and fifty more in region B
    world = build_world(session)
    for n in range(50):
        make_store(session, world.system, world.region_b, code=f"ZZ{n:02d}")
    session.commit()
    log_in(client, world, "hq_operator")
    # when
    first = client.get("/console/stores", params={"region_id": world.region_b.id}, headers=HX)
    second = client.get(
        "/console/stores", params={"region_id": world.region_b.id, "page": 2}, headers=HX
    )
    # then
    assert len(CODE_CELL.findall(first.text)) == 50
    assert "51 store(s), page 1 of 2" in first.text
    assert f"/console/stores?region_id={world.region_b.id}&amp;page=2" in first.text
    assert CODE_CELL.findall(second.text) == ["ZZ49"]
    assert "51 store(s), page 2 of 2" in second.text
