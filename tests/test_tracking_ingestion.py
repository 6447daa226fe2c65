"""Group commit, deterministically: batches are queued on an ingestor without flusher threads
and flushed explicitly."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from siyu.core.errors import NotAuthenticated
from siyu.db.session import Database
from siyu.members.models import Member
from siyu.tracking.credentials import Principal, credential_of
from siyu.tracking.errors import InvalidWriteKey
from siyu.tracking.ingestion import EventIngestor
from siyu.tracking.service import key_digest
from tests.factories import World, build_world
from tests.factories_consumers import Shopper, make_consumer
from tests.factories_tracking import event, make_write_key, queue_batch, stored_events
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


def test_nothing_is_written_until_the_flush_and_then_every_batch_is_answered(
    session: Session, ingestor: EventIngestor, world: World, shopper: Shopper
) -> None:
    # given two requests' batches queued, the second repeating an event of the first
    first = queue_batch(ingestor, consumer_of(shopper), [event(event_id="a"), event(event_id="b")])
    second = queue_batch(
        ingestor, Principal(world.brand.id), [event(event_id="b"), event(event_id="c")]
    )
    # then nothing is stored yet and nobody is answered
    assert stored_events(session, world.brand.id) == []
    assert not first.finished and not second.finished
    # when the ingestor flushes
    assert ingestor.flush() == 2
    # then both are answered from one transaction: the repeat is the second's duplicate
    assert (first.outcome().accepted, first.outcome().duplicates) == (2, 0)
    assert (second.outcome().accepted, second.outcome().duplicates) == (1, 1)
    assert first.finished and second.finished
    rows = stored_events(session, world.brand.id)
    assert [(r.event_id, r.member_id) for r in rows] == [
        ("a", shopper.consumer.member_id),
        ("b", shopper.consumer.member_id),
        ("c", None),
    ]
    assert ingestor.flush() == 0


def test_a_flush_meeting_stored_events_goes_through_staging_and_counts_duplicates(
    session: Session, ingestor: EventIngestor, world: World
) -> None:
    # given stored events
    principal = Principal(world.brand.id)
    queue_batch(ingestor, principal, [event(event_id="s-1"), event(event_id="s-2")])
    ingestor.flush()
    # when a batch repeats one of them beside a new one
    batch = queue_batch(ingestor, principal, [event(event_id="s-2"), event(event_id="s-3")])
    ingestor.flush()
    # then the new one is stored and the repeat is a duplicate
    outcome = batch.outcome()
    assert (outcome.accepted, outcome.duplicates, outcome.rejected) == (1, 1, ())
    assert [r.event_id for r in stored_events(session, world.brand.id)] == ["s-1", "s-2", "s-3"]


def test_a_batch_that_fails_does_not_fail_the_others_of_its_flush(
    session: Session, ingestor: EventIngestor, world: World, shopper: Shopper
) -> None:
    # given a batch whose principal names a member that does not exist (the foreign key
    # refuses it) queued with a good batch
    broken = queue_batch(ingestor, Principal(world.brand.id, member_id=999_999), [event()])
    good = queue_batch(ingestor, consumer_of(shopper), [event(event_id="good")])
    # when they are flushed together
    ingestor.flush()
    # then the good batch is stored and answered, the broken one carries its error
    assert good.error is None and good.outcome().accepted == 1
    assert broken.error is not None and broken.finished
    assert [r.event_id for r in stored_events(session, world.brand.id)] == ["good"]


def test_a_member_locked_elsewhere_gets_its_last_visit_after_the_lock(
    db: Database, session: Session, ingestor: EventIngestor, world: World, shopper: Shopper
) -> None:
    # given another transaction holding the member's row
    member_id = shopper.consumer.member_id
    with db.sessions() as other:
        other.execute(
            update(Member)
            .where(Member.brand_id == world.brand.id, Member.id == member_id)
            .values(display_name="Busy")
        )
        # when a visit is flushed meanwhile
        visit = event("visit", event_id="v")
        batch = queue_batch(ingestor, consumer_of(shopper), [visit])
        ingestor.flush()
        # then the event is stored without waiting for the member row
        assert batch.outcome().accepted == 1
        other.commit()
    # and the last visit follows once the row is free
    ingestor.apply_late_visits()
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


def test_anonymous_events_of_a_linked_visitor_get_the_member_at_ingestion(
    session: Session, ingestor: EventIngestor, world: World, shopper: Shopper
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
    session: Session, ingestor: EventIngestor, world: World
) -> None:
    other = build_world(session)
    session.commit()
    queue_batch(ingestor, Principal(world.brand.id), [event(event_id="same")])
    queue_batch(ingestor, Principal(other.brand.id), [event(event_id="same")])
    ingestor.flush()
    assert [r.event_id for r in stored_events(session, world.brand.id)] == ["same"]
    assert [r.event_id for r in stored_events(session, other.brand.id)] == ["same"]
