"""The demo brand and the operator commands (db, brand, token)."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from siyu.access.rules import Role
from siyu.brands.models import Brand
from siyu.cli.main import app
from siyu.db.session import Database
from siyu.demo.seed import DEMO_PASSWORD, DEMO_SLUG, seed_demo
from siyu.org.models import StockLocation, Store
from siyu.staff.models import Staff

runner = CliRunner()


def test_the_demo_brand_has_the_promised_shape(db: Database) -> None:
    # when
    with db.unit_of_work() as session:
        result = seed_demo(session)
    # then
    assert result.created is True
    assert (result.regions, result.stores, result.franchise_stores, result.warehouses) == (
        3,
        24,
        9,
        2,
    )
    with db.sessions() as session:
        roles = Counter(session.scalars(select(Staff.role)).all())
        guides_per_store = Counter(
            session.scalars(select(Staff.store_id).where(Staff.role == "guide")).all()
        )
        assert roles[Role.BRAND_ADMIN.value] == 1
        assert roles[Role.HQ_OPERATOR.value] == 2
        assert roles[Role.REGION_MANAGER.value] == 3
        assert roles[Role.FRANCHISEE_OWNER.value] == 3
        assert roles[Role.STORE_MANAGER.value] == 24
        assert len(guides_per_store) == 24
        assert min(guides_per_store.values()) >= 4
        assert max(guides_per_store.values()) <= 8
        assert session.scalar(select(func.count()).select_from(StockLocation)) == 26


def test_seeding_again_reuses_the_data(db: Database) -> None:
    # given
    with db.unit_of_work() as session:
        seed_demo(session)
    # when
    with db.unit_of_work() as session:
        again = seed_demo(session)
    # then
    assert again.created is False
    assert again.stores == 24
    with db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Brand)) == 1
        assert session.scalar(select(func.count()).select_from(Store)) == 24


def test_reset_starts_over(db: Database) -> None:
    # given
    with db.unit_of_work() as session:
        first_id = seed_demo(session).stores and session.scalar(select(Brand.id))
    # when
    with db.unit_of_work() as session:
        result = seed_demo(session, reset=True)
    # then
    assert result.created is True
    with db.sessions() as session:
        brand_ids = session.scalars(select(Brand.id)).all()
        assert len(brand_ids) == 1
        assert brand_ids[0] != first_id
        assert session.scalar(select(func.count()).select_from(Store)) == 24


def test_demo_no_serve_seeds_and_exits(db: Database) -> None:
    # when
    result = runner.invoke(app, ["demo", "--no-serve"])
    # then
    assert result.exit_code == 0, result.output
    assert f"Seeded demo brand {DEMO_SLUG}: 3 regions, 24 stores (9 franchised)" in result.output
    assert DEMO_PASSWORD in result.output


def test_db_current_reports_the_head(db: Database) -> None:
    from siyu.db.migrate import head_revision

    head = head_revision(db.url)
    result = runner.invoke(app, ["db", "current"])
    assert result.exit_code == 0, result.output
    assert f"current: {head}   head: {head}" in result.output
    assert "up to date" in result.output


def test_brand_create_makes_a_brand_with_its_admin(db: Database, session: Session) -> None:
    # when
    result = runner.invoke(
        app,
        ["brand", "create", "acme", "Acme Retail", "--admin-password", "a-long-password-1"],
    )
    # then
    assert result.exit_code == 0, result.output
    admin = session.scalar(select(Staff).join(Brand).where(Brand.slug == "acme"))
    assert admin is not None
    assert (admin.login, admin.role) == ("admin", "brand_admin")


def test_brand_create_refuses_a_bad_slug_and_writes_nothing(db: Database, session: Session) -> None:
    result = runner.invoke(
        app, ["brand", "create", "Bad Slug", "X", "--admin-password", "a-long-password-1"]
    )
    assert result.exit_code == 2
    assert "invalid_brand_slug" in result.output
    assert session.scalar(select(func.count()).select_from(Brand)) == 0


def test_token_create_prints_a_working_integration_token(db: Database) -> None:
    # given
    runner.invoke(app, ["brand", "create", "acme", "Acme", "--admin-password", "a-long-password-1"])
    # when
    result = runner.invoke(
        app, ["token", "create", "--brand", "acme", "--name", "erp", "--scope", "org:read"]
    )
    # then
    assert result.exit_code == 0, result.output
    assert result.output.strip().startswith("siyu_")
