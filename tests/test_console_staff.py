"""Console pages of staff: the list (masked phones, filters), hiring, editing and passwords."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.audit.models import AuditEntry
from siyu.staff.models import Staff
from tests.factories import build_world
from tests.helpers import row_counts
from tests.test_console_pages import CODE_CELL, CSRF_INPUT, HX, input_tag, log_in, options_of


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
    before = row_counts(session)
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
    assert row_counts(session) == before
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


def test_store_manager_disables_a_guide_whose_token_then_fails(
    session: Session, client: TestClient
) -> None:
    # given
    world = build_world(session)
    session.commit()
    csrf = log_in(client, world, "store_manager")
    guide = world.staff["guide"]
    # when
    response = client.post(
        f"/console/staff/{guide.id}",
        data={
            "csrf_token": csrf,
            "name": guide.name,
            "login": guide.login or "",
            "phone": "",
            "email": "",
            "active": "false",
        },
        follow_redirects=False,
    )
    me = client.get("/api/me", headers=world.headers("guide"))
    # then
    assert response.status_code == 303
    assert session.scalar(select(Staff.status).where(Staff.id == guide.id)) == "disabled"
    assert me.status_code == 401


def test_invalid_email_rerenders_the_staff_form(session: Session, client: TestClient) -> None:
    # given
    world = build_world(session)
    session.commit()
    csrf = log_in(client, world, "store_manager")
    guide = world.staff["guide"]
    before = row_counts(session)
    # when
    response = client.post(
        f"/console/staff/{guide.id}",
        data={"csrf_token": csrf, "name": "Wang Fang", "email": "not-an-email", "active": "true"},
        follow_redirects=False,
    )
    # then
    assert response.status_code == 422
    assert "Email: has an unexpected format." in response.text
    assert 'class="invalid"' in input_tag(response.text, "email")
    assert session.scalar(select(Staff.name).where(Staff.id == guide.id)) == guide.name
    assert row_counts(session) == before


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
