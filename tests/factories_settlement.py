"""Factories of franchise settlement: a brand (tests.factories.build_world) with a second
franchisee, goods in stock in every store, and orders really placed, paid and refunded through
checkout and the sandbox WeChat Pay; the ledger subscriber on a registry of its own."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.access.rules import Role
from siyu.catalog.models import Sku
from siyu.db.session import Database
from siyu.orders.checkout import Shopper as CheckoutShopper
from siyu.orders.checkout import place_order
from siyu.orders.models import FulfilmentMethod, Order
from siyu.orders.payment import refund_order, start_payment
from siyu.orders.schemas import OrderLineIn, PlaceOrder
from siyu.org.models import Franchisee, Store
from siyu.outbox.dispatcher import SubscriberRegistry, dispatch_pending
from siyu.payments.models import Payment, Refund
from siyu.payments.service import get_pay_gateway
from siyu.settlement.schemas import SettlementRuleIn
from siyu.settlement.service import set_settlement_rule
from siyu.settlement.subscribers import register
from siyu.wechat.sandbox_pay import sandbox_pay
from tests.factories import World, build_world, make_franchisee, make_staff, make_store, token_for
from tests.factories_catalog import make_category, make_product, set_stock, store_location
from tests.factories_consumers import Shopper, make_consumer
from tests.factories_mall import run_payment_notifications

_keys = itertools.count(1)

TEE_PRICE_FEN = 12345  # 123.45 yuan: odd amounts make rounding visible
CAP_PRICE_FEN = 3399


@dataclass
class Franchise:
    """build_world plus a second franchisee (store in region B, owner ``other_owner``), a tee
    and a cap in stock in every store, and a logged-in consumer."""

    world: World
    other_franchisee: Franchisee
    other_franchise_store: Store
    tee: Sku
    cap: Sku
    shopper: Shopper

    @property
    def brand_id(self) -> int:
        return self.world.brand.id


def build_franchise(session: Session) -> Franchise:
    world = build_world(session)
    other = make_franchisee(session, world.system)
    other_store = make_store(session, world.system, world.region_b, other)
    world.staff["other_owner"] = make_staff(
        session, world.system, Role.FRANCHISEE_OWNER, franchisee=other
    )
    world.tokens["other_owner"] = token_for(session, world.staff["other_owner"])
    category = make_category(session, world.system)
    _, (tee,) = make_product(session, world.system, category, sizes=("M",), price_fen=TEE_PRICE_FEN)
    _, (cap,) = make_product(session, world.system, category, sizes=("F",), price_fen=CAP_PRICE_FEN)
    for store in (world.direct_store, world.franchise_store, world.other_store, other_store):
        location = store_location(session, store)
        set_stock(session, location, tee, 1000)
        set_stock(session, location, cap, 1000)
    shopper = make_consumer(session, world.brand, "settler")
    session.commit()
    return Franchise(world, other, other_store, tee, cap, shopper)


def set_rule(
    session: Session,
    franchise: Franchise,
    commission_bps: int,
    fixed_fee_fen: int = 0,
    franchisee: Franchisee | None = None,
) -> None:
    """The brand default rule, or ``franchisee``'s own; committed."""
    set_settlement_rule(
        session,
        franchise.world.system,
        franchisee.id if franchisee else None,
        SettlementRuleIn(commission_bps=commission_bps, fixed_fee_fen=fixed_fee_fen),
    )
    session.commit()


def paid_order(
    session: Session,
    db: Database,
    franchise: Franchise,
    store: Store,
    *,
    tees: int = 1,
    caps: int = 0,
    paid_at: datetime | None = None,
) -> Order:
    """An order of the store placed by checkout and paid through the sandbox (notification
    delivered). ``paid_at`` moves the moment of payment (order and payment) to the past, as if
    it had been paid then; it must be set before the ledger subscriber runs."""
    shopper = CheckoutShopper(
        brand_id=franchise.brand_id,
        consumer_id=franchise.shopper.consumer.id,
        label="consumer",
    )
    lines = [OrderLineIn(sku_id=franchise.tee.id, quantity=tees)] if tees else []
    if caps:
        lines.append(OrderLineIn(sku_id=franchise.cap.id, quantity=caps))
    order = place_order(
        session,
        shopper,
        store.id,
        PlaceOrder(lines=lines, fulfilment_method=FulfilmentMethod.PICKUP),
        idempotency_key=f"settlement-{next(_keys)}",
    ).order
    started = start_payment(
        session, shopper, order.id, get_pay_gateway(session, franchise.brand_id)
    )
    assert started.payment.prepay_id is not None
    sandbox_pay(session, started.payment.prepay_id)
    session.commit()
    run_payment_notifications(db)
    session.expire_all()
    paid = session.scalar(
        select(Order).where(Order.brand_id == franchise.brand_id, Order.id == order.id)
    )
    assert paid is not None and paid.payment_status == "paid", paid
    if paid_at is not None:
        paid.paid_at = paid_at
        payment = session.scalar(
            select(Payment).where(Payment.order_id == paid.id, Payment.status == "succeeded")
        )
        assert payment is not None
        payment.succeeded_at = paid_at
        session.commit()
    return paid


def refunded(
    session: Session,
    db: Database,
    order: Order,
    amount_fen: int,
    *,
    succeeded_at: datetime | None = None,
) -> Refund:
    """A refund of part of what was paid for ``order``, succeeded through the sandbox."""
    refund = refund_order(
        session,
        order.id,
        order.brand_id,
        amount_fen=amount_fen,
        reason="settlement test",
        idempotency_key=f"refund-{next(_keys)}",
        gateway=get_pay_gateway(session, order.brand_id),
        actor_label="test",
    )
    session.commit()
    run_payment_notifications(db)
    session.expire_all()
    done = session.scalar(select(Refund).where(Refund.id == refund.id))
    assert done is not None and done.status == "succeeded", done
    if succeeded_at is not None:
        done.succeeded_at = succeeded_at
        session.commit()
    return done


def ledger_registry() -> SubscriberRegistry:
    """A registry with only the settlement ledger subscriber."""
    registry = SubscriberRegistry()
    register(registry)
    return registry


def dispatch_all(db: Database, registry: SubscriberRegistry | None = None) -> int:
    """Deliver every due outbox event to the ledger subscriber; how many were claimed."""
    registry = registry or ledger_registry()
    claimed = 0
    while True:
        report = dispatch_pending(db, registry)
        assert report.failed == 0, report
        if not report.claimed:
            return claimed
        claimed += report.claimed
