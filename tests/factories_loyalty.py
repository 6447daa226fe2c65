"""Factories of tiers and points: a mall whose consumer is a member, a tier ladder, orders
placed, paid and refunded through checkout and the sandbox WeChat Pay, and the loyalty
subscriber on a registry of its own."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.consumers.models import Consumer
from siyu.core.clock import utc_now
from siyu.db.session import Database
from siyu.loyalty.models import GrowthEntry, PointsEntry, PointsLot
from siyu.loyalty.schemas import PointsAdjustmentIn, TierIn, TierSetIn
from siyu.loyalty.service import adjust_points, replace_tiers
from siyu.loyalty.subscribers import register
from siyu.members.identity import register_member
from siyu.members.models import Member
from siyu.orders.checkout import Shopper as CheckoutShopper
from siyu.orders.checkout import place_order
from siyu.orders.models import FulfilmentMethod, Order
from siyu.orders.payment import refund_order, start_payment
from siyu.orders.schemas import OrderLineIn, PlaceOrder
from siyu.outbox.dispatcher import SubscriberRegistry, dispatch_pending
from siyu.payments.models import Refund
from siyu.payments.service import get_pay_gateway
from siyu.staff.models import Staff
from siyu.wechat.sandbox_pay import sandbox_pay
from tests.factories import World
from tests.factories_mall import Mall, build_mall, run_payment_notifications

_keys = itertools.count(1)


@dataclass
class LoyalMall:
    """tests.factories_mall.build_mall whose consumer is a member of the direct store,
    acquired by the store's guide."""

    mall: Mall
    member_id: int

    @property
    def world(self) -> World:
        return self.mall.world

    @property
    def brand_id(self) -> int:
        return self.mall.world.brand.id


def make_member(
    session: Session,
    world: World,
    *,
    consumer: Consumer | None = None,
    home_store_id: int | None = None,
    guide: Staff | None = None,
) -> Member:
    member = register_member(
        session,
        world.brand.id,
        identities=[],
        source="test",
        joined_at=utc_now(),
        join_channel="test",
        home_store_id=home_store_id,
        source_guide_staff_id=guide.id if guide is not None else None,
    )
    if consumer is not None:
        consumer.member_id = member.id
    session.flush()
    return member


def build_loyal_mall(session: Session) -> LoyalMall:
    mall = build_mall(session)
    consumer = session.get(Consumer, (mall.world.brand.id, mall.shopper.consumer.id))
    assert consumer is not None
    member = make_member(
        session,
        mall.world,
        consumer=consumer,
        home_store_id=mall.world.direct_store.id,
        guide=mall.world.staff["guide"],
    )
    session.commit()
    return LoyalMall(mall, member.id)


def set_ladder(session: Session, world: World, *tiers: tuple[str, int, int]) -> None:
    """(code, min growth value, multiplier permille) from the lowest up; committed."""
    replace_tiers(
        session,
        world.system,
        TierSetIn(
            tiers=[
                TierIn(
                    code=code,
                    name=code.title(),
                    min_growth_value=threshold,
                    points_multiplier_permille=multiplier,
                    sort=index + 1,
                )
                for index, (code, threshold, multiplier) in enumerate(tiers)
            ]
        ),
    )
    session.commit()


def give_points(session: Session, loyal: LoyalMall, points: int) -> None:
    adjust_points(
        session,
        loyal.world.system,
        loyal.member_id,
        PointsAdjustmentIn(delta=points, reason="test"),
        idempotency_key=f"give-{next(_keys)}",
    )
    session.commit()


def loyalty_registry() -> SubscriberRegistry:
    registry = SubscriberRegistry()
    register(registry)
    return registry


def dispatch_all(db: Database) -> None:
    """Deliver every due outbox event to the loyalty subscriber."""
    registry = loyalty_registry()
    while True:
        report = dispatch_pending(db, registry)
        assert report.failed == 0, report
        if not report.claimed:
            return


def shopper_of(loyal: LoyalMall) -> CheckoutShopper:
    return CheckoutShopper(
        brand_id=loyal.brand_id, consumer_id=loyal.mall.shopper.consumer.id, label="consumer"
    )


