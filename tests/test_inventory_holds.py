"""Holds for carts and orders: reserve, allocate, release, fulfil, restock; never oversold,
all or nothing, idempotent; expiry and the reconciler."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from siyu.catalog.models import Sku
from siyu.cli.main import app as cli_app
from siyu.config import get_settings
from siyu.core.clock import utc_now
from siyu.db.session import Database, set_database
from siyu.inventory.errors import InsufficientStock, InvalidQuantity
from siyu.inventory.jobs import expire_reservations_job, reconcile_stock_job
from siyu.inventory.maintenance import expire_reservations, reconcile_stock
from siyu.inventory.models import StockHold, StockLevel, StockMovement
from siyu.inventory.rules import HoldRequest
from siyu.inventory.service import (
    allocate_holds,
    available_quantities,
    fulfil_holds,
    release_holds,
    reserve_stock,
    restock,
)
from siyu.outbox.models import OutboxEvent
from tests.factories import build_world, make_brand
from tests.factories_inventory import location_of, make_sku, stock
from tests.helpers import row_counts


@dataclass
class Stocked:
    brand_id: int
    store: int  # the direct store's stock location
    warehouse: int
    tee: Sku
    cap: Sku


@pytest.fixture
def stocked(session: Session) -> Stocked:
    """10 tees and 4 caps at the store, 20 tees at the warehouse; committed."""
    world = build_world(session)
    tee = make_sku(session, world.brand.id, "TEE")
    cap = make_sku(session, world.brand.id, "CAP")
    store = location_of(session, world.direct_store).id
    stock(session, world.system, store, tee, 10)
    stock(session, world.system, store, cap, 4)
    stock(session, world.system, world.warehouse.id, tee, 20)
    session.commit()
    return Stocked(world.brand.id, store, world.warehouse.id, tee, cap)


def _level(session: Session, location_id: int, sku: Sku) -> tuple[int, int, int]:
    session.expire_all()
    row = session.execute(
        select(StockLevel.on_hand, StockLevel.reserved, StockLevel.allocated).where(
            StockLevel.location_id == location_id, StockLevel.sku_id == sku.id
        )
    ).one()
    return row[0], row[1], row[2]


def _reserve(
    session: Session,
    s: Stocked,
    requests: list[HoldRequest],
    *,
    kind: str = "order",
    holder: int = 1,
    expires_in: timedelta | None = None,
) -> list[StockHold]:
    return reserve_stock(
        session,
        s.brand_id,
        requests,
        holder_kind=kind,
        holder_id=holder,
        expires_at=utc_now() + expires_in if expires_in is not None else None,
        actor_label="checkout",
    )


def _movements(session: Session, hold_ids: list[int] | None = None) -> list[tuple[object, ...]]:
    statement = select(
        StockMovement.kind,
        StockMovement.location_id,
        StockMovement.sku_id,
        StockMovement.on_hand_delta,
        StockMovement.reserved_delta,
        StockMovement.allocated_delta,
        StockMovement.hold_id,
    ).order_by(StockMovement.id)
    if hold_ids is not None:
        statement = statement.where(StockMovement.hold_id.in_(hold_ids))
    return [tuple(row) for row in session.execute(statement)]


# ---------------------------------------------------------------- reserve


def test_reserving_holds_units_per_line_and_writes_the_ledger(
    session: Session, stocked: Stocked
) -> None:
    s = stocked
    # when an order holds 2 + 3 tees at the store (two lines) and 1 cap
    holds = _reserve(
        session,
        s,
        [
            HoldRequest(s.store, s.tee.id, 2, holder_line_id=11),
            HoldRequest(s.store, s.cap.id, 1, holder_line_id=12),
            HoldRequest(s.store, s.tee.id, 3, holder_line_id=13),
        ],
        holder=42,
    )
    session.commit()
    # then the holds come back in request order
    assert [(h.sku_id, h.quantity, h.holder_line_id, h.status) for h in holds] == [
        (s.tee.id, 2, 11, "reserved"),
        (s.cap.id, 1, 12, "reserved"),
        (s.tee.id, 3, 13, "reserved"),
    ]
    assert {(h.holder_kind, h.holder_id, h.expires_at) for h in holds} == {("order", 42, None)}
    assert _level(session, s.store, s.tee) == (10, 5, 0)
    assert _level(session, s.store, s.cap) == (4, 1, 0)
    assert _movements(session, [h.id for h in holds]) == [
        # levels in lock order: (location, sku), and the tee's SKU id is the lower
        ("reservation", s.store, s.tee.id, 0, 2, 0, holds[0].id),
        ("reservation", s.store, s.tee.id, 0, 3, 0, holds[2].id),
        ("reservation", s.store, s.cap.id, 0, 1, 0, holds[1].id),
    ]
    assert available_quantities(
        session, s.brand_id, [s.store, s.warehouse], [s.tee.id, s.cap.id]
    ) == {
        (s.store, s.tee.id): 5,
        (s.store, s.cap.id): 3,
        (s.warehouse, s.tee.id): 20,
        (s.warehouse, s.cap.id): 0,
    }


def test_a_cart_hold_carries_its_expiry(session: Session, stocked: Stocked) -> None:
    expires = utc_now() + timedelta(minutes=30)
    [hold] = reserve_stock(
        session,
        stocked.brand_id,
        [HoldRequest(stocked.store, stocked.cap.id, 1)],
        holder_kind="cart",
        holder_id=9,
        expires_at=expires,
        actor_label="cart",
    )
    session.commit()
    session.expire_all()
    assert session.get(StockHold, (stocked.brand_id, hold.id)).expires_at == expires  # type: ignore[union-attr]


def test_reserving_more_than_available_is_refused_and_writes_nothing(
    session: Session, stocked: Stocked
) -> None:
    # given 3 of the 4 caps already held
    s = stocked
    _reserve(session, s, [HoldRequest(s.store, s.cap.id, 3)], holder=1)
    session.commit()
    before = row_counts(session)
    # when an order wants 2 tees (fine) and 2 caps (only 1 left)
    with pytest.raises(InsufficientStock) as refused:
        _reserve(
            session,
            s,
            [HoldRequest(s.store, s.tee.id, 2), HoldRequest(s.store, s.cap.id, 2)],
            holder=2,
        )
    # then nothing at all was held, not even the tees
    assert refused.value.code == "insufficient_stock"
    assert refused.value.status == 409
    assert refused.value.extra == {"sku_id": s.cap.id, "location_id": s.store, "available": 1}
    session.commit()
    assert row_counts(session) == before
    assert _level(session, s.store, s.tee) == (10, 0, 0)
    assert _level(session, s.store, s.cap) == (4, 3, 0)


def test_a_level_that_does_not_exist_has_nothing_available(
    session: Session, stocked: Stocked
) -> None:
    s = stocked
    before = row_counts(session)
    with pytest.raises(InsufficientStock) as refused:
        _reserve(session, s, [HoldRequest(s.warehouse, s.cap.id, 1)])
    assert refused.value.extra == {"sku_id": s.cap.id, "location_id": s.warehouse, "available": 0}
    session.rollback()
    assert row_counts(session) == before


def test_lines_on_one_level_count_together(session: Session, stocked: Stocked) -> None:
    s = stocked
    before = row_counts(session)
    with pytest.raises(InsufficientStock) as refused:
        _reserve(session, s, [HoldRequest(s.store, s.cap.id, 3), HoldRequest(s.store, s.cap.id, 2)])
    assert refused.value.extra["available"] == 4
    session.rollback()
    assert row_counts(session) == before


@pytest.mark.parametrize("quantity", [0, -1, 1_000_000_001])
def test_a_bad_quantity_is_refused(session: Session, stocked: Stocked, quantity: int) -> None:
    before = row_counts(session)
    with pytest.raises(InvalidQuantity):
        _reserve(session, stocked, [HoldRequest(stocked.store, stocked.tee.id, quantity)])
    session.rollback()
    assert row_counts(session) == before


def test_reserving_nothing_holds_nothing(session: Session, stocked: Stocked) -> None:
    assert _reserve(session, stocked, []) == []


def test_the_same_holder_line_twice_is_two_holds(session: Session, stocked: Stocked) -> None:
    request = HoldRequest(stocked.store, stocked.tee.id, 1, holder_line_id=5)
    holds = _reserve(session, stocked, [request, request])
    assert [h.quantity for h in holds] == [1, 1]
    assert holds[0].id != holds[1].id


# ---------------------------------------------------------------- the life of a hold


def test_allocate_then_fulfil_part_then_release_the_rest(
    session: Session, stocked: Stocked
) -> None:
    s = stocked
    holds = _reserve(
        session,
        s,
        [
            HoldRequest(s.store, s.tee.id, 2, holder_line_id=1),
            HoldRequest(s.warehouse, s.tee.id, 5, holder_line_id=2),
        ],
        holder=7,
    )
    ids = [h.id for h in holds]
    # when the order is paid (twice: a repeated notification)
    paid = allocate_holds(session, s.brand_id, holder_kind="order", holder_id=7, actor_label="pay")
    again = allocate_holds(session, s.brand_id, holder_kind="order", holder_id=7, actor_label="pay")
    # then
    assert [(h.id, h.status) for h in paid] == [(ids[0], "allocated"), (ids[1], "allocated")]
    assert again == []
    assert _level(session, s.store, s.tee) == (10, 0, 2)
    assert _level(session, s.warehouse, s.tee) == (20, 0, 5)
    # when line 1 is picked up (twice)
    picked = fulfil_holds(
        session,
        s.brand_id,
        holder_kind="order",
        holder_id=7,
        actor_label="pickup",
        holder_line_ids=[1],
    )
    picked_again = fulfil_holds(
        session,
        s.brand_id,
        holder_kind="order",
        holder_id=7,
        actor_label="pickup",
        holder_line_ids=[1],
    )
    # then only that line left the shelf
    assert [(h.id, h.status) for h in picked] == [(ids[0], "fulfilled")]
    assert picked_again == []
    assert _level(session, s.store, s.tee) == (8, 0, 0)
    assert _level(session, s.warehouse, s.tee) == (20, 0, 5)
    # when the rest is refunded before shipping (twice)
    released = release_holds(
        session,
        s.brand_id,
        holder_kind="order",
        holder_id=7,
        actor_label="refund",
        reason="refunded",
    )
    released_again = release_holds(
        session,
        s.brand_id,
        holder_kind="order",
        holder_id=7,
        actor_label="refund",
        reason="refunded",
    )
    # then the warehouse units are available again; the fulfilled hold stays fulfilled
    assert [(h.id, h.status) for h in released] == [(ids[1], "released")]
    assert released_again == []
    assert _level(session, s.warehouse, s.tee) == (20, 0, 0)
    session.expire_all()
    assert [session.get(StockHold, (s.brand_id, i)).status for i in ids] == [  # type: ignore[union-attr]
        "fulfilled",
        "released",
    ]
    assert _movements(session, ids) == [
        ("reservation", s.store, s.tee.id, 0, 2, 0, ids[0]),
        ("reservation", s.warehouse, s.tee.id, 0, 5, 0, ids[1]),
        ("allocation", s.store, s.tee.id, 0, -2, 2, ids[0]),
        ("allocation", s.warehouse, s.tee.id, 0, -5, 5, ids[1]),
        ("fulfilment", s.store, s.tee.id, -2, 0, -2, ids[0]),
        ("release", s.warehouse, s.tee.id, 0, 0, -5, ids[1]),
    ]


def test_fulfilling_every_line_of_one_level(session: Session, stocked: Stocked) -> None:
    s = stocked
    _reserve(
        session,
        s,
        [HoldRequest(s.store, s.cap.id, 1, 1), HoldRequest(s.store, s.cap.id, 2, 2)],
        holder=3,
    )
    allocate_holds(session, s.brand_id, holder_kind="order", holder_id=3, actor_label="pay")
    done = fulfil_holds(session, s.brand_id, holder_kind="order", holder_id=3, actor_label="ship")
    assert [h.quantity for h in done] == [1, 2]
    assert _level(session, s.store, s.cap) == (1, 0, 0)


def test_releasing_a_cart_gives_reserved_units_back(session: Session, stocked: Stocked) -> None:
    s = stocked
    _reserve(session, s, [HoldRequest(s.store, s.cap.id, 4)], kind="cart", holder=8)
    assert available_quantities(session, s.brand_id, [s.store], [s.cap.id]) == {
        (s.store, s.cap.id): 0
    }
    released = release_holds(
        session, s.brand_id, holder_kind="cart", holder_id=8, actor_label="cart", reason="emptied"
    )
    assert [(h.quantity, h.status) for h in released] == [(4, "released")]
    assert _level(session, s.store, s.cap) == (4, 0, 0)
    release = session.scalars(select(StockMovement).where(StockMovement.kind == "release")).one()
    assert (release.reserved_delta, release.allocated_delta, release.reference) == (
        -4,
        0,
        "emptied",
    )


def test_holds_of_other_holders_and_brands_are_untouched(
    session: Session, stocked: Stocked
) -> None:
    s = stocked
    _reserve(session, s, [HoldRequest(s.store, s.cap.id, 1)], kind="cart", holder=1)
    _reserve(session, s, [HoldRequest(s.store, s.cap.id, 1)], kind="order", holder=2)
    assert (
        allocate_holds(session, s.brand_id, holder_kind="order", holder_id=1, actor_label="x") == []
    )
    assert (
        allocate_holds(session, s.brand_id + 1, holder_kind="order", holder_id=2, actor_label="x")
        == []
    )
    assert (
        release_holds(
            session, s.brand_id + 1, holder_kind="cart", holder_id=1, actor_label="x", reason="x"
        )
        == []
    )
    assert _level(session, s.store, s.cap) == (4, 2, 0)


def test_a_return_puts_units_back_on_hand(session: Session, stocked: Stocked) -> None:
    s = stocked
    movement = restock(
        session,
        s.brand_id,
        location_id=s.warehouse,
        sku_id=s.cap.id,
        quantity=2,
        reference="after-sale 31",
        actor_label="returns desk",
    )
    assert (movement.kind, movement.on_hand_delta, movement.reference, movement.actor_label) == (
        "return",
        2,
        "after-sale 31",
        "returns desk",
    )
    assert _level(session, s.warehouse, s.cap) == (2, 0, 0)
    with pytest.raises(InvalidQuantity):
        restock(
            session,
            s.brand_id,
            location_id=s.store,
            sku_id=s.cap.id,
            quantity=0,
            reference="x",
            actor_label="x",
        )


# ---------------------------------------------------------------- concurrency


def test_twenty_buyers_of_ten_units_never_oversell(db: Database, stocked: Stocked) -> None:
    # given 10 tees at the store and 20 buyers at once, each wanting 1 and paying at once
    s = stocked
    barrier = threading.Barrier(20)
    outcomes: list[str] = []

    def buyer(number: int) -> None:
        barrier.wait()
        try:
            with db.unit_of_work() as session:
                _reserve(session, s, [HoldRequest(s.store, s.tee.id, 1)], holder=1000 + number)
                allocate_holds(
                    session,
                    s.brand_id,
                    holder_kind="order",
                    holder_id=1000 + number,
                    actor_label="pay",
                )
            outcomes.append("bought")
        except InsufficientStock:
            outcomes.append("refused")

    threads = [threading.Thread(target=buyer, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # then exactly 10 bought, and the counters agree with the holds
    assert sorted(outcomes) == ["bought"] * 10 + ["refused"] * 10
    with db.sessions() as session:
        assert _level(session, s.store, s.tee) == (10, 0, 10)
        allocated = session.scalar(
            select(func.sum(StockHold.quantity)).where(
                StockHold.sku_id == s.tee.id, StockHold.status == "allocated"
            )
        )
        assert allocated == 10
        assert reconcile_stock(session, s.brand_id).repaired == []


def test_opposite_orders_of_lines_do_not_deadlock(db: Database, stocked: Stocked) -> None:
    # given many orders wanting a tee and a cap, half listing the cap first
    s = stocked
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def buyer(number: int) -> None:
        lines = [HoldRequest(s.store, s.tee.id, 1), HoldRequest(s.store, s.cap.id, 1)]
        if number % 2:
            lines.reverse()
        barrier.wait()
        for attempt in range(5):
            try:
                with db.unit_of_work() as session:
                    _reserve(session, s, lines, holder=2000 + number * 10 + attempt)
                    allocate_holds(
                        session,
                        s.brand_id,
                        holder_kind="order",
                        holder_id=2000 + number * 10 + attempt,
                        actor_label="pay",
                    )
            except InsufficientStock:
                return
            except BaseException as error:  # collected for the assertion
                errors.append(error)
                return

    threads = [threading.Thread(target=buyer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # then no deadlock or other error, and exactly the 4 caps were sold
    assert errors == []
    with db.sessions() as session:
        assert _level(session, s.store, s.cap) == (4, 0, 4)
        assert _level(session, s.store, s.tee) == (10, 0, 4)


# ---------------------------------------------------------------- expiry


def test_expired_cart_holds_are_released_and_orders_are_left_to_their_own_timeout(
    session: Session, stocked: Stocked
) -> None:
    s = stocked
    _reserve(
        session,
        s,
        [HoldRequest(s.store, s.cap.id, 1)],
        kind="cart",
        holder=1,
        expires_in=timedelta(minutes=-1),
    )
    _reserve(
        session,
        s,
        [HoldRequest(s.store, s.cap.id, 1)],
        kind="cart",
        holder=2,
        expires_in=timedelta(minutes=10),
    )
    _reserve(
        session,
        s,
        [HoldRequest(s.store, s.cap.id, 1)],
        kind="order",
        holder=3,
        expires_in=timedelta(minutes=-1),
    )
    _reserve(
        session,
        s,
        [HoldRequest(s.store, s.tee.id, 2)],
        kind="cart",
        holder=4,
        expires_in=timedelta(minutes=-5),
    )
    session.commit()
    # when the job runs
    released = expire_reservations_job(int(time.time()))
    # then only the expired cart holds are released
    assert released == 2
    assert _level(session, s.store, s.cap) == (4, 2, 0)
    assert _level(session, s.store, s.tee) == (10, 0, 0)
    statuses = session.execute(
        select(StockHold.holder_kind, StockHold.holder_id, StockHold.status).order_by(StockHold.id)
    ).all()
    assert [tuple(r) for r in statuses] == [
        ("cart", 1, "released"),
        ("cart", 2, "reserved"),
        ("order", 3, "reserved"),
        ("cart", 4, "released"),
    ]
    assert session.scalars(
        select(StockMovement.reference).where(StockMovement.kind == "release")
    ).all() == ["expired", "expired"]
    # and running it again changes nothing
    assert expire_reservations_job(int(time.time())) == 0


def test_expiry_works_in_batches(session: Session, stocked: Stocked) -> None:
    s = stocked
    for holder in range(3):
        _reserve(
            session,
            s,
            [HoldRequest(s.store, s.tee.id, 1)],
            kind="cart",
            holder=holder,
            expires_in=timedelta(seconds=-1),
        )
    assert expire_reservations(session, limit=2) == 2
    assert expire_reservations(session, limit=2) == 1
    assert _level(session, s.store, s.tee) == (10, 0, 0)


# ---------------------------------------------------------------- the reconciler


def _drift(session: Session, location_id: int, sku: Sku, reserved: int, allocated: int) -> None:
    session.execute(
        text(
            "UPDATE stock_level SET reserved = :r, allocated = :a "
            "WHERE location_id = :l AND sku_id = :s"
        ),
        {"r": reserved, "a": allocated, "l": location_id, "s": sku.id},
    )


def test_the_reconciler_repairs_drift_and_reports_it(session: Session, stocked: Stocked) -> None:
    # given holds of 2 reserved + 1 allocated tees, but counters that say 5 and 0
    s = stocked
    _reserve(session, s, [HoldRequest(s.store, s.tee.id, 1)], holder=1)
    allocate_holds(session, s.brand_id, holder_kind="order", holder_id=1, actor_label="pay")
    _reserve(session, s, [HoldRequest(s.store, s.tee.id, 2)], kind="cart", holder=2)
    _drift(session, s.store, s.tee, 5, 0)
    session.commit()
    # when
    report = reconcile_stock(session, s.brand_id)
    session.commit()
    # then
    assert report.levels_checked == 3
    assert [
        (
            r.location_id,
            r.sku_id,
            r.reserved_before,
            r.reserved_after,
            r.allocated_before,
            r.allocated_after,
            r.repaired,
        )
        for r in report.repaired
    ] == [(s.store, s.tee.id, 5, 2, 0, 1, True)]
    assert report.unrepairable == []
    assert report.summary() == "3 levels checked, 1 repaired, 0 need a stock count"
    assert _level(session, s.store, s.tee) == (10, 2, 1)
    repair = session.scalars(
        select(StockMovement).where(StockMovement.kind == "reconciliation")
    ).one()
    assert (repair.reserved_delta, repair.allocated_delta, repair.hold_id) == (-3, 1, None)
    event = session.scalars(
        select(OutboxEvent).where(OutboxEvent.event_type == "StockReconciled")
    ).one()
    assert event.payload == {
        "brand_id": s.brand_id,
        "levels_checked": 3,
        "levels_repaired": 1,
        "levels_unrepairable": 0,
    }
    # and a second run finds nothing
    assert reconcile_stock(session, s.brand_id).repaired == []


def test_holds_promising_more_than_is_on_hand_are_reported_not_changed(
    session: Session, stocked: Stocked
) -> None:
    # given a hold of 6 caps although only 4 are on hand (a hold written behind our back)
    s = stocked
    session.add(
        StockHold(
            brand_id=s.brand_id,
            location_id=s.store,
            sku_id=s.cap.id,
            quantity=6,
            holder_kind="order",
            holder_id=9,
            status="allocated",
        )
    )
    session.commit()
    before = _movements(session)
    # when
    report = reconcile_stock(session, s.brand_id)
    # then
    assert report.repaired == []
    assert [(r.sku_id, r.on_hand, r.allocated_after, r.repaired) for r in report.unrepairable] == [
        (s.cap.id, 4, 6, False)
    ]
    assert _level(session, s.store, s.cap) == (4, 0, 0)
    assert _movements(session) == before


def test_the_nightly_job_reconciles_every_brand(session: Session, stocked: Stocked) -> None:
    s = stocked
    _drift(session, s.warehouse, s.tee, 3, 0)
    make_brand(session)
    session.commit()
    assert reconcile_stock_job(int(time.time())) == 1
    assert _level(session, s.warehouse, s.tee) == (20, 0, 0)


@pytest.fixture
def cli(db: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("SIYU_DATABASE_URL", db.url)
    get_settings.cache_clear()
    set_database(db)
    try:
        yield CliRunner()
    finally:
        get_settings.cache_clear()


def test_siyu_stock_reconcile(cli: CliRunner, session: Session, stocked: Stocked) -> None:
    # given drift at the store
    s = stocked
    _drift(session, s.store, s.cap, 1, 1)
    session.commit()
    slug = session.scalar(text("SELECT slug FROM brand WHERE id = :b"), {"b": s.brand_id})
    # when
    result = cli.invoke(cli_app, ["stock", "reconcile", "--brand", str(slug)])
    # then
    assert result.exit_code == 0, result.output
    assert "3 levels checked, 1 repaired, 0 need a stock count" in result.output
    assert _level(session, s.store, s.cap) == (4, 0, 0)
    # and an unknown brand is refused
    unknown = cli.invoke(cli_app, ["stock", "reconcile", "--brand", "nope"])
    assert unknown.exit_code == 2
