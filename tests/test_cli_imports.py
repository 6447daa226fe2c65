"""``siyu import stores|staff FILE --brand SLUG``: exit codes, output, all-or-nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from siyu.access.rules import system_actor
from siyu.audit.models import AuditEntry
from siyu.cli.main import app
from siyu.config import get_settings
from siyu.db.session import Database, set_database
from siyu.org.models import Store
from siyu.outbox.models import OutboxEvent
from siyu.staff.models import Staff
from tests.factories import make_brand, make_franchisee, make_region

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture
def cli(db: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    """A runner whose ``siyu`` talks to the test database."""
    monkeypatch.setenv("SIYU_DATABASE_URL", db.url)
    get_settings.cache_clear()
    set_database(db)
    try:
        yield CliRunner()
    finally:
        get_settings.cache_clear()


@pytest.fixture
def brand(session: Session) -> str:
    """A committed brand 'jinxiu' with the demo's regions and franchisees."""
    row = make_brand(session, "jinxiu")
    actor = system_actor(row.id, "test")
    for code in ("EAST", "SOUTH", "NORTH"):
        make_region(session, actor, code)
    for code in ("F-HENGYUAN", "F-NANYUE", "F-BEICHEN"):
        make_franchisee(session, actor, code)
    session.commit()
    return row.slug


def counts(session: Session) -> tuple[int, int, int, int]:
    session.commit()  # a fresh snapshot: see what the CLI committed
    return tuple(  # type: ignore[return-value]
        session.scalar(select(func.count()).select_from(model)) or 0
        for model in (Store, Staff, AuditEntry, OutboxEvent)
    )


def test_importing_the_example_files(cli: CliRunner, session: Session, brand: str) -> None:
    # when the example stores, then the example staff are imported
    stores = cli.invoke(app, ["import", "stores", str(EXAMPLES / "stores.csv"), "--brand", brand])
    staff = cli.invoke(app, ["import", "staff", str(EXAMPLES / "staff.csv"), "--brand", brand])
    # then
    assert (stores.exit_code, stores.stdout) == (
        0,
        "Imported stores into brand 'jinxiu': 6 created, 0 updated, 0 unchanged.\n",
    )
    assert (staff.exit_code, staff.stdout) == (
        0,
        "Imported staff into brand 'jinxiu': 11 created, 0 updated, 0 unchanged.\n",
    )
    assert counts(session)[:2] == (6, 11)


def test_reimporting_reports_everything_unchanged(
    cli: CliRunner, session: Session, brand: str
) -> None:
    # given the example stores imported
    args = ["import", "stores", str(EXAMPLES / "stores.csv"), "--brand", brand]
    cli.invoke(app, args)
    before = counts(session)
    # when imported again
    result = cli.invoke(app, args)
    # then
    assert (result.exit_code, result.stdout) == (
        0,
        "Imported stores into brand 'jinxiu': 0 created, 0 updated, 6 unchanged.\n",
    )
    assert counts(session) == before


def test_a_rejected_file_prints_every_problem_and_writes_nothing(
    cli: CliRunner, session: Session, brand: str, tmp_path: Path
) -> None:
    # given a file with two bad rows among good ones
    path = tmp_path / "stores.csv"
    path.write_text(
        "code,name,region,ownership,franchisee,opening_hours\n"
        "SH04,静安寺店,EAST,direct,,10:00-22:00\n"
        "HZ03,武林广场店,WEST,franchise,F-HENGYUAN,10:00-22:00\n"
        "GZ03,珠江新城店,SOUTH,franchise,,10:00-22:00\n",
        encoding="utf-8-sig",
    )
    before = counts(session)
    # when
    result = cli.invoke(app, ["import", "stores", str(path), "--brand", brand])
    # then
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "line 3, column region: no region with code 'WEST' in this brand; create the region "
        "first (imports do not create regions)",
        "line 4, column franchisee: a franchised store needs its franchisee: give the "
        "franchisee's code",
        "rejected: 2 problems found; nothing was imported. (stores.csv)",
    ]
    assert counts(session) == before


def test_dry_run_checks_the_file_and_writes_nothing(
    cli: CliRunner, session: Session, brand: str
) -> None:
    # given
    before = counts(session)
    # when
    result = cli.invoke(
        app,
        ["import", "stores", str(EXAMPLES / "stores.csv"), "--brand", brand, "--dry-run"],
    )
    # then
    assert (result.exit_code, result.stdout) == (
        0,
        "Dry run of stores for brand 'jinxiu': the file is good and would give 6 created, "
        "0 updated, 0 unchanged. Nothing was written.\n",
    )
    assert counts(session) == before


def test_dry_run_of_a_bad_file_exits_2(
    cli: CliRunner, session: Session, brand: str, tmp_path: Path
) -> None:
    path = tmp_path / "staff.csv"
    path.write_text("code,name,role\nE1,王丽,guide\n", encoding="utf-8")
    result = cli.invoke(app, ["import", "staff", str(path), "--brand", brand, "--dry-run"])
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == "line 2, column store: a guide needs a store code"


def test_a_file_that_is_not_utf8_is_refused(
    cli: CliRunner, session: Session, brand: str, tmp_path: Path
) -> None:
    path = tmp_path / "stores.csv"
    path.write_bytes("code,name,region\nSH04,静安寺店,EAST\n".encode("gbk"))
    result = cli.invoke(app, ["import", "stores", str(path), "--brand", brand])
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == (
        "line 2: the file is not UTF-8 (byte 0xbe cannot be read); save it as 'CSV UTF-8'"
    )


def test_an_unknown_brand_exits_2(cli: CliRunner, session: Session, brand: str) -> None:
    result = cli.invoke(app, ["import", "stores", str(EXAMPLES / "stores.csv"), "--brand", "nope"])
    assert result.exit_code == 2
    assert result.stderr == "error brand_not_found (brand): No brand with slug 'nope'.\n"
    assert counts(session)[0] == 0


def test_the_brand_option_is_required(cli: CliRunner) -> None:
    result = cli.invoke(app, ["import", "stores", str(EXAMPLES / "stores.csv")])
    assert result.exit_code == 2
    assert "--brand" in result.stderr
