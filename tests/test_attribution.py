"""Attribution end to end: order credit on payment and refund (through the outbox), the brand's
model settings and the recompute they trigger, and the acquisition touchpoint on joining."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from siyu.attribution import subscribers
from siyu.attribution.models import AttributionSetting
from siyu.attribution.recompute import recompute_brand
from siyu.attribution.rules import AttributionModel
from siyu.attribution.schemas import AttributionSettingsIn
from siyu.attribution.service import (
    RECOMPUTE_TASK,
    change_settings,
    credit_order,
    order_credits,
    recompute_pending,
)
from siyu.consumers.events import ConsumerLoggedIn
from siyu.db.session import Database
from siyu.members.events import MemberJoined
from siyu.members.models import Member
from siyu.orders.events import OrderPaid, OrderRefunded
from siyu.orders.models import Order
from siyu.outbox.dispatcher import SubscriberRegistry, dispatch_pending
from siyu.outbox.models import OutboxEvent
from tests.factories import World, build_world
from tests.factories_attribution import (
    add_event,
    make_buyer,
    make_member,
    make_paid_order,
    publish,
)
from tests.factories_touchpoints import make_touchpoint
from tests.helpers import assert_problem, row_counts

NOW = datetime(2026, 3, 20, 4, 0, tzinfo=UTC)


def credits_of(
    session: Session, brand_id: int, order_id: int
) -> list[tuple[int | None, int, int, str]]:
    session.expire_all()
    return [
        (c.touchpoint_id, c.credit_permille, c.credited_fen, c.model)
        for c in order_credits(session, brand_id, order_id)
    ]


def attribution_registry() -> SubscriberRegistry:
    registry = SubscriberRegistry()
    subscribers.register(registry)
    return registry


def use_model(session: Session, world: World, model: AttributionModel, **params: int) -> None:
    change_settings(session, world.system, AttributionSettingsIn(model=model, **params))
    session.execute(text("DELETE FROM procrastinate_jobs"))


@pytest.fixture
def world(session: Session) -> World:
    built = build_world(session)
    session.commit()
    return built


@pytest.fixture
def three_touchpoints(session: Session, world: World) -> tuple[int, int, int]:
    ids = tuple(
        make_touchpoint(session, world.system, store_id=world.direct_store.id).touchpoint.id
        for _ in range(3)
    )
    session.commit()
    return ids  # type: ignore[return-value]


# ---------------------------------------------------------------- order credit


def test_a_paid_order_is_credited_to_the_members_touches_and_its_own_scene(
    session: Session, db: Database, world: World, three_touchpoints: tuple[int, int, int]
) -> None:
    # given a linear model, a member who scanned A three days and visited B one day before
    # ordering, and an order placed from scene C
    a, b, c = three_touchpoints
    brand_id = world.brand.id
    use_model(session, world, AttributionModel.LINEAR)
    buyer = make_buyer(session, brand_id)
    assert buyer.member is not None
    add_event(
        session,
        brand_id,
        kind="scan",
        at=NOW - timedelta(days=3),
        member_id=buyer.member.id,
        touchpoint_id=a,
    )
    add_event(
        session,
        brand_id,
        kind="visit",
        at=NOW - timedelta(days=1),
        member_id=buyer.member.id,
        touchpoint_id=b,
    )
    order = make_paid_order(
        session, buyer, world.direct_store.id, amount_fen=10_000, placed_at=NOW, touchpoint_id=c
    )
    publish(
        session,
        brand_id,
        OrderPaid(
            order_id=order.id, selling_store_id=world.direct_store.id, paid_fen=10_000, payment_id=1
        ),
    )
    session.commit()
    # when the outbox delivers OrderPaid
    report = dispatch_pending(db, attribution_registry())
    # then the order's 1000 permille and 100.00 yuan are shared by A, B and C
    assert report.failed == 0
    assert credits_of(session, brand_id, order.id) == [
        (a, 333, 3_333, "linear"),
        (b, 333, 3_333, "linear"),
        (c, 334, 3_334, "linear"),
    ]


def test_crediting_again_replaces_the_rows_with_the_same_ones(
    session: Session, world: World, three_touchpoints: tuple[int, int, int]
) -> None:
    # given an order already credited (position-based, default 40/20/40)
    a, b, c = three_touchpoints
    brand_id = world.brand.id
    use_model(session, world, AttributionModel.POSITION_BASED)
    buyer = make_buyer(session, brand_id)
    assert buyer.member is not None
    for touchpoint, days in ((a, 5), (b, 4)):
        add_event(
            session,
            brand_id,
            kind="scan",
            at=NOW - timedelta(days=days),
            member_id=buyer.member.id,
            touchpoint_id=touchpoint,
        )
    order = make_paid_order(
        session, buyer, world.direct_store.id, amount_fen=999, placed_at=NOW, touchpoint_id=c
    )
    credit_order(session, brand_id, order.id)
    first = credits_of(session, brand_id, order.id)
    # when the event is delivered again (at least once delivery)
    credit_order(session, brand_id, order.id)
    credit_order(session, brand_id, order.id)
    # then the rows are the same and not duplicated
    assert (
        credits_of(session, brand_id, order.id)
        == first
        == [
            (a, 400, 399, "position_based"),
            (b, 200, 200, "position_based"),
            (c, 400, 400, "position_based"),
        ]
    )


def test_touches_outside_the_window_of_other_kinds_or_people_do_not_count(
    session: Session, world: World, three_touchpoints: tuple[int, int, int]
) -> None:
    # given a 7-day window (last touch), and events that must be ignored
    a, b, c = three_touchpoints
    brand_id = world.brand.id
    use_model(session, world, AttributionModel.LAST_TOUCH, lookback_days=7)
    buyer = make_buyer(session, brand_id)
    other = make_buyer(session, brand_id)
    assert buyer.member is not None and other.member is not None
    member_id = buyer.member.id
    add_event(
        session,
        brand_id,
        kind="scan",
        at=NOW - timedelta(days=6),
        member_id=member_id,
        touchpoint_id=a,
    )
    add_event(
        session,
        brand_id,
        kind="scan",
        at=NOW - timedelta(days=8),
        member_id=member_id,
        touchpoint_id=b,
    )
    add_event(
        session,
        brand_id,
        kind="view_item",
        at=NOW - timedelta(days=1),
        member_id=member_id,
        touchpoint_id=b,
    )
    add_event(
        session,
        brand_id,
        kind="visit",
        at=NOW + timedelta(minutes=5),
        member_id=member_id,
        touchpoint_id=b,
    )
    add_event(
        session,
        brand_id,
        kind="visit",
        at=NOW - timedelta(days=1),
        member_id=other.member.id,
        touchpoint_id=c,
    )
    add_event(session, brand_id, kind="visit", at=NOW - timedelta(days=1), member_id=member_id)
    order = make_paid_order(session, buyer, world.direct_store.id, amount_fen=500, placed_at=NOW)
    # when
    credit_order(session, brand_id, order.id)
    # then only the scan six days before counts
    assert credits_of(session, brand_id, order.id) == [(a, 1000, 500, "last_touch")]


def test_an_order_without_any_touch_is_unattributed(session: Session, world: World) -> None:
    buyer = make_buyer(session, world.brand.id)
    order = make_paid_order(
        session,
        buyer,
        world.direct_store.id,
        amount_fen=4_200,
        placed_at=NOW,
        touchpoint_id=999_999,
    )
    credit_order(session, world.brand.id, order.id)
    # an unknown touchpoint id on the order is no touch either
    assert credits_of(session, world.brand.id, order.id) == [(None, 1000, 4_200, "last_touch")]


def test_a_consumer_without_a_member_is_credited_to_the_orders_scene(
    session: Session, world: World, three_touchpoints: tuple[int, int, int]
) -> None:
    a, _, _ = three_touchpoints
    buyer = make_buyer(session, world.brand.id, with_member=False)
    order = make_paid_order(
        session, buyer, world.direct_store.id, amount_fen=100, placed_at=NOW, touchpoint_id=a
    )
    credit_order(session, world.brand.id, order.id)
    assert credits_of(session, world.brand.id, order.id) == [(a, 1000, 100, "last_touch")]


def test_an_unpaid_order_gets_no_credit(session: Session, world: World) -> None:
    buyer = make_buyer(session, world.brand.id)
    order = make_paid_order(session, buyer, world.direct_store.id, amount_fen=100, placed_at=NOW)
    order.paid_at = None
    order.payment_status = "unpaid"
    session.flush()
    assert credit_order(session, world.brand.id, order.id) == []
    assert credits_of(session, world.brand.id, order.id) == []


def test_a_refund_scales_the_credits_down(
    session: Session, db: Database, world: World, three_touchpoints: tuple[int, int, int]
) -> None:
    # given an order of 100.00 credited half to A and half to C (linear)
    a, _, c = three_touchpoints
    brand_id = world.brand.id
    use_model(session, world, AttributionModel.LINEAR)
    buyer = make_buyer(session, brand_id)
    assert buyer.member is not None
    add_event(
        session,
        brand_id,
        kind="scan",
        at=NOW - timedelta(hours=2),
        member_id=buyer.member.id,
        touchpoint_id=a,
    )
    order = make_paid_order(
        session, buyer, world.direct_store.id, amount_fen=10_000, placed_at=NOW, touchpoint_id=c
    )
    credit_order(session, brand_id, order.id)
    assert credits_of(session, brand_id, order.id) == [
        (a, 500, 5_000, "linear"),
        (c, 500, 5_000, "linear"),
    ]
    # when 30.01 is refunded and OrderRefunded is delivered
    order.refunded_fen = 3_001
    order.payment_status = "partially_refunded"
    publish(
        session,
        brand_id,
        OrderRefunded(
            order_id=order.id, selling_store_id=world.direct_store.id, refund_id=1, amount_fen=3_001
        ),
    )
    session.commit()
    dispatch_pending(db, attribution_registry())
    # then 69.99 remains credited, the odd fen to the most recent touch; the shares stay
    assert credits_of(session, brand_id, order.id) == [
        (a, 500, 3_499, "linear"),
        (c, 500, 3_500, "linear"),
    ]
    # and a full refund leaves nothing credited
    session.get(Order, (brand_id, order.id)).refunded_fen = 10_000  # type: ignore[union-attr]
    credit_order(session, brand_id, order.id)
    assert [fen for _, _, fen, _ in credits_of(session, brand_id, order.id)] == [0, 0]


# ---------------------------------------------------------------- settings and recompute


def queued_recomputes(session: Session) -> list[tuple[str, str]]:
    return [
        (row.status, row.args["brand_id"])
        for row in session.execute(
            text("SELECT status, args FROM procrastinate_jobs WHERE task_name = :task"),
            {"task": RECOMPUTE_TASK},
        )
    ]


def test_the_default_model_is_last_touch_over_30_days(client: TestClient, world: World) -> None:
    response = client.get("/api/attribution/settings", headers=world.headers("region_manager"))
    assert response.status_code == 200
    assert response.json() == {
        "model": "last_touch",
        "model_label": "Last touch 末次触点",
        "lookback_days": 30,
        "position_first_percent": 40,
        "position_middle_percent": 20,
        "position_last_percent": 40,
        "half_life_days": 7,
        "customized": False,
        "updated_at": None,
        "recompute_pending": False,
    }


def test_changing_the_model_re_attributes_every_paid_order(
    session: Session,
    client: TestClient,
    db: Database,
    world: World,
    three_touchpoints: tuple[int, int, int],
) -> None:
    # given two orders credited under last touch
    a, b, _ = three_touchpoints
    brand_id = world.brand.id
    buyer = make_buyer(session, brand_id)
    assert buyer.member is not None
    add_event(
        session,
        brand_id,
        kind="scan",
        at=NOW - timedelta(days=2),
        member_id=buyer.member.id,
        touchpoint_id=a,
    )
    first = make_paid_order(
        session, buyer, world.direct_store.id, amount_fen=1_000, placed_at=NOW, touchpoint_id=b
    )
    second = make_paid_order(
        session, buyer, world.direct_store.id, amount_fen=300, placed_at=NOW + timedelta(days=1)
    )
    for order in (first, second):
        credit_order(session, brand_id, order.id)
    session.commit()
    assert credits_of(session, brand_id, first.id) == [(b, 1000, 1_000, "last_touch")]
    # when HQ chooses first touch over 14 days
    response = client.put(
        "/api/attribution/settings",
        json={"model": "first_touch", "lookback_days": 14},
        headers=world.headers("hq_operator"),
    )
    # then the change is saved, announced, audited and a recompute job is queued
    assert response.status_code == 200, response.text
    assert response.json()["model"] == "first_touch"
    assert response.json()["recompute_pending"] is True
    changed = session.scalars(
        select(OutboxEvent).where(OutboxEvent.event_type == "AttributionModelChanged")
    ).one()
    assert changed.payload == {
        "attribution_setting_id": changed.payload["attribution_setting_id"],
        "model": "first_touch",
        "lookback_days": 14,
        "previous_model": "last_touch",
        "previous_lookback_days": 30,
    }
    assert (
        session.scalar(
            text("SELECT count(*) FROM audit_entry WHERE object_type = 'attribution_setting'")
        )
        == 1
    )
    assert queued_recomputes(session) == [("todo", brand_id)]
    # and a second change while the job waits queues nothing more
    client.put(
        "/api/attribution/settings",
        json={"model": "linear", "lookback_days": 14},
        headers=world.headers("hq_operator"),
    )
    assert queued_recomputes(session) == [("todo", brand_id)]
    # when the job runs (the newest settings: linear over 14 days)
    report = recompute_brand(db.unit_of_work, brand_id, batch_size=1)
    # then both orders are re-attributed
    assert (report.orders, report.batches) == (2, 2)
    assert credits_of(session, brand_id, first.id) == [
        (a, 500, 500, "linear"),
        (b, 500, 500, "linear"),
    ]
    assert credits_of(session, brand_id, second.id) == [(a, 1000, 300, "linear")]


def test_the_recompute_job_runs_on_the_worker(session: Session, db: Database, world: World) -> None:
    from siyu.jobs.app import make_job_app

    buyer = make_buyer(session, world.brand.id)
    order = make_paid_order(session, buyer, world.direct_store.id, amount_fen=700, placed_at=NOW)
    change_settings(session, world.system, AttributionSettingsIn(model=AttributionModel.TIME_DECAY))
    session.commit()
    assert recompute_pending(session, world.brand.id)
    app = make_job_app(db.url)
    with app.open():
        app.run_worker(queues=["attribution"], wait=False, install_signal_handlers=False)
    assert credits_of(session, world.brand.id, order.id) == [(None, 1000, 700, "time_decay")]
    assert not recompute_pending(session, world.brand.id)


def test_saving_the_same_settings_queues_nothing(session: Session, world: World) -> None:
    use_model(session, world, AttributionModel.LINEAR)
    change_settings(
        session,
        world.system,
        AttributionSettingsIn(model=AttributionModel.LINEAR, half_life_days=3),
    )
    assert queued_recomputes(session) == []
    assert session.scalars(
        select(OutboxEvent.event_type).where(OutboxEvent.event_type == "AttributionModelChanged")
    ).all() == ["AttributionModelChanged"]


def test_position_percentages_that_do_not_add_up_are_refused(
    session: Session, client: TestClient, world: World
) -> None:
    before = row_counts(session)
    response = client.put(
        "/api/attribution/settings",
        json={"model": "position_based", "position_first_percent": 50},
        headers=world.headers("brand_admin"),
    )
    body = assert_problem(response, 422, "invalid_attribution_settings")
    assert body["field"] == "position_first_percent"
    assert row_counts(session) == before


@pytest.mark.parametrize("who", ["region_manager", "franchisee_owner", "store_manager", "guide"])
def test_only_hq_may_change_the_model(
    session: Session, client: TestClient, world: World, who: str
) -> None:
    before = row_counts(session)
    response = client.put(
        "/api/attribution/settings", json={"model": "linear"}, headers=world.headers(who)
    )
    assert_problem(response, 403, "permission_denied")
    assert row_counts(session) == before
    assert session.scalar(select(AttributionSetting.id)) is None


def test_a_guide_may_not_read_the_model(client: TestClient, world: World) -> None:
    response = client.get("/api/attribution/settings", headers=world.headers("guide"))
    assert_problem(response, 403, "permission_denied")


# ---------------------------------------------------------------- acquisition


def test_a_member_who_joins_without_a_source_gets_their_last_touch(
    session: Session, db: Database, world: World, three_touchpoints: tuple[int, int, int]
) -> None:
    # given a member who scanned A 40 days and B 2 days before joining without a source
    a, b, _ = three_touchpoints
    brand_id = world.brand.id
    member = make_member(session, brand_id, joined_at=NOW)
    add_event(
        session,
        brand_id,
        kind="scan",
        at=NOW - timedelta(days=40),
        member_id=member.id,
        touchpoint_id=a,
    )
    add_event(
        session,
        brand_id,
        kind="scan",
        at=NOW - timedelta(days=2),
        member_id=member.id,
        touchpoint_id=b,
    )
    session.commit()
    # when MemberJoined (recorded by register_member) is delivered
    dispatch_pending(db, attribution_registry())
    # then B, inside the 30-day window, is the acquisition touchpoint; its store fills in
    session.expire_all()
    joined = session.get(Member, (brand_id, member.id))
    assert joined is not None
    assert (joined.source_touchpoint_id, joined.source_store_id) == (b, world.direct_store.id)
    attributed = session.scalars(
        select(OutboxEvent.payload).where(OutboxEvent.event_type == "MemberAcquisitionAttributed")
    ).all()
    assert attributed == [{"member_id": member.id, "source_touchpoint_id": b}]


def test_a_member_with_a_source_or_without_touches_keeps_it(
    session: Session, db: Database, world: World, three_touchpoints: tuple[int, int, int]
) -> None:
    a, b, _ = three_touchpoints
    brand_id = world.brand.id
    sourced = make_member(session, brand_id, joined_at=NOW, source_touchpoint_id=a)
    add_event(
        session,
        brand_id,
        kind="scan",
        at=NOW - timedelta(days=1),
        member_id=sourced.id,
        touchpoint_id=b,
    )
    unknown = make_member(session, brand_id, joined_at=NOW)
    session.commit()
    dispatch_pending(db, attribution_registry())
    dispatch_pending(db, attribution_registry())
    session.expire_all()
    assert session.get(Member, (brand_id, sourced.id)).source_touchpoint_id == a  # type: ignore[union-attr]
    assert session.get(Member, (brand_id, unknown.id)).source_touchpoint_id is None  # type: ignore[union-attr]


def test_anonymous_touches_count_when_the_login_names_the_visitor(
    session: Session, db: Database, world: World, three_touchpoints: tuple[int, int, int]
) -> None:
    # given a visitor who scanned C anonymously, then joined (the stitch has not run yet)
    _, _, c = three_touchpoints
    brand_id = world.brand.id
    add_event(
        session,
        brand_id,
        kind="scan",
        at=NOW - timedelta(minutes=3),
        touchpoint_id=c,
        anonymous_id="anon-1",
    )
    member = make_member(session, brand_id, joined_at=NOW)
    buyer = make_buyer(session, brand_id, with_member=False)
    session.commit()
    dispatch_pending(db, attribution_registry())
    assert session.get(Member, (brand_id, member.id)).source_touchpoint_id is None  # type: ignore[union-attr]
    # when the login that names the visitor's anonymous id is delivered
    payload = {"consumer_id": buyer.consumer.id, "consumer_session_id": 1}
    event = OutboxEvent(
        brand_id=brand_id,
        event_type=ConsumerLoggedIn.event_type(),
        aggregate_type="consumer",
        aggregate_id=str(buyer.consumer.id),
        payload={**payload, "member_id": member.id, "anonymous_id": "anon-1"},
    )
    session.add(event)
    session.commit()
    dispatch_pending(db, attribution_registry())
    # then C is the member's source
    session.expire_all()
    assert session.get(Member, (brand_id, member.id)).source_touchpoint_id == c  # type: ignore[union-attr]


def test_member_joined_events_are_what_the_subscriber_listens_to() -> None:
    registry = attribution_registry()
    assert {s.name for s in registry.for_event(MemberJoined.event_type())} == {
        "attribution.acquisition"
    }
    assert {s.name for s in registry.for_event(OrderPaid.event_type())} == {
        "attribution.order_credit"
    }
    assert {s.name for s in registry.for_event(OrderRefunded.event_type())} == {
        "attribution.order_credit"
    }


def test_two_deliveries_for_one_order_run_one_after_the_other(
    session: Session, db: Database, world: World, three_touchpoints: tuple[int, int, int]
) -> None:
    # given an order, credited in an open transaction (a dispatcher mid-batch)
    import threading

    a, _, _ = three_touchpoints
    brand_id = world.brand.id
    buyer = make_buyer(session, brand_id)
    order = make_paid_order(
        session, buyer, world.direct_store.id, amount_fen=800, placed_at=NOW, touchpoint_id=a
    )
    session.commit()
    first = db.sessions()
    with first as first_session:
        credit_order(first_session, brand_id, order.id)
        # when a second delivery for the same order starts in another transaction
        done = threading.Event()

        def second_delivery() -> None:
            with db.unit_of_work() as second_session:
                credit_order(second_session, brand_id, order.id)
            done.set()

        thread = threading.Thread(target=second_delivery)
        thread.start()
        # then it waits for the first to end
        assert not done.wait(0.5)
        first_session.commit()
    thread.join(10)
    assert done.is_set()
    # and the order has one set of credits
    assert credits_of(session, brand_id, order.id) == [(a, 1000, 800, "last_touch")]


def test_an_order_paid_while_earlier_events_are_loading_is_credited_once_they_are_loaded(
    session: Session, db: Database, world: World
) -> None:
    from siyu.tracking.credentials import Principal
    from siyu.tracking.ingestion import EventIngestor
    from tests.factories_tracking import load_events, queue_batch

    # given a member whose scan of a shelf code was accepted an hour before paying, not loaded
    brand_id = world.brand.id
    shelf = make_touchpoint(session, world.system, store_id=world.direct_store.id)
    buyer = make_buyer(session, brand_id)
    assert buyer.member is not None
    session.commit()
    ingestor = EventIngestor(db, background=False)
    scan = {
        "event_id": "scan-before-pay",
        "kind": "scan",
        "occurred_at": (NOW - timedelta(hours=2)).isoformat(),
        "scene_key": shelf.codes[0].scene_key,
    }
    queue_batch(
        ingestor,
        Principal(brand_id, buyer.consumer.id, buyer.member.id),
        [scan],
        received_at=NOW - timedelta(hours=1),
    )
    ingestor.flush()
    ingestor.stop()
    order = make_paid_order(session, buyer, world.direct_store.id, amount_fen=500, placed_at=NOW)
    publish(
        session,
        brand_id,
        OrderPaid(
            order_id=order.id, selling_store_id=world.direct_store.id, paid_fen=500, payment_id=1
        ),
    )
    session.commit()
    # when the outbox delivers OrderPaid before the loader ran
    first = dispatch_pending(db, attribution_registry())
    # then the payment's delivery (and the member's join) waits to be retried, uncredited
    assert first.failed == 2
    waiting = session.scalars(
        select(OutboxEvent).where(OutboxEvent.dispatched_at.is_(None)).order_by(OutboxEvent.id)
    ).all()
    assert [(e.event_type, e.attempts) for e in waiting] == [("MemberJoined", 1), ("OrderPaid", 1)]
    assert "still loading" in (waiting[1].last_error or "")
    assert credits_of(session, brand_id, order.id) == []
    # and once the scan is loaded, the retry credits the shelf code
    load_events(db)
    retried = dispatch_pending(db, attribution_registry(), now=NOW + timedelta(days=365))
    assert (retried.dispatched, retried.failed) == (2, 0)
    assert credits_of(session, brand_id, order.id) == [
        (shelf.touchpoint.id, 1000, 500, "last_touch")
    ]
