"""Points and growth following the money: earned on payment (once, however often the event is
delivered), taken back on refund, expired by the daily job, spent and given back at checkout.
After every scenario the member row agrees with its ledgers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from siyu.consumers.models import Consumer
from siyu.core.clock import utc_now
from siyu.db.session import Database
from siyu.loyalty.events import MemberPointsExpired, MemberTierChanged
from siyu.loyalty.expiry import expire_points
from siyu.loyalty.jobs import expire_points_job
from siyu.loyalty.models import PointsEntry, PointsLot
from siyu.loyalty.rules import add_months
from siyu.loyalty.schemas import PointsAdjustmentIn
from siyu.loyalty.service import adjust_points, member_loyalty, retier_member
from siyu.loyalty.subscribers import on_order_event
from siyu.members.merging import merge_members
from siyu.members.models import Member
from siyu.orders.models import Order
from siyu.orders.service import cancel_overdue_orders
from siyu.outbox.models import OutboxEvent
from tests.factories_loyalty import (
    LoyalMall,
    assert_books_balance,
    build_loyal_mall,
    dispatch_all,
    give_points,
    ledger,
    make_member,
    member_row,
    paid_order,
    placed_order,
    refunded,
    set_ladder,
)


@pytest.fixture
def loyal(session: Session) -> LoyalMall:
    return build_loyal_mall(session)


def events_of(session: Session, event_type: str) -> list[OutboxEvent]:
    return list(
        session.scalars(
            select(OutboxEvent).where(OutboxEvent.event_type == event_type).order_by(OutboxEvent.id)
        )
    )


# ---------------------------------------------------------------- earning


def test_a_paid_order_earns_points_and_growth_and_moves_the_tier(
    session: Session, db: Database, loyal: LoyalMall
) -> None:
    # given a ladder: silver from 0, gold from 150 with points × 1.5
    set_ladder(session, loyal.world, ("silver", 0, 1000), ("gold", 150, 1500))
    assert member_row(session, loyal).tier_code == "silver"
    # when the member pays ¥198 (2 tees), then ¥99 (1 tee)
    first = paid_order(session, db, loyal, tees=2)
    second = paid_order(session, db, loyal, tees=1)
    # then the first earns at silver (×1) and lifts them to gold; the second earns at ×1.5
    assert ledger(session, loyal) == [
        ("earn", 198, 0, "order", 198),
        ("earn", 148, 0, "order", 346),
    ]
    member = member_row(session, loyal)
    assert (member.growth_value, member.tier_code, member.points_balance) == (297, "gold", 346)
    moves = [
        move
        for move in (
            MemberTierChanged.model_validate(e.payload)
            for e in events_of(session, "MemberTierChanged")
        )
        if move.member_id == loyal.member_id
    ]
    assert [(m.from_tier, m.to_tier, m.growth_value) for m in moves] == [
        (None, "silver", 0),
        ("silver", "gold", 198),
    ]
    # and the lot of the first order expires 12 months after its payment
    earn = session.scalar(select(PointsEntry).where(PointsEntry.order_id == first.id))
    assert earn is not None
    assert earn.expires_at == add_months(earn.occurred_at, 12)
    assert second.id != first.id
    assert_books_balance(session, loyal.brand_id, loyal.member_id)


def test_an_order_paid_event_delivered_twice_earns_once(
    session: Session, db: Database, loyal: LoyalMall
) -> None:
    # given a paid order whose OrderPaid was handled
    order = paid_order(session, db, loyal, tees=1)
    paid_event = events_of(session, "OrderPaid")[0]
    # when the same event is handed to the subscriber again (at-least-once delivery)
    on_order_event(session, paid_event)
    session.commit()
    # then the points and the growth were counted once
    assert ledger(session, loyal) == [("earn", 99, 0, "order", 99)]
    assert member_row(session, loyal).growth_value == 99
    assert order.payment_status == "paid"
    assert_books_balance(session, loyal.brand_id, loyal.member_id)


def test_a_consumer_who_is_no_member_earns_nothing(
    session: Session, db: Database, loyal: LoyalMall
) -> None:
    # given the consumer is detached from the member
    session.execute(
        update(Consumer).where(Consumer.id == loyal.mall.shopper.consumer.id).values(member_id=None)
    )
    session.commit()
    # when they pay an order
    paid_order(session, db, loyal, tees=1)
    # then no ledger row is written
    assert session.scalars(select(PointsEntry)).all() == []
    assert member_row(session, loyal).growth_value == 0


# ---------------------------------------------------------------- refunds


def test_a_full_refund_takes_back_the_points_and_the_tier(
    session: Session, db: Database, loyal: LoyalMall
) -> None:
    # given gold from 150, reached by a ¥198 order
    set_ladder(session, loyal.world, ("silver", 0, 1000), ("gold", 150, 1500))
    order = paid_order(session, db, loyal, tees=2)
    # when it is refunded in full
    refunded(session, db, order, 19_800)
    # then the points and growth are gone and the member is silver again
    assert ledger(session, loyal) == [
        ("earn", 198, 0, "order", 198),
        ("reverse_earn", -198, 0, "refund", 0),
    ]
    member = member_row(session, loyal)
    assert (member.growth_value, member.tier_code, member.points_balance) == (0, "silver", 0)
    assert_books_balance(session, loyal.brand_id, loyal.member_id)


def test_partial_refunds_take_back_in_proportion_and_what_was_spent_is_a_shortfall(
    session: Session, db: Database, loyal: LoyalMall
) -> None:
    # given ¥297 paid (3 tees): 297 points
    order = paid_order(session, db, loyal, tees=3)
    # and 200 of them spent on a second order (¥2 off ¥99)
    spending = paid_order(session, db, loyal, tees=1, points_to_spend=200)
    assert (spending.points_spent, spending.points_discount_fen, spending.paid_fen) == (
        200,
        200,
        9_700,
    )
    # when a third of the first order is refunded, then the rest
    refunded(session, db, order, 9_900)
    refunded(session, db, order, 19_800)
    # then the first part takes back 99 points (97 left of the order's lot, 2 of the second
    # order's); the rest wants 198 more but only 95 are left: it takes them and records the
    # 103 it could not take as a shortfall
    rows = ledger(session, loyal)
    assert rows == [
        ("earn", 297, 0, "order", 297),
        ("spend", -200, 0, "order", 97),
        ("earn", 97, 0, "order", 194),
        ("reverse_earn", -99, 0, "refund", 95),
        ("reverse_earn", -95, 103, "refund", 0),
    ]
    member = member_row(session, loyal)
    assert (member.points_balance, member.growth_value) == (0, 97)
    assert_books_balance(session, loyal.brand_id, loyal.member_id)


def test_refunding_an_order_paid_with_points_gives_them_back_in_proportion(
    session: Session, db: Database, loyal: LoyalMall
) -> None:
    # given 1,000 points, 500 of them spent on a ¥198 order (¥5 off: ¥193 paid, 193 earned)
    give_points(session, loyal, 1_000)
    order = paid_order(session, db, loyal, tees=2, points_to_spend=500)
    assert order.paid_fen == 19_300
    # when half the money is refunded, then the other half
    refunded(session, db, order, 9_650)
    refunded(session, db, order, 9_650)
    # then half the spent points come back each time, and the earned points go
    kinds = [(kind, delta) for kind, delta, *_ in ledger(session, loyal)]
    assert kinds == [
        ("adjust", 1_000),
        ("spend", -500),
        ("earn", 193),
        ("reverse_earn", -96),
        ("return_spend", 250),
        ("reverse_earn", -97),
        ("return_spend", 250),
    ]
    assert member_row(session, loyal).points_balance == 1_000
    # and the points given back keep the expiry of the lot they came from
    lots = session.scalars(select(PointsLot).order_by(PointsLot.id)).all()
    returned = [lot for lot in lots if lot.origin_lot_id is not None]
    assert {lot.expires_at for lot in returned} == {lots[0].expires_at}
    assert_books_balance(session, loyal.brand_id, loyal.member_id)


# ---------------------------------------------------------------- expiry


def test_the_daily_job_expires_lots_whose_time_has_come(
    session: Session, db: Database, loyal: LoyalMall
) -> None:
    # given two lots: 99 points earned on an order and 50 given by staff
    paid_order(session, db, loyal, tees=1)
    give_points(session, loyal, 50)
    # and 30 taken back by staff: from the lot expiring first, the order's
    give_points(session, loyal, -30)
    earn_lot, staff_lot = session.scalars(select(PointsLot).order_by(PointsLot.id)).all()
    assert (earn_lot.remaining, staff_lot.remaining) == (69, 50)
    # when the order's lot has expired (the staff lot has a year to go) and the job runs
    session.execute(
        update(PointsLot)
        .where(PointsLot.id == earn_lot.id)
        .values(expires_at=utc_now() - timedelta(hours=1))
    )
    session.commit()
    report = expire_points(session)
    session.commit()
    # then the 69 points left of it expire, with a ledger row naming the lot
    assert (report.members, report.points, report.lots) == (1, 69, 1)
    expired = session.scalars(select(PointsEntry).where(PointsEntry.kind == "expire")).all()
    assert [(e.delta, e.cause_type, e.cause_id, e.balance_after) for e in expired] == [
        (-69, "points_lot", earn_lot.id, 50)
    ]
    (event,) = events_of(session, "MemberPointsExpired")
    assert MemberPointsExpired.model_validate(event.payload) == MemberPointsExpired(
        member_id=loyal.member_id, points=69, lots=1, balance_after=50
    )
    # and running again changes nothing
    assert expire_points(session).members == 0
    session.commit()
    assert member_row(session, loyal).points_balance == 50
    assert_books_balance(session, loyal.brand_id, loyal.member_id)


def test_the_expiry_job_runs_over_every_due_lot(
    session: Session, db: Database, loyal: LoyalMall
) -> None:
    # given 2 lots already past their expiry
    give_points(session, loyal, 300)
    give_points(session, loyal, 200)
    session.execute(update(PointsLot).values(expires_at=utc_now() - timedelta(minutes=1)))
    session.commit()
    # when the periodic job runs
    expired = expire_points_job(0)
    # then both lots expire, each with its own row, the balance after each in order
    assert expired == 500
    session.expire_all()
    rows = session.scalars(
        select(PointsEntry).where(PointsEntry.kind == "expire").order_by(PointsEntry.cause_id)
    ).all()
    assert [(r.delta, r.balance_after) for r in rows] == [(-300, 200), (-200, 0)]
    assert_books_balance(session, loyal.brand_id, loyal.member_id)


# ---------------------------------------------------------------- cancelling


def test_cancelling_an_unpaid_order_gives_the_spent_points_back(
    session: Session, loyal: LoyalMall
) -> None:
    # given 800 points, 300 spent on an unpaid order
    give_points(session, loyal, 800)
    order = placed_order(session, loyal, tees=1, points_to_spend=300)
    assert member_row(session, loyal).points_balance == 500
    # when the payment deadline passes and the job cancels it (twice: nothing more)
    cancel_overdue_orders(session, now=order.payment_due_at + timedelta(seconds=1))
    session.commit()
    cancel_overdue_orders(session, now=order.payment_due_at + timedelta(seconds=2))
    session.commit()
    # then the 300 points are back
    assert [row[:2] for row in ledger(session, loyal)] == [
        ("adjust", 800),
        ("spend", -300),
        ("return_spend", 300),
    ]
    cancelled = session.get(Order, (loyal.brand_id, order.id))
    assert cancelled is not None and cancelled.lifecycle_status == "cancelled"
    assert_books_balance(session, loyal.brand_id, loyal.member_id)


# ---------------------------------------------------------------- the member 360


def test_the_member_summary_shows_tier_points_and_what_expires_soon(
    session: Session, db: Database, loyal: LoyalMall
) -> None:
    # given gold from 150, 99 earned, and a 40-point lot expiring in 10 days
    set_ladder(session, loyal.world, ("silver", 0, 1000), ("gold", 150, 1500))
    paid_order(session, db, loyal, tees=1)
    give_points(session, loyal, 40)
    soon = utc_now() + timedelta(days=10)
    session.execute(update(PointsLot).where(PointsLot.points == 40).values(expires_at=soon))
    session.commit()
    # when the 360 asks
    summary = member_loyalty(session, loyal.brand_id, loyal.member_id)
    # then
    assert (summary.tier_code, summary.tier_name, summary.growth_value) == ("silver", "Silver", 99)
    assert (summary.next_tier_code, summary.growth_to_next_tier) == ("gold", 51)
    assert (summary.points_balance, summary.points_expiring_soon) == (139, 40)
    assert summary.next_expiry_at == soon
    assert [(e.kind, e.delta) for e in summary.recent_entries] == [("adjust", 40), ("earn", 99)]


def test_merging_two_members_keeps_every_point_and_the_books_balanced(
    session: Session, db: Database, loyal: LoyalMall
) -> None:
    # given the member with 99 earned and 50 given, and another member with 70 given
    set_ladder(session, loyal.world, ("silver", 0, 1000), ("gold", 150, 1500))
    paid_order(session, db, loyal, tees=1)
    give_points(session, loyal, 50)
    other = make_member(session, loyal.world, home_store_id=loyal.world.direct_store.id)
    session.commit()
    adjust_points(
        session,
        loyal.world.system,
        other.id,
        PointsAdjustmentIn(delta=70, reason="other profile"),
        idempotency_key="merge-other-70",
    )
    session.commit()
    # when the other profile is merged into the member
    merge_members(session, loyal.brand_id, loyal.member_id, other.id, reason="test")
    session.commit()
    # then the survivor holds every point with every ledger row, and its books balance
    member = member_row(session, loyal)
    assert (member.points_balance, member.growth_value, member.tier_code) == (219, 99, "silver")
    assert sorted(delta for _, delta, *_ in ledger(session, loyal)) == [50, 70, 99]
    assert_books_balance(session, loyal.brand_id, loyal.member_id)
    assert_books_balance(session, loyal.brand_id, other.id)


def test_a_merge_that_sums_growth_past_a_threshold_moves_the_survivor_up_a_tier(
    session: Session, db: Database, loyal: LoyalMall
) -> None:
    # given gold from 150, the member at 99 growth (silver) and another profile at 60
    set_ladder(session, loyal.world, ("silver", 0, 1000), ("gold", 150, 1500))
    paid_order(session, db, loyal, tees=1)
    other = make_member(session, loyal.world, home_store_id=loyal.world.direct_store.id)
    session.execute(update(Member).where(Member.id == other.id).values(growth_value=60))
    session.commit()
    # when the profiles merge and the outbox delivers MembersMerged
    merge_members(session, loyal.brand_id, loyal.member_id, other.id, reason="test")
    session.commit()
    dispatch_all(db)
    # then the survivor's 159 growth reaches gold
    session.expire_all()
    assert (member_row(session, loyal).growth_value, member_row(session, loyal).tier_code) == (
        159,
        "gold",
    )


def test_a_member_whose_growth_was_summed_moves_to_the_tier_it_reaches(
    session: Session, loyal: LoyalMall
) -> None:
    # given gold from 150 and a silver member whose growth value a merge raised to 200
    set_ladder(session, loyal.world, ("silver", 0, 1000), ("gold", 150, 1500))
    session.execute(update(Member).where(Member.id == loyal.member_id).values(growth_value=200))
    # when the tier is settled
    retier_member(session, member_row(session, loyal))
    session.commit()
    # then the member is gold, and the move is published
    assert member_row(session, loyal).tier_code == "gold"
    last = events_of(session, "MemberTierChanged")[-1]
    assert MemberTierChanged.model_validate(last.payload) == MemberTierChanged(
        member_id=loyal.member_id, from_tier="silver", to_tier="gold", growth_value=200
    )
