"""The outbox: events commit with their change, and reach subscribers only after commit."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.access.rules import system_actor
from siyu.db.session import Database
from siyu.org.schemas import RegionCreate
from siyu.org.service import create_region
from siyu.outbox.dispatcher import SubscriberRegistry, dispatch_pending, run_dispatcher
from siyu.outbox.models import OutboxDelivery, OutboxEvent
from tests.factories import make_brand


class Recorder:
    """A fake subscriber that remembers what it saw and can be told to fail."""

    def __init__(self, failures: int = 0) -> None:
        self.seen: list[tuple[str, dict[str, object]]] = []
        self.failures = failures

    def __call__(self, session: Session, event: OutboxEvent) -> None:
        if self.failures:
            self.failures -= 1
            raise RuntimeError("downstream unavailable")
        self.seen.append((event.event_type, event.payload))


@pytest.fixture
def brand_id(db: Database) -> int:
    with db.unit_of_work() as session:
        return make_brand(session).id


def test_an_event_is_written_in_the_same_transaction_as_its_change(
    db: Database, brand_id: int
) -> None:
    # when a region is created and the transaction rolls back
    with pytest.raises(RuntimeError), db.unit_of_work() as session:
        create_region(session, system_actor(brand_id), RegionCreate(code="EAST", name="East"))
        raise RuntimeError("the request failed later")
    # then neither the region nor its event exists
    with db.sessions() as session:
        assert (
            session.scalar(
                select(func.count())
                .select_from(OutboxEvent)
                .where(OutboxEvent.event_type == "RegionCreated")
            )
            == 0
        )


def test_committed_events_reach_every_interested_subscriber_once(
    db: Database, brand_id: int
) -> None:
    # given two subscribers, one for regions only
    registry = SubscriberRegistry()
    everything, regions = Recorder(), Recorder()
    registry.add("everything", everything)
    registry.add("regions", regions, {"RegionCreated"})
    with db.unit_of_work() as session:
        region = create_region(
            session, system_actor(brand_id), RegionCreate(code="EAST", name="East")
        )
    # when the dispatcher runs twice
    first = dispatch_pending(db, registry)
    second = dispatch_pending(db, registry)
    # then each event went out once, with its payload
    assert (first.claimed, first.dispatched, first.failed) == (2, 2, 0)
    assert second.claimed == 0
    assert [t for t, _ in everything.seen] == ["BrandCreated", "RegionCreated"]
    assert regions.seen == [
        ("RegionCreated", {"region_id": region.id, "code": "EAST", "name": "East"})
    ]


def test_a_failing_subscriber_is_retried_without_repeating_the_others(
    db: Database, brand_id: int
) -> None:
    # given a subscriber that fails once
    registry = SubscriberRegistry()
    steady, flaky = Recorder(), Recorder(failures=1)
    registry.add("steady", steady, {"BrandCreated"})
    registry.add("flaky", flaky, {"BrandCreated"})
    # when dispatching, then again after the backoff
    first = dispatch_pending(db, registry)
    with db.sessions() as session:
        event = session.scalars(select(OutboxEvent)).one()
        assert event.dispatched_at is None
        assert event.attempts == 1
        assert event.last_error is not None and "downstream unavailable" in event.last_error
        retry_at = event.next_attempt_at
    too_early = dispatch_pending(db, registry)
    later = dispatch_pending(db, registry, now=retry_at)
    # then the steady one ran once, the flaky one succeeded on retry
    assert (first.dispatched, first.failed) == (0, 1)
    assert too_early.claimed == 0
    assert (later.dispatched, later.failed) == (1, 0)
    assert len(steady.seen) == 1
    assert len(flaky.seen) == 1
    with db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(OutboxDelivery)) == 2


@pytest.fixture
def running_dispatcher(db: Database) -> Iterator[tuple[Recorder, threading.Event]]:
    registry = SubscriberRegistry()
    recorder = Recorder()
    registry.add("recorder", recorder, {"RegionCreated"})
    stop = threading.Event()
    thread = threading.Thread(
        target=run_dispatcher,
        args=(db, stop),
        kwargs={"subscribers": registry, "poll_seconds": 30.0},
        daemon=True,
    )
    thread.start()
    time.sleep(0.3)
    try:
        yield recorder, stop
    finally:
        stop.set()
        thread.join(5)


def test_the_dispatcher_wakes_on_commit_without_polling(
    db: Database, brand_id: int, running_dispatcher: tuple[Recorder, threading.Event]
) -> None:
    # given a dispatcher that would poll only every 30 s
    recorder, _ = running_dispatcher
    # when a region is committed
    with db.unit_of_work() as session:
        create_region(session, system_actor(brand_id), RegionCreate(code="WEST", name="West"))
    # then the NOTIFY sent on commit delivers it within seconds
    deadline = time.monotonic() + 5
    while not recorder.seen and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [payload["code"] for _, payload in recorder.seen] == ["WEST"]