def placed_order(
    session: Session, loyal: LoyalMall, *, tees: int = 2, points_to_spend: int = 0
) -> Order:
    """An unpaid pickup order of ``tees`` S tees (¥99 each), committed."""
    order = place_order(
        session,
        shopper_of(loyal),
        loyal.mall.store_id,
        PlaceOrder(
            lines=[OrderLineIn(sku_id=loyal.mall.tee_s.id, quantity=tees)],
            fulfilment_method=FulfilmentMethod.PICKUP,
            points_to_spend=points_to_spend,
        ),
        idempotency_key=f"loyalty-{next(_keys)}",
    ).order
    session.commit()
    return order


def paid_order(
    session: Session, db: Database, loyal: LoyalMall, *, tees: int = 2, points_to_spend: int = 0
) -> Order:
    """An order placed and paid through the sandbox, its events delivered to loyalty."""
    order = placed_order(session, loyal, tees=tees, points_to_spend=points_to_spend)
    started = start_payment(
        session, shopper_of(loyal), order.id, get_pay_gateway(session, loyal.brand_id)
    )
    assert started.payment.prepay_id is not None
    sandbox_pay(session, started.payment.prepay_id)
    session.commit()
    run_payment_notifications(db)
    dispatch_all(db)
    session.expire_all()
    paid = session.get(Order, (loyal.brand_id, order.id))
    assert paid is not None and paid.payment_status == "paid", paid
    return paid


def refunded(session: Session, db: Database, order: Order, amount_fen: int) -> Refund:
    """A refund of ``amount_fen`` of the order, succeeded, its events delivered to loyalty."""
    refund = refund_order(
        session,
        order.id,
        order.brand_id,
        amount_fen=amount_fen,
        reason="loyalty test",
        idempotency_key=f"refund-{next(_keys)}",
        gateway=get_pay_gateway(session, order.brand_id),
        actor_label="test",
    )
    session.commit()
    run_payment_notifications(db)
    dispatch_all(db)
    session.expire_all()
    done = session.get(Refund, (order.brand_id, refund.id))
    assert done is not None and done.status == "succeeded", done
    return done


def member_row(session: Session, loyal: LoyalMall) -> Member:
    session.expire_all()
    member = session.get(Member, (loyal.brand_id, loyal.member_id))
    assert member is not None
    return member


def ledger(session: Session, loyal: LoyalMall) -> list[tuple[str, int, int, str, int]]:
    """(kind, delta, shortfall, cause_type, balance_after) of the member's points, oldest first."""
    rows = session.scalars(
        select(PointsEntry)
        .where(PointsEntry.brand_id == loyal.brand_id, PointsEntry.member_id == loyal.member_id)
        .order_by(PointsEntry.id)
    ).all()
    return [(r.kind, r.delta, r.shortfall, r.cause_type, r.balance_after) for r in rows]


def assert_books_balance(session: Session, brand_id: int, member_id: int) -> None:
    """The member row agrees with its ledgers: balance = the points ledger's sum = the points
    left in lots; growth value = the growth ledger's sum."""
    session.expire_all()
    member = session.get(Member, (brand_id, member_id))
    assert member is not None
    ledger_sum = session.scalar(
        select(func.coalesce(func.sum(PointsEntry.delta), 0)).where(
            PointsEntry.brand_id == brand_id, PointsEntry.member_id == member_id
        )
    )
    lots_sum = session.scalar(
        select(func.coalesce(func.sum(PointsLot.remaining), 0)).where(
            PointsLot.brand_id == brand_id, PointsLot.member_id == member_id
        )
    )
    growth_sum = session.scalar(
        select(func.coalesce(func.sum(GrowthEntry.delta), 0)).where(
            GrowthEntry.brand_id == brand_id, GrowthEntry.member_id == member_id
        )
    )
    assert member.points_balance == ledger_sum == lots_sum, (
        member.points_balance,
        ledger_sum,
        lots_sum,
    )
    assert member.growth_value == growth_sum
