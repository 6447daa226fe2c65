"""Complaint tickets (客诉): filed by consumers, owned and answered by store staff within a
deadline; overdue ones listed and reported once."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from siyu.access.rules import Role
from siyu.aftersales.complaints import report_overdue_complaints
from siyu.aftersales.jobs import report_overdue_complaints_job
from siyu.aftersales.models import Complaint
from siyu.audit.models import AuditEntry
from siyu.core.clock import utc_now
from siyu.outbox.models import OutboxEvent
from tests.factories import make_staff
from tests.factories_aftersales import other_store_manager_headers, place
from tests.factories_consumers import make_consumer
from tests.factories_mall import Mall, build_mall
from tests.helpers import assert_problem, row_counts


@pytest.fixture
def mall(session: Session) -> Mall:
    return build_mall(session)


def file(client: TestClient, mall: Mall, **extra: Any) -> Any:
    body = {"store_id": mall.store_id, "subject": "Rude staff", "body": "Nobody helped me."}
    return client.post(
        "/api/storefront/complaints", json=body | extra, headers=mall.shopper.headers
    )


def make_overdue(session: Session, complaint_id: int) -> datetime:
    """Move the complaint's deadline an hour into the past; returns the new deadline."""
    deadline = utc_now() - timedelta(hours=1)
    session.execute(
        update(Complaint).where(Complaint.id == complaint_id).values(respond_by=deadline)
    )
    session.commit()
    return deadline


def test_a_complaint_gets_the_store_manager_and_a_24_hour_deadline(
    session: Session, client: TestClient, mall: Mall
) -> None:
    # given an order at the store
    order = place(client, mall, [(mall.tee_s.id, 1)])
    # when the consumer files a complaint about it
    filed_from = utc_now()
    response = file(client, mall, order_id=order["id"])
    filed_to = utc_now()
    # then the store's manager owns it and must answer within 24 hours
    assert response.status_code == 201, response.text
    complaint = response.json()
    assert (complaint["status"], complaint["order_id"], complaint["owner_staff_id"]) == (
        "open",
        order["id"],
        mall.world.staff["store_manager"].id,
    )
    respond_by = datetime.fromisoformat(complaint["respond_by"])
    assert filed_from + timedelta(hours=24) <= respond_by <= filed_to + timedelta(hours=24)
    assert complaint["overdue"] is False
    session.expire_all()
    filed = session.scalars(
        select(OutboxEvent.payload).where(OutboxEvent.event_type == "ComplaintFiled")
    ).one()
    assert filed == {
        "complaint_id": complaint["id"],
        "store_id": mall.store_id,
        "order_id": order["id"],
        "owner_staff_id": mall.world.staff["store_manager"].id,
    }
    mine = client.get("/api/storefront/complaints", headers=mall.shopper.headers).json()
    assert [c["id"] for c in mine["items"]] == [complaint["id"]]


def test_a_complaint_about_someone_elses_order_or_an_unknown_store_is_refused(
    session: Session, client: TestClient, mall: Mall
) -> None:
    order = place(client, mall, [(mall.tee_s.id, 1)])
    bob = make_consumer(session, mall.world.brand, "bob")
    session.commit()
    before = row_counts(session)
    foreign = client.post(
        "/api/storefront/complaints",
        json={"store_id": mall.store_id, "order_id": order["id"], "subject": "x", "body": "y"},
        headers=bob.headers,
    )
    other_store = file(client, mall, store_id=mall.world.other_store.id, order_id=order["id"])
    unknown = file(client, mall, store_id=999_999)
    assert assert_problem(foreign, 404, "order_not_found")["field"] == "order_id"
    assert assert_problem(other_store, 404, "order_not_found")["field"] == "order_id"
    assert assert_problem(unknown, 404, "store_not_found")["field"] == "store_id"
    assert row_counts(session) == before


