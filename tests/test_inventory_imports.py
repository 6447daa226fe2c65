"""POS stock snapshots: ``siyu import stock FILE --brand SLUG``, all-or-nothing, idempotent."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from siyu.access.service import actor_for_staff
from siyu.catalog.models import Sku
from siyu.cli.main import app
from siyu.config import get_settings
from siyu.core.csvfile import ImportRejected
from siyu.core.errors import PermissionDenied
from siyu.db.session import Database, set_database
from siyu.inventory.imports import import_stock
from siyu.inventory.models import StockLevel, StockMovement
from siyu.inventory.rules import HoldRequest
from siyu.inventory.service import reserve_stock
from siyu.org.models import StockLocation
from tests.factories import World, build_world
from tests.factories_inventory import location_of, make_sku, stock
from tests.helpers import row_counts


@pytest.fixture
def world(session: Session) -> World:
    built = build_world(session, "pos-brand")
    tee = make_sku(session, built.brand.id, "TEE")
    make_sku(session, built.brand.id, "CAP")
    store = location_of(session, built.direct_store)
    stock(session, built.system, store.id, tee, 5)
    reserve_stock(
        session,
        built.brand.id,
        [HoldRequest(store.id, tee.id, 2)],
        holder_kind="cart",
        holder_id=1,
        expires_at=None,
        actor_label="cart",
    )
    session.commit()
    return built


def _levels(session: Session) -> dict[tuple[str, str], tuple[int, int]]:
    session.expire_all()
    rows = session.execute(
        select(StockLevel.location_id, StockLevel.sku_id, StockLevel.on_hand, StockLevel.reserved)
    ).all()
    locations = {i: c for i, c in session.execute(select(StockLocation.id, StockLocation.code))}
    skus = {i: c for i, c in session.execute(select(Sku.id, Sku.code))}
    return {(locations[r[0]], skus[r[1]]): (r[2], r[3]) for r in rows}


def _csv(world: World, *lines: str) -> str:
    return "location,sku,on_hand\n" + "".join(
        line.format(store=world.direct_store.code, warehouse=world.warehouse.code) + "\n"
        for line in lines
    )


def test_a_snapshot_sets_on_hand_and_importing_it_again_changes_nothing(
    session: Session, world: World
) -> None:
    data = _csv(world, "{store},TEE,7", "{store},CAP,3", "{warehouse},TEE,0", "{warehouse},CAP,12")
    # when
    report = import_stock(session, world.system, data)
    session.commit()
    # then
    assert (report.created, report.updated, report.unchanged) == (2, 1, 1)
    store, warehouse = world.direct_store.code, world.warehouse.code
    assert _levels(session) == {
        (store, "TEE"): (7, 2),
        (store, "CAP"): (3, 0),
        (warehouse, "CAP"): (12, 0),
    }
    snapshots = session.execute(
        select(StockMovement.on_hand_delta)
        .where(StockMovement.kind == "pos_snapshot")
        .order_by(StockMovement.on_hand_delta)
    ).scalars()
    assert list(snapshots) == [2, 3, 12]
    # when the same file comes again
    before = row_counts(session)
    again = import_stock(session, world.system, data)
    session.commit()
    # then
    assert (again.created, again.updated, again.unchanged) == (0, 0, 4)
    assert row_counts(session) == before


def test_every_bad_line_is_reported_and_nothing_is_written(session: Session, world: World) -> None:
    before = row_counts(session)
    data = _csv(
        world,
        "{store},TEE,1",  # below the 2 held by a cart
        "NOWHERE,TEE,1",
        "{store},tee,1",
        "{store},CAP,-1",
        "{store},CAP,lots",
        "{warehouse},CAP,4",
        "{warehouse},CAP,5",
        "{warehouse},,5",
    )
    with pytest.raises(ImportRejected) as rejected:
        import_stock(session, world.system, data)
    session.rollback()
    assert [str(e) for e in rejected.value.errors] == [
        "line 3, column location: no stock location with code 'NOWHERE' in this brand",
        "line 4, column sku: no SKU with code 'tee' in this brand (did you mean 'TEE'?)",
        "line 5, column on_hand: must be a whole number between 0 and 1,000,000,000",
        "line 6, column on_hand: must be a whole number between 0 and 1,000,000,000",
        f"line 8, column sku: location '{world.warehouse.code}' and SKU 'CAP' appear twice in "
        "the file (also on line 7)",
        "line 9, column sku: a value is required",
    ]
    assert row_counts(session) == before
    # and once the row checks pass, the promised stock is checked
    with pytest.raises(ImportRejected) as promised:
        import_stock(session, world.system, _csv(world, "{warehouse},CAP,4", "{store},TEE,1"))
    session.rollback()
    assert [str(e) for e in promised.value.errors] == [
        "line 3, column on_hand: 2 units are promised to carts and orders (2 reserved, 0 "
        "allocated); on hand cannot go below that (it would be 1)"
    ]
    assert row_counts(session) == before


def test_a_store_manager_may_not_import_stock(session: Session, world: World) -> None:
    manager = actor_for_staff(world.staff["store_manager"])
    before = row_counts(session)
    with pytest.raises(PermissionDenied) as refused:
        import_stock(session, manager, _csv(world, "{store},CAP,1"))
    session.rollback()
    assert refused.value.extra == {"permission": "import:run"}
    assert row_counts(session) == before


@pytest.fixture
def cli(db: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("SIYU_DATABASE_URL", db.url)
    get_settings.cache_clear()
    set_database(db)
    try:
        yield CliRunner()
    finally:
        get_settings.cache_clear()


def test_siyu_import_stock_with_dry_run_then_for_real(
    cli: CliRunner, session: Session, world: World, tmp_path: Path
) -> None:
    file = tmp_path / "stock.csv"
    file.write_text(_csv(world, "{store},CAP,6"), encoding="utf-8")
    before = row_counts(session)
    dry = cli.invoke(app, ["import", "stock", str(file), "--brand", "pos-brand", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "would give 1 created, 0 updated, 0 unchanged" in dry.output
    assert row_counts(session) == before
    real = cli.invoke(app, ["import", "stock", str(file), "--brand", "pos-brand"])
    assert real.exit_code == 0, real.output
    assert "Imported stock into brand 'pos-brand': 1 created" in real.output
    assert _levels(session)[(world.direct_store.code, "CAP")] == (6, 0)
    bad = tmp_path / "bad.csv"
    bad.write_text(_csv(world, "{store},CAP,x"), encoding="utf-8")
    rejected = cli.invoke(app, ["import", "stock", str(bad), "--brand", "pos-brand"])
    assert rejected.exit_code == 2
