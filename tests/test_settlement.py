"""Franchise settlement through the services: posting orders to the store ledgers, settlement
runs whose statements reconcile to the orders to the fen, and every refusal."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.access.service import actor_for_staff
from siyu.core.errors import PermissionDenied
from siyu.db.session import Database
from siyu.orders.checkout import Shopper as CheckoutShopper
from siyu.orders.checkout import place_order
from siyu.orders.events import OrderFulfilled, OrderPaid
from siyu.orders.models import FulfilmentMethod, Order
from siyu.orders.payment import start_payment
from siyu.orders.schemas import OrderLineIn, PlaceOrder
from siyu.orders.service import cancel_unpaid_order
from siyu.outbox import dispatcher
from siyu.outbox.models import OutboxEvent
from siyu.outbox.service import record_event
from siyu.payments.models import Refund
from siyu.payments.service import get_pay_gateway
from siyu.settlement.errors import (
    InvalidSettlementPeriod,
    SettlementPeriodOverlaps,
    SettlementRuleMissing,
)
from siyu.settlement.models import LedgerEntry, Statement, StatementLine
from siyu.settlement.posting import backfill_ledger, post_order_to_ledger
from siyu.settlement.service import get_statement, list_statements, run_settlement
from siyu.settlement.subscribers import SUBSCRIBER_NAME, post_to_ledger
from siyu.wechat.sandbox_pay import sandbox_pay
from tests.factories_mall import run_payment_notifications
from tests.factories_settlement import (
    CAP_PRICE_FEN,
    TEE_PRICE_FEN,
    Franchise,
    build_franchise,
    dispatch_all,
    paid_order,
    refunded,
    set_rule,
)
from tests.helpers import row_counts

OCT = (date(2026, 10, 1), date(2026, 11, 1))
# Moments as Asia/Shanghai wall-clock times (UTC+8), written in UTC.
SEP_30_2359 = datetime(2026, 9, 30, 15, 59, tzinfo=UTC)
OCT_01_0000 = datetime(2026, 9, 30, 16, 0, tzinfo=UTC)
OCT_15 = datetime(2026, 10, 15, 4, tzinfo=UTC)
OCT_31_2359 = datetime(2026, 10, 31, 15, 59, 59, tzinfo=UTC)
NOV_01_0000 = datetime(2026, 10, 31, 16, 0, tzinfo=UTC)


@pytest.fixture
def franchise(session: Session) -> Franchise:
    return build_franchise(session)


def entries(session: Session, order_id: int | None = None) -> list[tuple[str, int, int | None]]:
    session.expire_all()
    query = select(LedgerEntry).order_by(LedgerEntry.id)
    if order_id is not None:
        query = query.where(LedgerEntry.order_id == order_id)
    return [(e.kind, e.amount_fen, e.franchisee_id) for e in session.scalars(query)]


# ---------------------------------------------------------------- posting


def test_a_paid_order_posts_one_sale_however_often_it_is_delivered(
    session: Session, db: Database, franchise: Franchise
) -> None:
    # given a paid order of a franchised store
    world = franchise.world
    order = paid_order(session, db, franchise, world.franchise_store, tees=2)
    # when the events are dispatched, the same fact arrives again, and the handler reruns
    dispatch_all(db)
    record_event(
        session,
        order.brand_id,
        OrderPaid(
            order_id=order.id,
            selling_store_id=order.selling_store_id,
            paid_fen=order.paid_fen,
            payment_id=1,
        ),
    )
    session.commit()
    dispatch_all(db)
    event = session.scalars(
        select(OutboxEvent).where(OutboxEvent.event_type == "OrderPaid")
    ).first()
    assert event is not None
    post_to_ledger(session, event)
    session.commit()
    # then the store's ledger holds one sale of what was paid, with its franchisee
    session.expire_all()
    (entry,) = session.scalars(select(LedgerEntry)).all()
    assert (entry.kind, entry.amount_fen, entry.store_id, entry.franchisee_id) == (
        "sale",
        2 * TEE_PRICE_FEN,
        world.franchise_store.id,
        world.franchisee.id,
    )
    assert entry.source_key == f"OrderPaid:{order.id}:"
    assert entry.occurred_at == order.paid_at


def test_refunds_post_negative_and_direct_stores_post_without_a_franchisee(
    session: Session, db: Database, franchise: Franchise
) -> None:
    # given a direct store's order with two partial refunds
    order = paid_order(session, db, franchise, franchise.world.direct_store, tees=1, caps=1)
    first = refunded(session, db, order, 3333)
    second = refunded(session, db, order, 1)
    # when dispatched
    dispatch_all(db)
    # then sale +, each refund −, no franchisee
    assert entries(session) == [
        ("sale", TEE_PRICE_FEN + CAP_PRICE_FEN, None),
        ("refund", -3333, None),
        ("refund", -1, None),
    ]
    keys = session.scalars(
        select(LedgerEntry.source_key).where(LedgerEntry.kind == "refund").order_by(LedgerEntry.id)
    ).all()
    assert keys == [f"OrderRefunded:{order.id}:{first.id}", f"OrderRefunded:{order.id}:{second.id}"]


def test_a_fulfilment_posts_a_zero_marker(
    session: Session, db: Database, franchise: Franchise
) -> None:
    # given a paid order that was fulfilled
    order = paid_order(session, db, franchise, franchise.world.franchise_store)
    fulfilled_at = datetime(2026, 10, 20, 2, tzinfo=UTC)
    order.fulfilled_at = fulfilled_at
    record_event(
        session,
        order.brand_id,
        OrderFulfilled(
            order_id=order.id,
            selling_store_id=order.selling_store_id,
            fulfilment_method="pickup",
            total_fen=order.total_fen,
        ),
    )
    session.commit()
    # when dispatched
    dispatch_all(db)
    # then a 0-fen fulfilment entry follows the sale
    assert entries(session) == [
        ("sale", TEE_PRICE_FEN, franchise.world.franchisee.id),
        ("fulfilment", 0, franchise.world.franchisee.id),
    ]
    marker = session.scalars(select(LedgerEntry).where(LedgerEntry.kind == "fulfilment")).one()
    assert marker.occurred_at == fulfilled_at


def test_money_for_a_cancelled_order_never_reaches_the_ledger(
    session: Session, db: Database, franchise: Franchise
) -> None:
    # given an order cancelled before its payment arrived, and refunded automatically
    shopper = CheckoutShopper(
        brand_id=franchise.brand_id, consumer_id=franchise.shopper.consumer.id, label="c"
    )
    order = place_order(
        session,
        shopper,
        franchise.world.franchise_store.id,
        PlaceOrder(
            lines=[OrderLineIn(sku_id=franchise.tee.id, quantity=1)],
            fulfilment_method=FulfilmentMethod.PICKUP,
        ),
        idempotency_key="cancelled-1",
    ).order
    started = start_payment(session, shopper, order.id, get_pay_gateway(session, order.brand_id))
    cancel_unpaid_order(session, shopper, order.id)
    assert started.payment.prepay_id is not None
    sandbox_pay(session, started.payment.prepay_id)
    session.commit()
    run_payment_notifications(db)
    run_payment_notifications(db)
    assert session.scalars(select(Refund.status)).all() == ["succeeded"]
    # when every event is dispatched
    dispatch_all(db)
    # then nothing was posted: the money never became a sale
    assert entries(session) == []


def test_the_dispatcher_of_serve_and_worker_delivers_to_the_ledger() -> None:
    # given the module that hosts the dispatcher threads
    import siyu.jobs.runner  # noqa: F401

    # then the ledger subscriber is on the default registry, for the three order facts
    subscriber = dispatcher.registry.subscribers[SUBSCRIBER_NAME]
    assert subscriber.event_types == {"OrderPaid", "OrderRefunded", "OrderFulfilled"}


def test_backfill_posts_orders_paid_before_the_subscriber_and_is_repeatable(
    session: Session, db: Database, franchise: Franchise
) -> None:
    # given orders paid and refunded whose events never reached the ledger
    world = franchise.world
    first = paid_order(session, db, franchise, world.franchise_store, tees=1)
    second = paid_order(session, db, franchise, world.other_store, tees=0, caps=2)
    refunded(session, db, second, 500)
    # when the backfill runs twice
    report = backfill_ledger(session, franchise.brand_id)
    again = backfill_ledger(session, franchise.brand_id)
    session.commit()
    # then everything was posted once
    assert (report.orders, report.posted) == (2, 3)
    assert (again.orders, again.posted) == (2, 0)
    assert entries(session, first.id) == [("sale", TEE_PRICE_FEN, world.franchisee.id)]
    assert entries(session, second.id) == [
        ("sale", 2 * CAP_PRICE_FEN, None),
        ("refund", -500, None),
    ]
    # and the subscriber delivering the same facts later adds nothing
    dispatch_all(db)
    assert len(entries(session)) == 3
    assert post_order_to_ledger(session, franchise.brand_id, first.id) == 0


# ---------------------------------------------------------------- settlement runs


def test_statements_reconcile_to_the_orders_to_the_fen(
    session: Session, db: Database, franchise: Franchise
) -> None:
    # given a default rule (5.5%, ¥200 a statement) and the other franchisee's own (8%, no fee)
    world = franchise.world
    set_rule(session, franchise, 550, 20000)
    set_rule(session, franchise, 800, 0, franchisee=franchise.other_franchisee)
    a_store, b_store = world.franchise_store, franchise.other_franchise_store
    # and October's orders with partial refunds, plus orders and refunds just outside it
    a1 = paid_order(session, db, franchise, a_store, tees=1, paid_at=OCT_01_0000)
    a2 = paid_order(session, db, franchise, a_store, tees=2, caps=1, paid_at=OCT_15)
    a3 = paid_order(session, db, franchise, a_store, tees=0, caps=3, paid_at=OCT_31_2359)
    b1 = paid_order(session, db, franchise, b_store, tees=3, paid_at=OCT_15)
    b2 = paid_order(session, db, franchise, b_store, tees=0, caps=1, paid_at=OCT_15)
    paid_order(session, db, franchise, a_store, tees=5, paid_at=SEP_30_2359)  # September
    paid_order(session, db, franchise, a_store, tees=4, paid_at=NOV_01_0000)  # November
    paid_order(session, db, franchise, world.direct_store, tees=5, paid_at=OCT_15)  # HQ's
    refunded(session, db, a2, 3333, succeeded_at=OCT_15)
    refunded(session, db, a3, 1, succeeded_at=OCT_31_2359)
    refunded(session, db, b1, 12345, succeeded_at=OCT_15)
    refunded(session, db, a1, 999, succeeded_at=NOV_01_0000)  # refunded in November
    dispatch_all(db)
    # when October is settled
    run = run_settlement(
        session, world.system, period_start=OCT[0], period_end=OCT[1], now=NOV_01_0000
    )
    session.commit()
    # then each franchisee's sales and refunds are exactly their stores' orders and refunds
    session.expire_all()
    statements = {s.franchisee_id: s for s in session.scalars(select(Statement))}
    assert set(statements) == {world.franchisee.id, franchise.other_franchisee.id}
    for franchisee_id, stores in (
        (world.franchisee.id, [a_store.id]),
        (franchise.other_franchisee.id, [b_store.id]),
    ):
        paid = session.scalar(
            select(func.sum(Order.paid_fen)).where(
                Order.selling_store_id.in_(stores),
                Order.paid_at >= OCT_01_0000,
                Order.paid_at < NOV_01_0000,
            )
        )
        refunds = session.scalar(
            select(func.sum(Refund.amount_fen))
            .join(Order, Order.id == Refund.order_id)
            .where(
                Order.selling_store_id.in_(stores),
                Refund.succeeded_at >= OCT_01_0000,
                Refund.succeeded_at < NOV_01_0000,
            )
        )
        assert (statements[franchisee_id].sales_fen, statements[franchisee_id].refunds_fen) == (
            paid,
            refunds,
        )
    # and the figures are exact: A sold 12345 + 28089 + 10197 = 50631 and refunded 3334
    a = statements[world.franchisee.id]
    assert (a.sales_fen, a.refunds_fen, a.net_sales_fen) == (50631, 3334, 47297)
    assert (a.commission_fen, a.fees_fen, a.net_payable_fen) == (2601, 20000, 24696)  # 2601.335
    assert (a.order_count, a.entry_count) == (3, 5)
    b = statements[franchise.other_franchisee.id]
    assert (b.sales_fen, b.refunds_fen, b.net_sales_fen) == (40434, 12345, 28089)
    assert (b.commission_fen, b.fees_fen, b.net_payable_fen) == (2247, 0, 25842)  # 2247.12
    assert b.order_count == 2
    # and a statement's lines add up to it
    lines = session.scalars(select(StatementLine).where(StatementLine.statement_id == a.id)).all()
    assert [
        (line.store_id, line.sales_fen, line.refunds_fen, line.order_count) for line in lines
    ] == [(a_store.id, 50631, 3334, 3)]
    assert run.period_start == OCT_01_0000 and run.period_end == NOV_01_0000
    for order in (a1, a2, a3, b1, b2):
        assert order.paid_at is not None


def test_a_posting_that_arrives_after_its_period_was_settled_lands_in_the_next(
    session: Session, db: Database, franchise: Franchise
) -> None:
    # given October settled with one order, and a refund of it in October not yet posted
    world = franchise.world
    set_rule(session, franchise, 1000)
    order = paid_order(session, db, franchise, world.franchise_store, paid_at=OCT_15)
    dispatch_all(db)
    run_settlement(session, world.system, period_start=OCT[0], period_end=OCT[1], now=NOV_01_0000)
    session.commit()
    refunded(session, db, order, 2000, succeeded_at=OCT_15)
    # when it is posted late
    dispatch_all(db)
    # then it is booked at the start of November, so November's run settles it
    late = session.scalars(select(LedgerEntry).where(LedgerEntry.kind == "refund")).one()
    assert late.occurred_at == NOV_01_0000
    run_settlement(
        session,
        world.system,
        period_start=date(2026, 11, 1),
        period_end=date(2026, 12, 1),
        now=datetime(2026, 12, 1, tzinfo=UTC),
    )
    session.commit()
    statements, _ = list_statements(session, world.system)
    november = next(
        s
        for s in statements
        if s.period_start == date(2026, 11, 1) and s.franchisee_id == world.franchisee.id
    )
    assert (november.franchisee_id, november.sales_fen, november.refunds_fen) == (
        world.franchisee.id,
        0,
        2000,
    )
    assert (november.commission_fen, november.net_payable_fen) == (-200, -1800)


@pytest.mark.parametrize(
    ("start", "end", "field", "message"),
    [
        (date(2026, 10, 1), date(2026, 10, 1), "period_end", "end after it starts"),
        (date(2026, 11, 1), date(2026, 10, 1), "period_end", "end after it starts"),
        (date(2026, 11, 1), date(2026, 12, 1), "period_end", "not ended yet"),
    ],
)
def test_a_period_that_is_empty_or_not_over_is_refused(
    session: Session, franchise: Franchise, start: date, end: date, field: str, message: str
) -> None:
    # given a rule
    set_rule(session, franchise, 500)
    before = row_counts(session)
    # when HQ settles a bad period on 22 November 2026
    with pytest.raises(InvalidSettlementPeriod) as refused:
        run_settlement(
            session,
            franchise.world.system,
            period_start=start,
            period_end=end,
            now=datetime(2026, 11, 22, 10, tzinfo=UTC),
        )
    session.rollback()
    # then it is refused, naming the field, and nothing was written
    assert (refused.value.code, refused.value.field) == ("invalid_settlement_period", field)
    assert message in refused.value.message
    assert row_counts(session) == before


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (date(2026, 10, 1), date(2026, 11, 1)),  # the same period again
        (date(2026, 9, 15), date(2026, 10, 2)),  # its first day
        (date(2026, 10, 31), date(2026, 11, 15)),  # its last day
    ],
)
def test_an_overlapping_period_is_refused(
    session: Session, franchise: Franchise, start: date, end: date
) -> None:
    # given October settled
    set_rule(session, franchise, 500)
    system = franchise.world.system
    now = datetime(2026, 11, 22, tzinfo=UTC)
    run_settlement(session, system, period_start=OCT[0], period_end=OCT[1], now=now)
    session.commit()
    before = row_counts(session)
    # when a period sharing a day with it is settled
    with pytest.raises(SettlementPeriodOverlaps) as refused:
        run_settlement(session, system, period_start=start, period_end=end, now=now)
    session.rollback()
    # then it is refused and nothing was written
    assert (refused.value.code, refused.value.field) == (
        "settlement_period_overlaps",
        "period_start",
    )
    assert row_counts(session) == before
    # while the adjoining September is fine
    run_settlement(session, system, period_start=date(2026, 9, 1), period_end=OCT[0], now=now)


def test_a_franchisee_without_a_rule_cannot_be_settled(
    session: Session, franchise: Franchise
) -> None:
    # given a rule for one franchisee only and no brand default
    set_rule(session, franchise, 500, franchisee=franchise.world.franchisee)
    before = row_counts(session)
    # when HQ settles October
    with pytest.raises(SettlementRuleMissing) as refused:
        run_settlement(
            session,
            franchise.world.system,
            period_start=OCT[0],
            period_end=OCT[1],
            now=NOV_01_0000,
        )
    session.rollback()
    # then the other franchisee is named and nothing was written
    assert refused.value.field == "franchisee_id"
    assert refused.value.extra == {"franchisee_ids": [franchise.other_franchisee.id]}
    assert row_counts(session) == before


@pytest.mark.parametrize("who", ["region_manager", "franchisee_owner", "store_manager", "guide"])
def test_only_hq_runs_settlements(session: Session, franchise: Franchise, who: str) -> None:
    # given a rule
    set_rule(session, franchise, 500)
    before = row_counts(session)
    # when someone outside HQ runs one
    with pytest.raises(PermissionDenied):
        run_settlement(
            session,
            actor_for_staff(franchise.world.staff[who]),
            period_start=OCT[0],
            period_end=OCT[1],
        )
    session.rollback()
    # then nothing was written
    assert row_counts(session) == before


def test_a_statement_shows_every_store_of_the_franchisee(
    session: Session, db: Database, franchise: Franchise
) -> None:
    # given a quiet October (no orders) and a fee of ¥150
    set_rule(session, franchise, 500, 15000)
    run = run_settlement(
        session, franchise.world.system, period_start=OCT[0], period_end=OCT[1], now=NOV_01_0000
    )
    session.commit()
    # when the franchisee's statement is read
    statements, total = list_statements(session, franchise.world.system, run_id=run.id)
    mine = next(s for s in statements if s.franchisee_id == franchise.world.franchisee.id)
    statement = get_statement(session, franchise.world.system, mine.id)
    # then the fee is still owed, and its store is listed with zeros
    assert total == 2
    assert (statement.sales_fen, statement.fees_fen, statement.net_payable_fen) == (
        0,
        15000,
        -15000,
    )
    assert statement.lines is not None
    assert [(line.store_id, line.sales_fen, line.order_count) for line in statement.lines] == [
        (franchise.world.franchise_store.id, 0, 0)
    ]
