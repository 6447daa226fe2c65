"""Group commit and loading, deterministically: batches are queued on an ingestor without
flusher threads and flushed explicitly, then loaded by a loader run explicitly."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from siyu.consumers.models import Consumer
from siyu.core.errors import NotAuthenticated
from siyu.db.session import Database
from siyu.members.models import Member
from siyu.tracking.credentials import Principal, credential_of
from siyu.tracking.errors import InvalidWriteKey
from siyu.tracking.ingestion import EventIngestor
from siyu.tracking.loading import EventLoader, LoadResult
from siyu.tracking.models import TrackingBatch
from siyu.tracking.service import key_digest
from tests.factories import World, build_world
from tests.factories_consumers import Shopper, make_consumer
from tests.factories_tracking import (
    event,
    load_events,
    make_write_key,
    queue_batch,
    stored_events,
)
from tests.helpers import row_counts


@pytest.fixture
def ingestor(db: Database) -> Iterator[EventIngestor]:
    ingestor = EventIngestor(db, background=False)
    yield ingestor
    ingestor.stop()


@pytest.fixture
def world(session: Session) -> World:
    world = build_world(session)
    session.commit()
    return world


@pytest.fixture
def shopper(session: Session, world: World) -> Shopper:
    shopper = make_consumer(session, world.brand, "alice")
    session.commit()
    return shopper


def consumer_of(shopper: Shopper) -> Principal:
    return Principal(shopper.consumer.brand_id, shopper.consumer.id, shopper.consumer.member_id)


def batches_waiting(session: Session) -> list[tuple[int, int, list[int]]]:
    """(brand_id, event_count, skipped) of the batches not loaded yet, in order."""
    session.expire_all()
    return [
        (row.brand_id, row.event_count, row.skipped)
        for row in session.scalars(select(TrackingBatch).order_by(TrackingBatch.id))
    ]


def loader_jobs(session: Session) -> int:
    return int(
        session.execute(
            text(
                "SELECT count(*) FROM procrastinate_jobs"
                " WHERE task_name = 'siyu:load_tracking_events' AND status = 'todo'"
            )
        ).scalar_one()
    )


def test_nothing_is_written_until_the_flush_and_then_every_batch_is_answered(
    db: Database, session: Session, ingestor: EventIngestor, world: World, shopper: Shopper
) -> None:
    # given two requests' batches queued, the second repeating an event of the first
    first = queue_batch(ingestor, consumer_of(shopper), [event(event_id="a"), event(event_id="b")])
    second = queue_batch(
        ingestor, Principal(world.brand.id), [event(event_id="b"), event(event_id="c")]
    )
    # then nothing is stored yet and nobody is answered
    assert batches_waiting(session) == []
    assert not first.finished and not second.finished
    # when the ingestor flushes
    assert ingestor.flush() == 2
    # then both are appended in one transaction, answered, and one loader job is queued
    assert (first.outcome().accepted, first.outcome().duplicates) == (2, 0)
    assert (second.outcome().accepted, second.outcome().duplicates) == (2, 0)
    assert first.finished and second.finished
    assert batches_waiting(session) == [(world.brand.id, 2, []), (world.brand.id, 2, [])]
    assert loader_jobs(session) == 1
    assert stored_events(session, world.brand.id) == []
    assert ingestor.flush() == 0
    # and once loaded, the repeated event is stored once and the batches are gone
    assert load_events(db) == 3
    rows = stored_events(session, world.brand.id)
    assert [(r.event_id, r.member_id) for r in rows] == [
        ("a", shopper.consumer.member_id),
        ("b", shopper.consumer.member_id),
        ("c", None),
    ]
    assert batches_waiting(session) == []


def test_a_second_flush_does_not_queue_a_second_loader_job(
    session: Session, ingestor: EventIngestor, world: World
) -> None:
    # given a flushed batch and its loader job, not started
    queue_batch(ingestor, Principal(world.brand.id), [event()])
    ingestor.flush()
    # when another batch is flushed
    queue_batch(ingestor, Principal(world.brand.id), [event()])
    ingestor.flush()
    # then the job queued still covers both
    assert loader_jobs(session) == 1
    assert [count for _, count, _ in batches_waiting(session)] == [1, 1]


def test_the_indices_not_accepted_are_skipped_by_the_loader(
    db: Database, session: Session, ingestor: EventIngestor, world: World
) -> None:
    # given a batch with a malformed event, an unknown product and a repeated id
    batch = queue_batch(
        ingestor,
        Principal(world.brand.id),
        [
            event(event_id="k-1"),
            event("no_such_kind", event_id="k-2"),
            event("view_item", event_id="k-3", product_id=987_654),
            event(event_id="k-1"),
            event(event_id="k-4"),
        ],
    )
    # when it is flushed and loaded
    ingestor.flush()
    assert batches_waiting(session) == [(world.brand.id, 2, [1, 2, 3])]
    load_events(db)
    # then only the accepted events are stored
    outcome = batch.outcome()
    assert (outcome.accepted, outcome.duplicates) == (2, 1)
    assert [(r.index, r.code) for r in outcome.rejected] == [
        (1, "unknown_kind"),
        (2, "unknown_product"),
    ]
    assert [r.event_id for r in stored_events(session, world.brand.id)] == ["k-1", "k-4"]


def test_a_load_meeting_stored_events_goes_through_staging_and_stores_each_once(
    db: Database, session: Session, ingestor: EventIngestor, world: World
) -> None:
    # given stored events
    principal = Principal(world.brand.id)
    queue_batch(ingestor, principal, [event(event_id="s-1"), event(event_id="s-2")])
    ingestor.flush()
    loader = EventLoader(db)
    assert loader.load_some() == LoadResult(1, 2, 0, 0)
    # when a batch repeating one of them beside a new one is loaded
    batch = queue_batch(ingestor, principal, [event(event_id="s-2"), event(event_id="s-3")])
    ingestor.flush()
    result = loader.load_some()
    loader.close()
    # then it was accepted whole, and the load stored the new one and skipped the repeat
    assert batch.outcome().accepted == 2
    assert result == LoadResult(1, 1, 1, 0)
    assert [r.event_id for r in stored_events(session, world.brand.id)] == ["s-1", "s-2", "s-3"]
    assert batches_waiting(session) == []


def test_a_batch_that_fails_does_not_fail_the_others_of_its_flush(
    session: Session, ingestor: EventIngestor, world: World, shopper: Shopper
) -> None:
    # given a batch of a brand that does not exist (the foreign key refuses it) queued with
    # a good batch
    broken = queue_batch(ingestor, Principal(999_999), [event()])
    good = queue_batch(ingestor, consumer_of(shopper), [event(event_id="good")])
    # when they are flushed together
    ingestor.flush()
    # then the good batch is appended and answered, the broken one carries its error
    assert good.error is None and good.outcome().accepted == 1
    assert broken.error is not None and broken.finished
    assert batches_waiting(session) == [(world.brand.id, 1, [])]


def test_a_batch_that_cannot_be_loaded_is_set_aside_and_the_others_load(
    db: Database, session: Session, ingestor: EventIngestor, world: World, shopper: Shopper
) -> None:
    # given a staff batch for a member that does not exist (the foreign key refuses its
    # events) waiting before a good batch
    queue_batch(ingestor, Principal(world.brand.id, member_id=999_999), [event(event_id="bad")])
    queue_batch(ingestor, consumer_of(shopper), [event(event_id="good")])
    ingestor.flush()
    # when the loader runs
    loaded = load_events(db)
    # then the good batch is stored and the bad one is kept aside with its error
    assert loaded == 1
    assert [r.event_id for r in stored_events(session, world.brand.id)] == ["good"]
    aside = session.scalars(select(TrackingBatch)).all()
    assert len(aside) == 1 and aside[0].member_id == 999_999
    assert aside[0].failed_at is not None and "foreign key" in (aside[0].error or "")
    # and a later load leaves it alone
    assert load_events(db) == 0


def test_events_of_a_merged_consumer_go_to_the_surviving_member(
    db: Database, session: Session, ingestor: EventIngestor, world: World, shopper: Shopper
) -> None:
    # given a batch accepted for the consumer, then the consumer moved to another member
    queue_batch(ingestor, consumer_of(shopper), [event(event_id="m-1")])
    ingestor.flush()
    other = make_consumer(session, world.brand, "bob")
    session.execute(
        update(Consumer)
        .where(Consumer.brand_id == world.brand.id, Consumer.id == shopper.consumer.id)
        .values(member_id=other.consumer.member_id)
    )
    session.commit()
    # when it is loaded
    load_events(db)
    # then the event carries the consumer's member as it is now
    rows = stored_events(session, world.brand.id)
    assert [(r.consumer_id, r.member_id) for r in rows] == [
        (shopper.consumer.id, other.consumer.member_id)
    ]


def test_an_event_whose_store_code_changed_before_the_load_is_dropped(
    db: Database, session: Session, ingestor: EventIngestor, world: World
) -> None:
    # given an accepted batch naming a store by its code, then the store's code changed
    store = world.direct_store
    queue_batch(
        ingestor,
        Principal(world.brand.id),
        [event(event_id="d-1", store_code=store.code), event(event_id="d-2")],
    )
    ingestor.flush()
    store.code = "RENAMED"
    session.commit()
    # when it is loaded
    loader = EventLoader(db)
    result = loader.load_some()
    loader.close()
    # then the other event is stored and the orphan is dropped
    assert result == LoadResult(1, 1, 0, 1)
    assert [r.event_id for r in stored_events(session, world.brand.id)] == ["d-2"]


def test_a_member_locked_elsewhere_gets_its_last_visit_after_the_lock(
    db: Database, session: Session, ingestor: EventIngestor, world: World, shopper: Shopper
) -> None:
    # given another transaction holding the member's row
    member_id = shopper.consumer.member_id
    loader = EventLoader(db)
    with db.sessions() as other:
        other.execute(
            update(Member)
            .where(Member.brand_id == world.brand.id, Member.id == member_id)
            .values(display_name="Busy")
        )
        # when a visit is loaded meanwhile
        visit = event("visit", event_id="v")
        queue_batch(ingestor, consumer_of(shopper), [visit])
        ingestor.flush()
        # then the event is stored without waiting for the member row
        assert loader.load_some().events == 1
        other.commit()
    # and the last visit follows once the row is free
    loader.apply_late_visits()
    loader.close()
    session.expire_all()
    member = session.get(Member, (world.brand.id, member_id))
    assert member is not None and member.display_name == "Busy"
    assert member.last_visit_at is not None
    assert member.last_visit_at.isoformat() == visit["occurred_at"]


def test_credentials_are_cached_refusals_too(
    session: Session, ingestor: EventIngestor, world: World, shopper: Shopper
) -> None:
    # given a write key
    _, key = make_write_key(session, world.system)
    session.commit()
    # when the ingestor authenticates it, the consumer's token and an unknown key
    assert ingestor.credentials.cached(key) is None
    assert ingestor.credentials.load(key) == Principal(world.brand.id)
    assert ingestor.credentials.load(shopper.token) == consumer_of(shopper)
    with pytest.raises(InvalidWriteKey):
        ingestor.credentials.load("siyuw_unknown")
    # then later requests are answered from the cache, refusals included
    session.execute(text("DELETE FROM tracking_write_key"))
    session.commit()
    assert ingestor.credentials.cached(key) == Principal(world.brand.id)
    assert ingestor.credentials.cached(shopper.token) == consumer_of(shopper)
    with pytest.raises(InvalidWriteKey):
        ingestor.credentials.cached("siyuw_unknown")
    # and a forgotten key is looked up again
    ingestor.credentials.forget(key_digest(key))
    assert ingestor.credentials.cached(key) is None
    with pytest.raises(InvalidWriteKey):
        ingestor.credentials.load(key)


def test_a_request_without_credentials_is_told_how_to_send_them() -> None:
    with pytest.raises(NotAuthenticated) as raised:
        credential_of(None, "  ")
    assert "X-Siyu-Write-Key" in raised.value.message
    assert credential_of("Bearer siyuc_x", None) == "siyuc_x"
    assert credential_of("Basic abc", "siyuw_k") == "siyuw_k"


def test_anonymous_events_of_a_linked_visitor_get_the_member_when_loaded(
    db: Database, session: Session, ingestor: EventIngestor, world: World, shopper: Shopper
) -> None:
    # given a visitor already linked to the consumer's member
    from siyu.tracking.service import link_anonymous_visitor

    member_id = shopper.consumer.member_id
    assert member_id is not None
    link_anonymous_visitor(session, world.brand.id, "v-linked", member_id, shopper.consumer.id)
    session.commit()
    # when anonymous events arrive with that id and with an unknown one
    batch = queue_batch(
        ingestor,
        Principal(world.brand.id),
        [
            event("visit", event_id="l-1", anonymous_id="v-linked"),
            event("visit", event_id="l-2", anonymous_id="v-stranger"),
        ],
    )
    ingestor.flush()
    load_events(db)
    # then the linked visitor's event carries the member and consumer
    assert batch.outcome().accepted == 2
    rows = stored_events(session, world.brand.id)
    assert [(r.anonymous_id, r.member_id, r.consumer_id) for r in rows] == [
        ("v-linked", member_id, shopper.consumer.id),
        ("v-stranger", None, None),
    ]
    session.expire_all()
    assert (
        session.scalar(
            select(Member.last_visit_at).where(
                Member.brand_id == world.brand.id, Member.id == member_id
            )
        )
        == rows[0].occurred_at
    )


def test_a_stopped_ingestor_refuses_new_batches(
    db: Database, session: Session, world: World
) -> None:
    ingestor = EventIngestor(db, background=False)
    ingestor.stop()
    before = row_counts(session)
    with pytest.raises(RuntimeError):
        queue_batch(ingestor, Principal(world.brand.id), [event()])
    assert row_counts(session) == before


def test_an_ingestor_of_another_brand_never_mixes_rows(
    db: Database, session: Session, ingestor: EventIngestor, world: World
) -> None:
    other = build_world(session)
    session.commit()
    queue_batch(ingestor, Principal(world.brand.id), [event(event_id="same")])
    queue_batch(ingestor, Principal(other.brand.id), [event(event_id="same")])
    ingestor.flush()
    load_events(db)
    assert [r.event_id for r in stored_events(session, world.brand.id)] == ["same"]
    assert [r.event_id for r in stored_events(session, other.brand.id)] == ["same"]


def test_the_queued_loader_job_loads_the_batches_on_the_worker(
    db: Database, session: Session, ingestor: EventIngestor, world: World, shopper: Shopper
) -> None:
    from siyu.jobs.app import make_job_app

    # given a flushed batch and the loader job it queued
    queue_batch(ingestor, consumer_of(shopper), [event(event_id="w-1"), event(event_id="w-2")])
    ingestor.flush()
    assert loader_jobs(session) == 1
    # when a worker runs the tracking queue
    app = make_job_app(db.url)
    with app.open():
        app.run_worker(queues=["tracking"], wait=False, install_signal_handlers=False)
    # then the events are in tracking_event and nothing waits any more
    assert [r.event_id for r in stored_events(session, world.brand.id)] == ["w-1", "w-2"]
    assert batches_waiting(session) == []
    assert loader_jobs(session) == 0


def test_a_batch_is_answered_and_appended_once_when_the_loader_cannot_be_queued(
    session: Session, ingestor: EventIngestor, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a job queue that refuses the loader job
    from siyu.tracking import ingestion

    monkeypatch.setattr(ingestion, "_QUEUE_LOADING", "SELECT no_such_function()")
    batch = queue_batch(ingestor, Principal(world.brand.id), [event(event_id="q-1")])
    # when it is flushed
    ingestor.flush()
    # then it is accepted and appended exactly once (the minute's sweep will load it)
    assert batch.error is None and batch.outcome().accepted == 1
    assert batches_waiting(session) == [(world.brand.id, 1, [])]
    assert loader_jobs(session) == 0
