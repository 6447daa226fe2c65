"""The demo brand's mall (siyu.demo.mall): its exact shape, a second run changing nothing, and
the data each walk-through step needs."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from siyu.brands.models import Brand
from siyu.catalog.models import Sku
from siyu.cli.main import app
from siyu.cloud_store.service import store_catalog
from siyu.core.clock import utc_now
from siyu.db.session import Database
from siyu.demo.mall import MallResult
from siyu.demo.seed import seed_demo
from siyu.inventory.models import StockMovement
from siyu.orders.models import Order
from siyu.orders.rules import display_status
from siyu.org.models import Store
from siyu.payments.models import Refund
from siyu.settlement.models import SettlementRun, Statement
from siyu.settlement.rules import shanghai_date, shanghai_midnight
from siyu.shop.service import shelf_quantities
from tests.helpers import row_counts

EXPECTED = MallResult(
    categories=5,
    products=10,
    skus=21,
    stock_levels=358,
    listing_overrides=4,
    # 3 demo consumers with 20 orders of history, and 3 shoppers of the scan-to-join journeys
    # (siyu.demo.members), two of whom buy
    consumers=6,
    orders=22,
    paid_orders=21,
    refunds=2,
    after_sales=3,
    ledger_entries=35,
    statements=3,
    demo_consumers=[
        ("demo-lilei", "Li Lei 李雷"),
        ("demo-hanmeimei", "Han Meimei 韩梅梅"),
        ("demo-wangfang", "Wang Fang 王芳"),
    ],
)


def test_the_demo_mall_has_the_promised_shape_and_a_second_run_changes_nothing(
    db: Database,
) -> None:
    # when
    with db.unit_of_work() as session:
        first = seed_demo(session)
    with db.sessions() as session:
        before = row_counts(session)
    with db.unit_of_work() as session:
        again = seed_demo(session)
    # then
    assert first.created is True
    assert first.mall == EXPECTED
    assert (again.created, again.mall) == (False, EXPECTED)
    with db.sessions() as session:
        assert row_counts(session) == before
        # stock arrived through the ledger: one receipt per opening level
        receipts = session.scalar(
            select(func.count()).select_from(StockMovement).where(StockMovement.kind == "receipt")
        )
        assert receipts == EXPECTED.stock_levels


def test_the_history_spans_every_order_state(db: Database) -> None:
    with db.unit_of_work() as session:
        seed_demo(session)
    with db.sessions() as session:
        orders = session.scalars(select(Order)).all()
        states = Counter(
            display_status(
                lifecycle=o.lifecycle_status,
                payment=o.payment_status,
                fulfilment=o.fulfilment_status,
                after_sale=o.after_sale_status,
                method=o.fulfilment_method,
            )
            for o in orders
        )
        # completed: picked up (5), delivered (7), delivered with one line returned (1);
        # cancelled: withdrawn before paying (1), refunded in full before pickup (1);
        # awaiting pickup: 2 of the history and the 2 bought on scan-to-join journeys
        assert states == {
            "completed": 13,
            "awaiting_pickup": 4,
            "awaiting_shipment": 1,
            "shipped": 1,
            "after_sale": 1,
            "cancelled": 2,
        }
        # numbers carry the (backdated) Shanghai date of placing
        for order in orders:
            assert order.number.startswith(f"{shanghai_date(order.placed_at):%y%m%d}")
        assert sorted(r.amount_fen for r in session.scalars(select(Refund))) == [45900, 129900]


def test_the_settled_statements_reconcile_to_the_orders(db: Database) -> None:
    with db.unit_of_work() as session:
        seed_demo(session)
    with db.sessions() as session:
        run = session.scalars(select(SettlementRun)).one()
        today = shanghai_date(utc_now())
        assert (run.period_start, run.period_end) == (
            shanghai_midnight(today - timedelta(days=21)),
            shanghai_midnight(today - timedelta(days=7)),
        )
        franchised = select(Store.id).where(Store.franchisee_id.is_not(None))
        sales = session.scalar(
            select(func.sum(Order.paid_fen)).where(
                Order.selling_store_id.in_(franchised),
                Order.paid_at >= run.period_start,
                Order.paid_at < run.period_end,
            )
        )
        refunds = session.scalar(
            select(func.sum(Refund.amount_fen))
            .join(Order, (Order.brand_id == Refund.brand_id) & (Order.id == Refund.order_id))
            .where(
                Order.selling_store_id.in_(franchised),
                Refund.succeeded_at >= run.period_start,
                Refund.succeeded_at < run.period_end,
            )
        )
        statements = session.scalars(select(Statement)).all()
        assert sum(s.sales_fen for s in statements) == sales
        assert sum(s.refunds_fen for s in statements) == refunds
        for s in statements:
            assert s.net_payable_fen == s.net_sales_fen - s.commission_fen - s.fees_fen


def test_every_store_shows_its_own_face(db: Database) -> None:
    with db.unit_of_work() as session:
        seed_demo(session)
    with db.sessions() as session:
        brand_id = session.scalar(select(Brand.id))
        assert brand_id is not None

        def store(code: str) -> int:
            found = session.scalar(select(Store.id).where(Store.code == code))
            assert found is not None
            return found

        def sku(code: str) -> int:
            found = session.scalar(select(Sku.id).where(Sku.code == code))
            assert found is not None
            return found

        def offers(code: str) -> dict[str, tuple[int, int]]:
            page, _ = store_catalog(session, brand_id, store(code), limit=100)
            return {offer.sku_code: (offer.price_fen, available) for offer, available in page}

        sh01, gz01, bj02 = offers("SH01"), offers("GZ01"), offers("BJ02")
        # a regional price (South China), a store's own price (SH01), a product BJ02 does not sell
        assert (gz01["JX-TEE-001-WHT-M"][0], sh01["JX-TEE-001-WHT-M"][0]) == (17900, 19900)
        assert sh01["JX-SHT-021-WHT-M"][0] == 29900
        assert "JX-SCF-003-GRY" in sh01 and "JX-SCF-003-GRY" not in bj02
        # sold out everywhere; on sale at SH01 only from a warehouse (endless aisle)
        assert sh01["JX-JKT-007-RED-L"][1] == 0
        dress = sku("JX-DRS-014-NVY-S")
        assert sh01["JX-DRS-014-NVY-S"][1] > 0
        assert shelf_quantities(session, brand_id, store("SH01"), [dress]) == {dress: 0}


def test_demo_prints_the_mall(db: Database) -> None:
    result = CliRunner().invoke(app, ["demo", "--no-serve"])
    assert result.exit_code == 0, result.output
    assert "Mall: 10 products (21 SKUs) in 5 categories, 358 stock levels" in result.output
    assert "/shop/demo" in result.output


def test_a_demo_database_made_before_the_mall_gets_it(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a demo brand seeded by a siyu without the mall (the organization only)
    from siyu.demo import seed as seed_module

    with monkeypatch.context() as patch:
        patch.setattr(seed_module, "seed_demo_mall", lambda *_: MallResult())
        with db.unit_of_work() as uow:
            seed_demo(uow)
    # when
    with db.unit_of_work() as uow:
        result = seed_demo(uow)
    # then
    assert (result.created, result.mall.orders) == (False, 22)
