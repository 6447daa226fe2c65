"""布码 in bulk: one code per store as a ZIP ready to print, repeatable, within scope."""

from __future__ import annotations

import csv
import io
import zipfile
from xml.dom import minidom

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.touchpoints.models import Touchpoint
from tests.factories import World, build_world
from tests.helpers import assert_problem, row_counts


@pytest.fixture
def world(session: Session) -> World:
    built = build_world(session)
    session.commit()
    return built


def _index(response_content: bytes) -> list[dict[str, str]]:
    archive = zipfile.ZipFile(io.BytesIO(response_content))
    text = archive.read("index.csv").decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def test_hq_prints_a_shelf_code_for_every_store(
    session: Session, client: TestClient, world: World
) -> None:
    # when
    response = client.post(
        "/api/touchpoints/store-codes",
        json={"kind": "shelf_code"},
        headers=world.headers("hq_operator"),
    )
    # then one sheet (with the store's name), one PNG and one index row per store
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    stores = sorted(
        [world.direct_store, world.franchise_store, world.other_store], key=lambda s: s.code
    )
    rows = _index(response.content)
    assert [row["store_code"] for row in rows] == [s.code for s in stores]
    assert [row["touchpoint_code"] for row in rows] == [f"{s.code}-shelf_code" for s in stores]
    first = f"sheets/{stores[0].code}_{stores[0].code}-shelf_code.svg"
    sheet = archive.read(first).decode("utf-8")
    minidom.parseString(sheet.encode())  # noqa: S318 - our own output
    assert stores[0].name in sheet
    png = archive.read(f"png/{stores[0].code}_{stores[0].code}-shelf_code.png")
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert all(len(row["scene_key"]) <= 32 and len(row["wecom_state"]) <= 30 for row in rows)


def test_a_second_run_prints_the_same_codes_and_creates_nothing(
    session: Session, client: TestClient, world: World
) -> None:
    # given a first run
    first = client.post(
        "/api/touchpoints/store-codes",
        json={"kind": "counter_code"},
        headers=world.headers("hq_operator"),
    )
    before = row_counts(session)
    # when
    second = client.post(
        "/api/touchpoints/store-codes",
        json={"kind": "counter_code"},
        headers=world.headers("hq_operator"),
    )
    # then
    assert _index(second.content) == _index(first.content)
    assert row_counts(session) == before


def test_a_store_manager_prints_only_their_store(
    session: Session, client: TestClient, world: World
) -> None:
    response = client.post(
        "/api/touchpoints/store-codes",
        json={"kind": "poster"},
        headers=world.headers("store_manager"),
    )
    assert [row["store_code"] for row in _index(response.content)] == [world.direct_store.code]


@pytest.mark.parametrize(
    ("who", "body", "status", "code"),
    [
        ("guide", {"kind": "shelf_code"}, 403, "permission_denied"),
        ("region_manager", {"kind": "shelf_code", "store_ids": ["OTHER"]}, 404, "store_not_found"),
        ("hq_operator", {"kind": "no_such_kind"}, 422, None),
    ],
)
def test_refusals_print_nothing_and_write_nothing(
    session: Session,
    client: TestClient,
    world: World,
    who: str,
    body: dict[str, object],
    status: int,
    code: str | None,
) -> None:
    # given
    before = row_counts(session)
    if body.get("store_ids") == ["OTHER"]:
        body = {**body, "store_ids": [world.other_store.id]}
    # when
    response = client.post("/api/touchpoints/store-codes", json=body, headers=world.headers(who))
    # then
    assert response.status_code == status, response.text
    if code is not None:
        assert_problem(response, status, code)
    assert row_counts(session) == before
    assert session.scalar(select(func.count()).select_from(Touchpoint)) == 0
