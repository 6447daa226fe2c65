"""Bulk 布码 from the console (start a run, watch the progress bar, download) and from the CLI
(``siyu touchpoints store-codes``)."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from siyu.cli.main import app
from siyu.config import get_settings
from siyu.db.session import Database, set_database
from siyu.touchpoints import jobs
from siyu.touchpoints.models import StoreCodeRun
from tests.factories import World, build_world
from tests.helpers import row_counts
from tests.test_console_pages import HX, log_in

PAGE = "/console/touchpoints/store-codes"


@pytest.fixture
def world(session: Session) -> World:
    built = build_world(session)
    session.commit()
    return built


def _index(content: bytes) -> list[dict[str, str]]:
    archive = zipfile.ZipFile(io.BytesIO(content))
    return list(csv.DictReader(io.StringIO(archive.read("index.csv").decode("utf-8-sig"))))


def test_hq_starts_a_run_watches_it_and_downloads_the_zip(
    session: Session, client: TestClient, world: World
) -> None:
    # given HQ on the store-codes page
    csrf = log_in(client, world, "hq_operator")
    page = client.get(PAGE)
    assert page.status_code == 200
    assert 'href="/console/touchpoints/store-codes"' in page.text  # in the navigation
    assert '<option value="shelf_code" selected>' in page.text
    # when they start a run of counter codes
    started = client.post(
        PAGE + "/runs",
        data={"csrf_token": csrf, "kind": "counter_code", "medium": "link_qr"},
        follow_redirects=False,
    )
    # then they land on the run's page, whose progress bar polls itself
    assert started.status_code == 303, started.text
    run_url = started.headers["location"]
    run_id = int(run_url.rsplit("/", 1)[1])
    queued = client.get(run_url)
    assert 'hx-trigger="every 1s"' in queued.text
    assert f'hx-get="{PAGE}/runs/{run_id}/progress"' in queued.text
    assert "0 / 3 stores" in queued.text
    # when the job has run
    args = session.execute(text("SELECT args FROM procrastinate_jobs")).scalar_one()
    assert jobs.print_store_codes(**args) == "succeeded"
    # then the polled fragment shows it done, stops polling and offers the ZIP
    fragment = client.get(f"{PAGE}/runs/{run_id}/progress", headers=HX)
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert "hx-trigger" not in fragment.text
    assert "3 / 3 stores" in fragment.text
    assert '<progress max="3" value="3"' in fragment.text
    link = re.search(r'href="([^"]+/archive)"', fragment.text)
    assert link is not None
    download = client.get(link.group(1))
    assert download.headers["content-type"] == "application/zip"
    rows = _index(download.content)
    assert sorted(r["store_name"] for r in rows) == sorted(
        s.name for s in (world.direct_store, world.franchise_store, world.other_store)
    )
    # and the run is listed on the page
    assert f'href="{PAGE}/runs/{run_id}"' in client.get(PAGE).text


def test_a_refused_run_is_shown_on_the_form_and_writes_nothing(
    session: Session, client: TestClient, world: World
) -> None:
    csrf = log_in(client, world, "region_manager")
    before = row_counts(session)
    response = client.post(
        PAGE + "/runs",
        data={"csrf_token": csrf, "kind": "shelf_code", "region_id": str(world.region_b.id)},
    )
    assert response.status_code == 404
    assert f"Region {world.region_b.id} was not found." in response.text
    assert row_counts(session) == before


def test_a_guide_has_no_store_codes_page(client: TestClient, world: World) -> None:
    log_in(client, world, "guide")
    assert 'href="/console/touchpoints/store-codes"' not in client.get("/console").text
    assert client.get(PAGE).status_code == 403


# ---------------------------------------------------------------- CLI


@pytest.fixture
def cli(db: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("SIYU_DATABASE_URL", db.url)
    get_settings.cache_clear()
    set_database(db)
    try:
        yield CliRunner()
    finally:
        get_settings.cache_clear()


def test_the_cli_prints_every_store_of_the_brand(
    cli: CliRunner, session: Session, world: World, tmp_path: Path
) -> None:
    # when
    out = tmp_path / "shelf.zip"
    result = cli.invoke(
        app,
        [
            "touchpoints",
            "store-codes",
            "--brand",
            world.brand.slug,
            "--kind",
            "shelf_code",
            "--out",
            str(out),
        ],
    )
    # then the ZIP is written and the run recorded as done
    assert result.exit_code == 0, result.output + result.stderr
    assert "3 store(s)" in result.stdout
    assert str(out) in result.stdout
    assert [r["touchpoint_code"] for r in _index(out.read_bytes())] == sorted(
        f"{s.code}-shelf_code"
        for s in (world.direct_store, world.franchise_store, world.other_store)
    )
    session.commit()
    run = session.scalar(select(StoreCodeRun))
    assert run is not None
    assert (run.status, run.stores_done, run.stores_total) == ("succeeded", 3, 3)
    assert run.actor["label"] == "cli: touchpoints store-codes"
    assert session.execute(text("SELECT count(*) FROM procrastinate_jobs")).scalar_one() == 0


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--kind", "no_such_kind"], "unknown_touchpoint_kind"),
        (["--kind", "shelf_code", "--medium", "telex"], "invalid_input (medium)"),
    ],
)
def test_the_cli_refuses_with_exit_code_2(
    cli: CliRunner,
    session: Session,
    world: World,
    tmp_path: Path,
    arguments: list[str],
    message: str,
) -> None:
    out = tmp_path / "x.zip"
    result = cli.invoke(
        app,
        ["touchpoints", "store-codes", "--brand", world.brand.slug, "--out", str(out), *arguments],
    )
    assert result.exit_code == 2
    assert message in result.stderr
    assert not out.exists()
    session.commit()
    assert session.scalar(select(func.count()).select_from(StoreCodeRun)) == 0
