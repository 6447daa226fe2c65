"""Stitching anonymous visitors to members at login, and the member journey."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.consumers.events import ConsumerLoggedIn
from siyu.members.models import Member
from siyu.outbox.dispatcher import SubscriberRegistry
from siyu.outbox.models import OutboxEvent
from siyu.tracking import subscribers
from siyu.tracking.models import AnonymousVisitor
from siyu.tracking.service import member_journey
from tests.factories import World, build_world
from tests.factories_consumers import Shopper, make_consumer
from tests.factories_touchpoints import make_touchpoint
from tests.factories_tracking import (
    event,
    make_write_key,
    post_events,
    stored_events,
    write_key_headers,
)


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


def login_event(shopper: Shopper, anonymous_id: str | None) -> OutboxEvent:
    """The ConsumerLoggedIn the dispatcher hands over (as the members helper records it)."""
    payload = ConsumerLoggedIn(
        consumer_id=shopper.consumer.id,
        consumer_session_id=1,
        member_id=shopper.consumer.member_id,
        anonymous_id=anonymous_id,
    ).payload()
    return OutboxEvent(
        brand_id=shopper.consumer.brand_id,
        event_type="ConsumerLoggedIn",
        aggregate_type="consumer",
        aggregate_id=str(shopper.consumer.id),
        payload=payload,
    )


def test_the_subscriber_listens_to_logins() -> None:
    registry = SubscriberRegistry()
    subscribers.register(registry)
    subscribers.register(registry)
    assert [s.name for s in registry.for_event("ConsumerLoggedIn")] == ["tracking.stitch_visitor"]
    assert registry.for_event("ConsumerRegistered") == []


def test_a_login_stitches_the_visitors_anonymous_events_to_the_member(
    session: Session, client: TestClient, world: World, shopper: Shopper
) -> None:
    # given a visitor who browsed anonymously (a visit among them), and someone else
    _, key = make_write_key(session, world.system)
    session.commit()
    visit = event("visit", event_id="a-visit", anonymous_id="v-1", ago=timedelta(minutes=30))
    post_events(
        client,
        write_key_headers(key),
        [
            visit,
            event("view_item", event_id="a-view", anonymous_id="v-1"),
            event("visit", event_id="other", anonymous_id="v-2"),
        ],
    )
    member_id = shopper.consumer.member_id
    # when the login naming that anonymous id is delivered to the subscriber
    subscribers.stitch_visitor(session, login_event(shopper, "v-1"))
    session.commit()
    # then the visitor's events carry the member and consumer, the other visitor's do not
    rows = {r.event_id: r for r in stored_events(session, world.brand.id)}
    assert (rows["a-visit"].member_id, rows["a-visit"].consumer_id) == (
        member_id,
        shopper.consumer.id,
    )
    assert (rows["a-view"].member_id, rows["a-view"].consumer_id) == (
        member_id,
        shopper.consumer.id,
    )
    assert (rows["other"].member_id, rows["other"].consumer_id) == (None, None)
    # and the member's last visit is the stitched visit
    member = session.get(Member, (world.brand.id, member_id))
    assert member is not None and member.last_visit_at == rows["a-visit"].occurred_at
    # and the link is kept, published with the number of events stitched
    link = session.scalar(select(AnonymousVisitor).where(AnonymousVisitor.anonymous_id == "v-1"))
    assert link is not None and (link.member_id, link.consumer_id) == (
        member_id,
        shopper.consumer.id,
    )
    published = session.scalars(
        select(OutboxEvent).where(OutboxEvent.event_type == "AnonymousVisitorLinked")
    ).all()
    assert [e.payload["events_stitched"] for e in published] == [2]
    # and later anonymous events of that visitor get the member when they arrive
    post_events(
        client, write_key_headers(key), [event("share", event_id="later", anonymous_id="v-1")]
    )
    later = {r.event_id: r for r in stored_events(session, world.brand.id)}["later"]
    assert (later.member_id, later.consumer_id) == (member_id, shopper.consumer.id)


def test_stitching_twice_changes_nothing(
    session: Session, client: TestClient, world: World, shopper: Shopper
) -> None:
    _, key = make_write_key(session, world.system)
    session.commit()
    post_events(client, write_key_headers(key), [event("visit", anonymous_id="v-1")])
    subscribers.stitch_visitor(session, login_event(shopper, "v-1"))
    session.commit()
    before = [
        (r.event_id, r.member_id, r.consumer_id) for r in stored_events(session, world.brand.id)
    ]
    # when the same login is delivered again (at least once delivery)
    subscribers.stitch_visitor(session, login_event(shopper, "v-1"))
    session.commit()
    # then the events are as they were and one link exists
    assert [
        (r.event_id, r.member_id, r.consumer_id) for r in stored_events(session, world.brand.id)
    ] == before
    assert len(session.scalars(select(AnonymousVisitor)).all()) == 1


def test_a_login_without_an_anonymous_id_stitches_nothing(
    session: Session, world: World, shopper: Shopper
) -> None:
    subscribers.stitch_visitor(session, login_event(shopper, None))
    session.commit()
    assert session.scalars(select(AnonymousVisitor)).all() == []


def test_the_journey_lists_the_members_events_newest_first_with_touchpoints_and_stores(
    session: Session, client: TestClient, world: World, shopper: Shopper
) -> None:
    # given a shelf code at the direct store, a scan before login (anonymous), events after
    touchpoint = make_touchpoint(session, world.system, store_id=world.direct_store.id)
    _, key = make_write_key(session, world.system)
    session.commit()
    scene_key = touchpoint.codes[0].scene_key
    post_events(
        client,
        write_key_headers(key),
        [
            event(
                "scan",
                event_id="j-scan",
                anonymous_id="v-1",
                scene=1047,
                scene_key=scene_key,
                ago=timedelta(hours=2),
            )
        ],
    )
    subscribers.stitch_visitor(session, login_event(shopper, "v-1"))
    session.commit()
    post_events(
        client,
        shopper.headers,
        [
            event("visit", event_id="j-visit", ago=timedelta(hours=1)),
            event("view_item", event_id="j-view", store_id=world.other_store.id),
        ],
    )
    # and an event of the visitor that arrived before the link reached this process
    other = make_consumer(session, world.brand, "bob")
    session.commit()
    post_events(client, other.headers, [event("visit", event_id="not-mine")])
    # when the member's journey is read
    member_id = shopper.consumer.member_id
    assert member_id is not None
    journey = member_journey(session, world.brand.id, member_id)
    # then it lists the member's events newest first, touchpoint and store resolved
    assert [(e.event_id, e.kind) for e in journey] == [
        ("j-view", "view_item"),
        ("j-visit", "visit"),
        ("j-scan", "scan"),
    ]
    scan = journey[-1]
    assert (scan.touchpoint_id, scan.touchpoint_name, scan.touchpoint_kind) == (
        touchpoint.touchpoint.id,
        touchpoint.touchpoint.name,
        "shelf_code",
    )
    assert (scan.store_id, scan.store_name) == (world.direct_store.id, world.direct_store.name)
    assert (journey[0].store_id, journey[0].store_code) == (
        world.other_store.id,
        world.other_store.code,
    )
    assert journey[1].touchpoint_id is None and journey[1].store_id is None
    # and the limit applies
    assert [e.event_id for e in member_journey(session, world.brand.id, member_id, limit=1)] == [
        "j-view"
    ]
    # and another brand's member of the same id sees nothing of it
    b = build_world(session)
    assert member_journey(session, b.brand.id, member_id) == []


def test_the_journey_includes_a_linked_visitors_events_not_stitched_yet(
    session: Session, world: World, shopper: Shopper
) -> None:
    # given an anonymous event stored after its visitor's link (no member on it)
    from siyu.tracking.models import TrackingEvent
    from siyu.tracking.service import link_anonymous_visitor

    member_id = shopper.consumer.member_id
    assert member_id is not None
    link_anonymous_visitor(session, world.brand.id, "v-late", member_id, None)
    row = TrackingEvent(
        brand_id=world.brand.id,
        event_id="raw",
        kind="visit",
        occurred_at=shopper.consumer.created_at,
        received_at=shopper.consumer.created_at,
        anonymous_id="v-late",
        properties={},
    )
    session.add(row)
    session.commit()
    # then the journey shows it
    assert [e.event_id for e in member_journey(session, world.brand.id, member_id)] == ["raw"]
