"""The loader's backlog: what staff see of accepted events not loaded yet, and handing batches
set aside back to the loader."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from siyu.access.rules import ROLE_PERMISSIONS, Permission, Role
from siyu.audit.models import AuditEntry
from siyu.db.session import Database
from siyu.jobs.runner import BackgroundWorkers
from siyu.outbox.models import OutboxEvent
from siyu.tracking.models import TrackingBatch
from tests.factories import World, build_world
from tests.factories_tracking import (
    event,
    load_events,
    make_write_key,
    post_events,
    stored_events,
    write_key_headers,
)
from tests.helpers import assert_problem, row_counts

REFUSED_ROLES = [
    role.value for role in Role if Permission.TRACKING_WRITE not in ROLE_PERMISSIONS[role]
]


@pytest.fixture
def world(session: Session) -> World:
    world = build_world(session)
    session.commit()
    return world


@pytest.fixture
def key(session: Session, world: World) -> str:
    _, plain = make_write_key(session, world.system)
    session.commit()
    return plain


def set_aside_all(session: Session, brand_id: int, error: str) -> None:
    session.execute(
        update(TrackingBatch)
        .where(TrackingBatch.brand_id == brand_id)
        .values(failed_at=text("now()"), error=error)
    )
    session.commit()


def test_the_backlog_shows_batches_waiting_until_the_loader_runs(
    session: Session, client: TestClient, world: World, key: str
) -> None:
    # given two accepted batches not loaded yet, and another brand's batch
    post_events(client, write_key_headers(key), [event(), event()], load=False)
    post_events(client, write_key_headers(key), [event()], load=False)
    other = build_world(session)
    _, other_key = make_write_key(session, other.system)
    session.commit()
    post_events(client, write_key_headers(other_key), [event()], load=False)
    # when an HQ admin reads the backlog
    backlog = client.get("/api/tracking/backlog", headers=world.headers("brand_admin")).json()
    # then the brand's own batches are counted, with the oldest's time
    oldest = session.scalar(
        select(TrackingBatch.received_at)
        .where(TrackingBatch.brand_id == world.brand.id)
        .order_by(TrackingBatch.id)
        .limit(1)
    )
    assert oldest is not None
    assert backlog == {
        "batches_waiting": 2,
        "events_waiting": 3,
        "oldest_waiting_received_at": oldest.isoformat().replace("+00:00", "Z"),
        "batches_set_aside": 0,
        "events_set_aside": 0,
        "set_aside": [],
    }
    # and once loaded nothing waits
    load_events(client.app.state.database)  # type: ignore[attr-defined]
    after = client.get("/api/tracking/backlog", headers=world.headers("brand_admin")).json()
    assert (after["batches_waiting"], after["events_waiting"]) == (0, 0)
    assert after["oldest_waiting_received_at"] is None


def test_set_aside_batches_are_listed_and_handed_back_to_the_loader(
    session: Session, client: TestClient, world: World, key: str
) -> None:
    # given a batch the loader set aside
    post_events(client, write_key_headers(key), [event(event_id="x-1"), event()], load=False)
    set_aside_all(session, world.brand.id, "insert or update violates foreign key constraint")
    load_events(client.app.state.database)  # type: ignore[attr-defined]
    backlog = client.get("/api/tracking/backlog", headers=world.headers("brand_admin")).json()
    assert (backlog["batches_set_aside"], backlog["events_set_aside"]) == (1, 2)
    assert [(b["event_count"], b["error"]) for b in backlog["set_aside"]] == [
        (2, "insert or update violates foreign key constraint")
    ]
    assert stored_events(session, world.brand.id) == []
    # when an HQ admin hands it back
    retried = client.post("/api/tracking/backlog/retry", headers=world.headers("brand_admin"))
    # then it is waiting again, audited, published, and the loader job is queued
    assert retried.json() == {"batches": 1, "events": 2}
    session.expire_all()
    assert (
        session.scalar(select(AuditEntry.action).where(AuditEntry.action == "tracking_batch.retry"))
        == "tracking_batch.retry"
    )
    assert session.scalars(
        select(OutboxEvent.payload).where(OutboxEvent.event_type == "TrackingBatchesRetried")
    ).all() == [{"brand_id": world.brand.id, "batches": 1, "events": 2}]
    assert (
        session.execute(
            text(
                "SELECT count(*) FROM procrastinate_jobs"
                " WHERE task_name = 'siyu:load_tracking_events' AND status = 'todo'"
            )
        ).scalar_one()
        >= 1
    )
    # and the loader stores its events
    load_events(client.app.state.database)  # type: ignore[attr-defined]
    assert [r.event_id for r in stored_events(session, world.brand.id)][:1] == ["x-1"]
    assert len(stored_events(session, world.brand.id)) == 2


def test_retrying_with_nothing_set_aside_changes_nothing(
    session: Session, client: TestClient, world: World
) -> None:
    before = row_counts(session)
    retried = client.post("/api/tracking/backlog/retry", headers=world.headers("brand_admin"))
    assert retried.json() == {"batches": 0, "events": 0}
    assert row_counts(session) == before


@pytest.mark.parametrize("role", REFUSED_ROLES)
def test_roles_without_tracking_write_see_and_retry_nothing(
    session: Session, client: TestClient, world: World, key: str, role: str
) -> None:
    # given a set-aside batch
    post_events(client, write_key_headers(key), [event()], load=False)
    set_aside_all(session, world.brand.id, "refused")
    before = row_counts(session)
    # when a role without tracking:write asks
    seen = client.get("/api/tracking/backlog", headers=world.headers(role))
    retried = client.post("/api/tracking/backlog/retry", headers=world.headers(role))
    # then both are refused and nothing changed
    assert_problem(seen, 403, "permission_denied")
    assert_problem(retried, 403, "permission_denied")
    assert row_counts(session) == before


def test_the_touchpoint_report_shows_the_backlog_and_loads_set_aside_batches_again(
    session: Session, client: TestClient, world: World, key: str
) -> None:
    from tests.test_console_pages import log_in

    # given one batch waiting and one set aside
    post_events(client, write_key_headers(key), [event(), event()], load=False)
    set_aside_all(session, world.brand.id, "value too long")
    post_events(client, write_key_headers(key), [event()], load=False)
    csrf = log_in(client, world, "brand_admin")
    # when an HQ admin opens the touchpoint report
    page = client.get("/console/reports/touchpoints")
    # then both are shown, with the reason
    assert page.status_code == 200
    assert "1 accepted event in 1 batch not counted yet" in page.text
    assert "2 events in 1 batch the loader could not store" in page.text
    assert "Latest reason: value too long" in page.text
    # and the button hands the set-aside batch back to the loader
    retried = client.post(
        "/console/reports/touchpoints/backlog/retry",
        data={"csrf_token": csrf},
        follow_redirects=True,
    )
    assert "1 set-aside batch handed back to the loader." in retried.text
    assert "3 accepted events in 2 batches not counted yet" in retried.text
    assert "could not store" not in retried.text


def test_the_report_page_does_not_show_the_backlog_to_roles_without_tracking_write(
    session: Session, client: TestClient, world: World, key: str
) -> None:
    from tests.test_console_pages import log_in

    post_events(client, write_key_headers(key), [event()], load=False)
    csrf = log_in(client, world, "region_manager")
    page = client.get("/console/reports/touchpoints")
    assert page.status_code == 200 and "not counted yet" not in page.text
    before = row_counts(session)
    refused = client.post("/console/reports/touchpoints/backlog/retry", data={"csrf_token": csrf})
    assert refused.status_code == 403
    assert row_counts(session) == before


def test_the_in_process_worker_loads_posted_events_by_itself(
    db: Database, session: Session, client: TestClient, world: World, key: str
) -> None:
    # given the background workers siyu serve and siyu demo run
    workers = BackgroundWorkers(db, concurrency=1)
    workers.start()
    try:
        # when a storefront posts events and nobody runs the loader by hand
        post_events(
            client,
            write_key_headers(key),
            [event("visit", event_id="bg-1"), event("scan", event_id="bg-2", scene_key="nokey")],
            load=False,
        )
        # then the worker's loader job stores them (waited for, at most 20 s)
        deadline = time.monotonic() + 20
        while len(stored_events(session, world.brand.id)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        workers.stop()
    assert [(r.event_id, r.scene_key) for r in stored_events(session, world.brand.id)] == [
        ("bg-1", None),
        ("bg-2", "nokey"),
    ]
    backlog = client.get("/api/tracking/backlog", headers=world.headers("brand_admin")).json()
    assert (backlog["batches_waiting"], backlog["batches_set_aside"]) == (0, 0)
