"""Bulk 布码 runs: started by a request (202), printed by a procrastinate job in small
transactions with progress, the ZIP kept on the run; scope, refusals and failures."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from xml.dom import minidom

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from siyu.core.clock import utc_now
from siyu.db.session import Database
from siyu.touchpoints import jobs, runs
from siyu.touchpoints.models import StoreCodeRun, Touchpoint, TouchpointCode, TouchpointCodeImage
from siyu.wechat.sandbox import SANDBOX_MINI_PROGRAM
from tests.factories import World, build_world
from tests.helpers import assert_problem, row_counts

RUNS = "/api/touchpoints/store-codes/runs"


@pytest.fixture
def world(session: Session) -> World:
    built = build_world(session)
    session.commit()
    return built


@pytest.fixture(autouse=True)
def sandbox() -> Iterator[None]:
    SANDBOX_MINI_PROGRAM.reset()
    yield
    SANDBOX_MINI_PROGRAM.reset()


def _queued_jobs(session: Session) -> list[tuple[str, str, dict[str, Any]]]:
    session.commit()
    rows = session.execute(
        text("SELECT task_name, queue_name, args FROM procrastinate_jobs ORDER BY id")
    )
    return [(row.task_name, row.queue_name, row.args) for row in rows]


def _run_job(session: Session) -> str:
    """Run the queued job the way a worker would: the task with its deferred arguments."""
    [(task_name, _, args)] = _queued_jobs(session)
    assert task_name == "siyu:print_store_codes"
    status: str = jobs.print_store_codes(**args)
    session.execute(text("DELETE FROM procrastinate_jobs"))
    session.commit()
    return status


def _start(client: TestClient, world: World, who: str, **body: Any) -> dict[str, Any]:
    response = client.post(RUNS, json={"kind": "shelf_code", **body}, headers=world.headers(who))
    assert response.status_code == 202, response.text
    started: dict[str, Any] = response.json()
    return started


def _index(content: bytes) -> list[dict[str, str]]:
    archive = zipfile.ZipFile(io.BytesIO(content))
    return list(csv.DictReader(io.StringIO(archive.read("index.csv").decode("utf-8-sig"))))


def _files(content: bytes) -> dict[str, bytes]:
    archive = zipfile.ZipFile(io.BytesIO(content))
    return {name: archive.read(name) for name in archive.namelist()}


def _count(session: Session, model: Any) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_a_run_is_queued_then_printed_by_its_job(
    session: Session, client: TestClient, world: World
) -> None:
    # when HQ starts a run for every store
    response = client.post(RUNS, json={"kind": "shelf_code"}, headers=world.headers("hq_operator"))
    # then it answers at once with the queued run and a job, having printed nothing yet
    assert response.status_code == 202, response.text
    run = response.json()
    assert response.headers["location"] == f"{RUNS}/{run['id']}"
    assert {k: run[k] for k in ("status", "stores_done", "stores_total", "archive_url")} == {
        "status": "queued",
        "stores_done": 0,
        "stores_total": 3,
        "archive_url": None,
    }
    assert _queued_jobs(session) == [
        ("siyu:print_store_codes", "touchpoints", {"brand_id": world.brand.id, "run_id": run["id"]})
    ]
    assert _count(session, Touchpoint) == 0
    # when the worker runs the job
    assert _run_job(session) == "succeeded"
    # then the run has succeeded with every store done and a ZIP to download
    done = client.get(f"{RUNS}/{run['id']}", headers=world.headers("hq_operator")).json()
    assert done["status"] == "succeeded"
    assert (done["stores_done"], done["stores_total"]) == (3, 3)
    assert done["archive_url"] == f"/api{RUNS[4:]}/{run['id']}/archive"
    assert done["started_at"] is not None and done["finished_at"] is not None
    download = client.get(done["archive_url"], headers=world.headers("hq_operator"))
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/zip"
    assert len(download.content) == done["archive_bytes"]
    # and the ZIP is today's: per store a sheet with its name and a PNG, and the index
    stores = sorted(
        [world.direct_store, world.franchise_store, world.other_store], key=lambda s: s.code
    )
    rows = _index(download.content)
    assert [r["store_code"] for r in rows] == [s.code for s in stores]
    assert [r["store_name"] for r in rows] == [s.name for s in stores]
    assert [r["touchpoint_code"] for r in rows] == [f"{s.code}-shelf_code" for s in stores]
    assert {r["kind"] for r in rows} == {"货架码"}
    assert {r["medium"] for r in rows} == {"link_qr"}
    assert all(r["url"] == "https://mp.example/launch?scene=" + r["scene_key"] for r in rows)
    archive = zipfile.ZipFile(io.BytesIO(download.content))
    for store in stores:
        stem = f"{store.code}_{store.code}-shelf_code"
        sheet = archive.read(f"sheets/{stem}.svg").decode()
        minidom.parseString(sheet.encode())  # noqa: S318 - our own output
        assert f">{store.name}<" in sheet
        assert archive.read(f"png/{stem}.png").startswith(b"\x89PNG\r\n\x1a\n")
    assert len(archive.namelist()) == 2 * len(stores) + 1
    assert _count(session, Touchpoint) == 3


def test_progress_is_committed_batch_by_batch(
    db: Database,
    session: Session,
    client: TestClient,
    world: World,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given a run of three stores printed one store per transaction
    monkeypatch.setattr(jobs, "BATCH_STORES", 1)
    run = _start(client, world, "hq_operator")
    seen: list[tuple[int, int, str, int]] = []

    def watch(done: int, total: int) -> None:
        # what anyone else sees while the job goes on: committed progress
        body = client.get(f"{RUNS}/{run['id']}", headers=world.headers("hq_operator")).json()
        seen.append((done, total, body["status"], body["stores_done"]))

    # when the job runs
    status = jobs.execute_store_code_run(db, world.brand.id, run["id"], on_progress=watch)
    # then each store's progress was visible as it was printed, then the run succeeded
    assert status == "succeeded"
    assert seen == [(1, 3, "running", 1), (2, 3, "running", 2), (3, 3, "running", 3)]
    final = client.get(f"{RUNS}/{run['id']}", headers=world.headers("hq_operator")).json()
    assert (final["status"], final["stores_done"]) == ("succeeded", 3)


def test_a_store_managers_run_holds_only_their_store_and_only_they_and_hq_see_it(
    session: Session, client: TestClient, world: World
) -> None:
    # given a run the store manager started and printed
    run = _start(client, world, "store_manager", kind="poster")
    assert run["stores_total"] == 1
    _run_job(session)
    url = f"{RUNS}/{run['id']}"
    # then its ZIP holds their store only
    download = client.get(url + "/archive", headers=world.headers("store_manager"))
    assert [r["store_code"] for r in _index(download.content)] == [world.direct_store.code]
    # and HQ sees it, their region manager does not, nor does another brand
    other = build_world(session)
    session.commit()
    assert client.get(url, headers=world.headers("brand_admin")).status_code == 200
    for headers in (world.headers("region_manager"), other.headers("brand_admin")):
        assert_problem(client.get(url, headers=headers), 404, "store_code_run_not_found")
        assert_problem(
            client.get(url + "/archive", headers=headers), 404, "store_code_run_not_found"
        )
    listed = client.get(RUNS, headers=world.headers("region_manager")).json()
    assert listed == []
    assert [r["id"] for r in client.get(RUNS, headers=world.headers("hq_operator")).json()] == [
        run["id"]
    ]


@pytest.mark.parametrize(
    ("who", "body", "status", "code"),
    [
        ("guide", {"kind": "shelf_code"}, 403, "permission_denied"),
        ("franchisee_owner", {"kind": "shelf_code"}, 403, "permission_denied"),
        ("hq_operator", {"kind": "no_such_kind"}, 422, "unknown_touchpoint_kind"),
        ("region_manager", {"kind": "shelf_code", "store_ids": "OTHER"}, 404, "store_not_found"),
        ("region_manager", {"kind": "shelf_code", "region_id": "B"}, 404, "region_not_found"),
        ("hq_operator", {"kind": "shelf_code", "page": "pages/x"}, 422, "page_not_applicable"),
        ("hq_operator", {"kind": "shelf_code", "medium": "telex"}, 422, "validation_error"),
    ],
)
def test_refused_runs_write_nothing_and_queue_nothing(
    session: Session,
    client: TestClient,
    world: World,
    who: str,
    body: dict[str, Any],
    status: int,
    code: str,
) -> None:
    # given
    if body.get("store_ids") == "OTHER":
        body = {**body, "store_ids": [world.other_store.id]}
    if body.get("region_id") == "B":
        body = {**body, "region_id": world.region_b.id}
    before = row_counts(session)
    # when
    response = client.post(RUNS, json=body, headers=world.headers(who))
    # then
    assert_problem(response, status, code)
    assert row_counts(session) == before
    assert _queued_jobs(session) == []


def test_a_region_narrows_the_run(session: Session, client: TestClient, world: World) -> None:
    run = _start(client, world, "hq_operator", region_id=world.region_a.id)
    _run_job(session)
    content = client.get(
        f"{RUNS}/{run['id']}/archive", headers=world.headers("hq_operator")
    ).content
    assert {r["store_code"] for r in _index(content)} == {
        world.direct_store.code,
        world.franchise_store.code,
    }


def test_the_archive_is_not_ready_before_the_run_succeeded(
    session: Session, client: TestClient, world: World
) -> None:
    run = _start(client, world, "hq_operator")
    response = client.get(f"{RUNS}/{run['id']}/archive", headers=world.headers("hq_operator"))
    assert_problem(response, 409, "archive_not_ready")


def test_a_second_run_prints_the_same_codes_and_creates_nothing(
    session: Session, client: TestClient, world: World
) -> None:
    # given a first run printed
    first = _start(client, world, "hq_operator", kind="counter_code")
    _run_job(session)
    counts = [_count(session, m) for m in (Touchpoint, TouchpointCode, TouchpointCodeImage)]
    # when the same run is printed again
    second = _start(client, world, "hq_operator", kind="counter_code")
    _run_job(session)
    # then it has the same codes and created no touchpoint, code or image
    headers = world.headers("hq_operator")
    one = client.get(f"{RUNS}/{first['id']}/archive", headers=headers).content
    two = client.get(f"{RUNS}/{second['id']}/archive", headers=headers).content
    assert _index(one) == _index(two)
    assert _files(one) == _files(two)  # sheets and PNGs too
    assert [_count(session, m) for m in (Touchpoint, TouchpointCode, TouchpointCodeImage)] == counts


def test_a_mini_program_run_asks_wechat_once_per_code(
    session: Session, client: TestClient, world: World
) -> None:
    # given a first mini-program run of the three stores
    first = _start(client, world, "hq_operator", medium="mini_program_code")
    assert _run_job(session) == "succeeded"
    # when WeChat would draw no more codes this minute and the run is repeated
    SANDBOX_MINI_PROGRAM.code_rate_limit_per_minute = 0
    second = _start(client, world, "hq_operator", medium="mini_program_code")
    # then it still succeeds: the kept images are printed
    assert _run_job(session) == "succeeded"
    headers = world.headers("hq_operator")
    content = client.get(f"{RUNS}/{second['id']}/archive", headers=headers).content
    rows = _index(content)
    assert rows == _index(client.get(f"{RUNS}/{first['id']}/archive", headers=headers).content)
    assert all(r["url"] == "pages/index/index?scene=" + r["scene_key"] for r in rows)
    assert {r["medium"] for r in rows} == {"mini_program_code"}
    sheet = zipfile.ZipFile(io.BytesIO(content)).read(
        f"sheets/{rows[0]['store_code']}_{rows[0]['touchpoint_code']}.svg"
    )
    assert b"data:image/png;base64," in sheet
    minidom.parseString(sheet)  # noqa: S318 - our own output


def test_a_run_wechat_refuses_fails_with_the_reason_and_keeps_nothing_half_printed(
    session: Session, client: TestClient, world: World
) -> None:
    # given WeChat drawing no mini-program code this minute
    SANDBOX_MINI_PROGRAM.code_rate_limit_per_minute = 0
    run = _start(client, world, "hq_operator", medium="mini_program_code")
    # when the job runs
    assert _run_job(session) == "failed"
    # then the run failed with WeChat's reason, nothing printed and no ZIP
    body = client.get(f"{RUNS}/{run['id']}", headers=world.headers("hq_operator")).json()
    assert body["status"] == "failed"
    assert body["stores_done"] == 0
    assert body["archive_url"] is None
    assert "5,000 mini-program codes a minute" in body["error"]
    assert _count(session, Touchpoint) == 0
    assert_problem(
        client.get(f"{RUNS}/{run['id']}/archive", headers=world.headers("hq_operator")),
        409,
        "archive_not_ready",
    )


def test_a_job_delivered_twice_prints_once(
    db: Database, session: Session, client: TestClient, world: World
) -> None:
    run = _start(client, world, "hq_operator")
    assert _run_job(session) == "succeeded"
    assert jobs.execute_store_code_run(db, world.brand.id, run["id"]) == "skipped"
    assert jobs.execute_store_code_run(db, world.brand.id, 999_999) == "skipped"


def test_old_archives_are_dropped_and_the_run_says_so(
    session: Session, client: TestClient, world: World
) -> None:
    # given a run that finished 31 days ago, and one that finished today
    old = _start(client, world, "hq_operator")
    _run_job(session)
    recent = _start(client, world, "hq_operator", kind="poster")
    _run_job(session)
    session.execute(
        update(StoreCodeRun)
        .where(StoreCodeRun.id == old["id"])
        .values(finished_at=utc_now() - runs.ARCHIVE_RETENTION - timedelta(days=1))
    )
    session.commit()
    # when the maintenance job runs
    assert jobs.expire_store_code_archives(0) == 1
    # then the old ZIP is gone, the recent one kept
    headers = world.headers("hq_operator")
    assert_problem(
        client.get(f"{RUNS}/{old['id']}/archive", headers=headers), 409, "archive_expired"
    )
    assert client.get(f"{RUNS}/{old['id']}", headers=headers).json()["archive_url"] is None
    assert client.get(f"{RUNS}/{recent['id']}/archive", headers=headers).status_code == 200


def test_the_synchronous_endpoint_sends_large_scopes_to_runs(
    session: Session, client: TestClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runs, "SYNC_STORE_LIMIT", 2)
    before = row_counts(session)
    response = client.post(
        "/api/touchpoints/store-codes",
        json={"kind": "shelf_code"},
        headers=world.headers("hq_operator"),
    )
    assert assert_problem(response, 422, "too_many_stores")["field"] == "store_ids"
    assert row_counts(session) == before