def test_staff_answer_and_close_and_the_overdue_list_follows(
    session: Session, client: TestClient, mall: Mall
) -> None:
    # given two complaints, one past its deadline
    late = file(client, mall).json()
    fresh = file(client, mall, subject="Dirty fitting room").json()
    make_overdue(session, late["id"])
    manager = mall.world.headers("store_manager")
    # then the overdue filter lists only the late one
    overdue = client.get("/api/complaints?overdue=true", headers=manager).json()
    assert [c["id"] for c in overdue["items"]] == [late["id"]]
    assert overdue["items"][0]["overdue"] is True
    listed = client.get("/api/complaints", headers=manager).json()
    assert [c["id"] for c in listed["items"]] == [late["id"], fresh["id"]]
    # when the manager answers the late one
    answered = client.post(
        f"/api/complaints/{late['id']}/answer",
        json={"response": "We are sorry; a voucher is on its way."},
        headers=manager,
    )
    # then it is answered and no longer overdue
    assert answered.status_code == 200, answered.text
    body = answered.json()
    assert (body["status"], body["response"], body["overdue"]) == (
        "answered",
        "We are sorry; a voucher is on its way.",
        False,
    )
    assert body["responded_at"] is not None
    assert client.get("/api/complaints?overdue=true", headers=manager).json()["total"] == 0
    session.expire_all()
    answered_event = session.scalars(
        select(OutboxEvent.payload).where(OutboxEvent.event_type == "ComplaintAnswered")
    ).one()
    assert answered_event["within_deadline"] is False
    # when it is closed, it cannot be answered again
    closed = client.post(f"/api/complaints/{late['id']}/close", json={}, headers=manager)
    assert closed.json()["status"] == "closed"
    before = row_counts(session)
    again = client.post(
        f"/api/complaints/{late['id']}/answer", json={"response": "More"}, headers=manager
    )
    assert_problem(again, 409, "complaint_already_closed")
    assert row_counts(session) == before
    actions = session.scalars(
        select(AuditEntry.action)
        .where(AuditEntry.object_type == "complaint")
        .order_by(AuditEntry.id)
    ).all()
    assert actions == ["complaint.answer", "complaint.close"]
    assert [h["kind"] for h in closed.json()["history"]] == ["filed", "answered", "closed"]


def test_overdue_complaints_are_reported_once(
    session: Session, client: TestClient, mall: Mall
) -> None:
    # given one overdue complaint and one on time
    late = file(client, mall).json()
    file(client, mall, subject="On time")
    deadline = make_overdue(session, late["id"])
    # when the job runs twice
    first = report_overdue_complaints(session)
    session.commit()
    second = report_overdue_complaints(session)
    session.commit()
    # then the late one was reported once
    assert [c.id for c in first] == [late["id"]]
    assert second == []
    reported = session.scalars(
        select(OutboxEvent.payload).where(OutboxEvent.event_type == "ComplaintOverdue")
    ).all()
    assert reported == [
        {
            "complaint_id": late["id"],
            "store_id": mall.store_id,
            "owner_staff_id": mall.world.staff["store_manager"].id,
            "respond_by": deadline.isoformat(),
        }
    ]


def test_a_complaint_can_be_reassigned_to_someone_who_may_answer_it(
    session: Session, client: TestClient, mall: Mall
) -> None:
    complaint = file(client, mall).json()
    manager = mall.world.headers("store_manager")
    other_manager = make_staff(
        session, mall.world.system, Role.STORE_MANAGER, store=mall.world.other_store
    )
    session.commit()
    before = row_counts(session)
    for staff_id in (mall.world.staff["guide"].id, other_manager.id, 999_999):
        refused = client.post(
            f"/api/complaints/{complaint['id']}/assign",
            json={"owner_staff_id": staff_id},
            headers=manager,
        )
        assert assert_problem(refused, 422, "owner_not_eligible")["field"] == "owner_staff_id"
    assert row_counts(session) == before
    region_manager = mall.world.staff["region_manager"].id
    assigned = client.post(
        f"/api/complaints/{complaint['id']}/assign",
        json={"owner_staff_id": region_manager},
        headers=manager,
    )
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["owner_staff_id"] == region_manager
    mine = client.get(
        f"/api/complaints?owner_staff_id={region_manager}",
        headers=mall.world.headers("region_manager"),
    ).json()
    assert [c["id"] for c in mine["items"]] == [complaint["id"]]


@pytest.mark.parametrize(
    ("who", "status", "code"),
    [
        ("guide", 403, "permission_denied"),
        ("franchisee_owner", 404, "complaint_not_found"),
        ("other_store_manager", 404, "complaint_not_found"),
    ],
)
def test_staff_outside_the_store_cannot_see_or_answer(
    session: Session, client: TestClient, mall: Mall, who: str, status: int, code: str
) -> None:
    complaint = file(client, mall).json()
    headers = (
        other_store_manager_headers(session, mall.world)
        if who == "other_store_manager"
        else mall.world.headers(who)
    )
    before = row_counts(session)
    assert_problem(client.get(f"/api/complaints/{complaint['id']}", headers=headers), status, code)
    answer = client.post(
        f"/api/complaints/{complaint['id']}/answer", json={"response": "Hi"}, headers=headers
    )
    assert_problem(answer, status, code)
    listed = client.get("/api/complaints", headers=headers)
    if status == 404:
        assert listed.json()["total"] == 0
    assert row_counts(session) == before


def test_the_overdue_job_reports_each_complaint_once(
    session: Session, client: TestClient, mall: Mall
) -> None:
    late = file(client, mall).json()
    make_overdue(session, late["id"])
    assert report_overdue_complaints_job(0) == 1
    assert report_overdue_complaints_job(0) == 0
