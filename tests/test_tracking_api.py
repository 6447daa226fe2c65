"""The batched event API and storefront write keys, end to end over HTTP."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.access.rules import system_actor
from siyu.access.schemas import ApiTokenCreate
from siyu.access.service import issue_token
from siyu.core.clock import utc_now
from siyu.db.session import Database
from siyu.members.models import Member
from siyu.tracking.api import storefront_router
from siyu.tracking.models import TrackingWriteKey
from siyu.web.problems import install_problem_handlers
from tests.factories import World, build_world
from tests.factories_catalog import make_category, make_product
from tests.factories_consumers import Shopper, make_consumer
from tests.factories_touchpoints import make_touchpoint
from tests.factories_tracking import (
    event,
    make_write_key,
    post_events,
    stored_events,
    write_key_headers,
)
from tests.helpers import assert_problem, row_counts


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


def answer(accepted: int, duplicates: int = 0, rejected: list[tuple[int, str]] | None = None):  # type: ignore[no-untyped-def]
    return accepted, duplicates, rejected or []


def summary(body: dict) -> tuple[int, int, list[tuple[int, str]]]:  # type: ignore[type-arg]
    return body["accepted"], body["duplicates"], [(r["index"], r["code"]) for r in body["rejected"]]


def test_a_consumers_events_are_stored_with_their_member_touchpoint_and_store(
    session: Session, client: TestClient, world: World, shopper: Shopper
) -> None:
    # given a shelf code of the direct store, and a product
    touchpoint = make_touchpoint(session, world.system, store_id=world.direct_store.id)
    product, skus = make_product(session, world.system, make_category(session, world.system))
    session.commit()
    key = touchpoint.codes[0].scene_key
    # when the consumer sends a scan, a product view at a store (by code) and a custom event
    response = post_events(
        client,
        shopper.headers,
        [
            event("scan", event_id="e-scan", scene=1047, scene_key=key, anonymous_id="v-1"),
            event(
                "view_item",
                event_id="e-view",
                store_code=world.direct_store.code,
                product_id=product.id,
                sku_id=skus[0].id,
                properties={"path": "a\\b", "note": "x\ty\nz", "price_fen": 12900},
            ),
            event("custom", event_id="e-custom", name="poster_saved"),
        ],
    )
    # then all three are accepted and stored as the consumer's member's
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": 3, "duplicates": 0, "rejected": []}
    rows = {row.event_id: row for row in stored_events(session, world.brand.id)}
    assert set(rows) == {"e-scan", "e-view", "e-custom"}
    member_id = shopper.consumer.member_id
    assert member_id is not None
    for row in rows.values():
        assert (row.consumer_id, row.member_id) == (shopper.consumer.id, member_id)
    scan = rows["e-scan"]
    assert (scan.kind, scan.scene, scan.scene_key) == ("scan", 1047, key)
    assert scan.touchpoint_id == touchpoint.touchpoint.id
    assert scan.anonymous_id == "v-1"
    view = rows["e-view"]
    assert (view.store_id, view.product_id, view.sku_id) == (
        world.direct_store.id,
        product.id,
        skus[0].id,
    )
    assert view.properties == {"path": "a\\b", "note": "x\ty\nz", "price_fen": 12900}
    assert rows["e-custom"].name == "poster_saved"
    assert rows["e-custom"].properties == {}
    assert scan.received_at - scan.occurred_at >= timedelta(minutes=1)


def test_a_mixed_batch_keeps_the_valid_events_and_names_the_bad_ones(
    session: Session, client: TestClient, world: World, shopper: Shopper
) -> None:
    # when a batch mixes valid events with malformed ones and ones naming unknown things
    response = post_events(
        client,
        shopper.headers,
        [
            event("visit", event_id="ok-1", scene=1001),
            event("purchase", event_id="bad-kind"),
            event("view_item", event_id="bad-store", store_code="NOPE"),
            event("view_item", event_id="ok-2", store_id=world.other_store.id),
            event("view_item", event_id="bad-product", product_id=999_999),
            event("visit", event_id="bad-future", ago=timedelta(minutes=-10)),
            {"event_id": "bad-shape", "kind": "visit"},
            event("view_item", event_id="bad-sku", sku_id=999_999),
            event("view_item", event_id="bad-store-id", store_id=999_999),
        ],
    )
    # then the answer is 200 with the valid ones accepted and every bad one by index
    assert response.status_code == 200, response.text
    body = response.json()
    assert summary(body) == (
        2,
        0,
        [
            (1, "unknown_kind"),
            (2, "unknown_store"),
            (4, "unknown_product"),
            (5, "in_future"),
            (6, "missing_field"),
            (7, "unknown_sku"),
            (8, "unknown_store"),
        ],
    )
    assert body["rejected"][1]["field"] == "store_code"
    assert body["rejected"][4]["message"] == "occurred_at is required"
    assert [row.event_id for row in stored_events(session, world.brand.id)] == ["ok-1", "ok-2"]


def test_a_resent_batch_changes_nothing(
    session: Session, client: TestClient, world: World, shopper: Shopper
) -> None:
    # given a stored batch
    batch = [event("visit", event_id=f"r-{n}") for n in range(5)]
    assert post_events(client, shopper.headers, batch).json()["accepted"] == 5
    before = row_counts(session)
    # when it is sent again and loaded
    again = post_events(client, shopper.headers, batch)
    # then it is accepted (the client may forget it) and no event was stored twice
    assert again.status_code == 200
    assert again.json() == {"accepted": 5, "duplicates": 0, "rejected": []}
    assert row_counts(session) == before
    # and a batch overlapping it, repeating one of its own events, stores only the new event
    overlap = post_events(
        client,
        shopper.headers,
        [*batch[3:], event("visit", event_id="r-new"), batch[0], event("visit", event_id="r-new")],
    )
    assert summary(overlap.json()) == (4, 1, [])
    assert len(stored_events(session, world.brand.id)) == 6


def test_late_events_keep_their_time_and_future_ones_are_refused(
    session: Session, client: TestClient, world: World, shopper: Shopper
) -> None:
    # when an event from 10 days ago and one from 10 minutes ahead arrive
    late = event("visit", event_id="late", ago=timedelta(days=10))
    future = event("visit", event_id="future", ago=timedelta(minutes=-10))
    started = utc_now()
    response = post_events(client, shopper.headers, [late, future])
    # then the late one is stored with its own occurred_at and the server's received_at
    assert summary(response.json()) == (1, 0, [(1, "in_future")])
    [row] = stored_events(session, world.brand.id)
    assert row.occurred_at.isoformat() == late["occurred_at"]
    assert started - timedelta(seconds=1) <= row.received_at <= utc_now()
    # and one more than 30 days late is refused
    too_late = post_events(
        client, shopper.headers, [event("visit", event_id="old", ago=timedelta(days=31))]
    )
    assert summary(too_late.json()) == (0, 0, [(0, "too_late")])


def test_an_unknown_scene_key_is_stored_as_an_unknown_source(
    session: Session, client: TestClient, world: World, shopper: Shopper
) -> None:
    # given a scene key of another brand
    other = build_world(session)
    foreign = make_touchpoint(session, other.system, store_id=other.direct_store.id)
    session.commit()
    # when scans name a key never issued, another brand's key and a malformed key
    response = post_events(
        client,
        shopper.headers,
        [
            event("scan", event_id="s-1", scene=1047, scene_key="tneverissued"),
            event("scan", event_id="s-2", scene=1047, scene_key=foreign.codes[0].scene_key),
            event("scan", event_id="s-3", scene=1047, scene_key="has space"),
        ],
    )
    # then all are stored, without a touchpoint, with the key as sent
    assert response.json() == {"accepted": 3, "duplicates": 0, "rejected": []}
    rows = stored_events(session, world.brand.id)
    assert [(r.scene_key, r.touchpoint_id) for r in rows] == [
        ("tneverissued", None),
        (foreign.codes[0].scene_key, None),
        ("has space", None),
    ]


def test_the_last_visit_follows_the_latest_visit(
    session: Session, client: TestClient, world: World, shopper: Shopper
) -> None:
    # when the consumer's visits arrive out of order over two batches
    first = event("visit", event_id="v-1", ago=timedelta(hours=1))
    latest = event("visit", event_id="v-2", ago=timedelta(minutes=5))
    post_events(client, shopper.headers, [first, latest, event("view_item", event_id="v-3")])
    post_events(client, shopper.headers, [event("visit", event_id="v-4", ago=timedelta(days=2))])
    # then the member's last visit is the latest visit (views do not count)
    session.expire_all()
    member = session.get(Member, (world.brand.id, shopper.consumer.member_id))
    assert member is not None
    assert member.last_visit_at is not None
    assert member.last_visit_at.isoformat() == latest["occurred_at"]


# ---------------------------------------------------------------- write keys


def test_a_write_key_sends_anonymous_events(
    session: Session, client: TestClient, world: World
) -> None:
    # given a write key created by HQ
    created = client.post(
        "/api/tracking/write-keys", headers=world.headers("hq_operator"), json={"name": "mp"}
    )
    assert created.status_code == 201, created.text
    key = created.json()["key"]
    assert key.startswith("siyuw_") and created.json()["key_prefix"] == key[:12]
    # when an anonymous visitor's events are sent with it
    response = post_events(
        client,
        write_key_headers(key),
        [event("visit", event_id="a-1", anonymous_id="v-9", scene=1001)],
    )
    # then they are stored for the brand, without consumer or member
    assert response.json() == {"accepted": 1, "duplicates": 0, "rejected": []}
    [row] = stored_events(session, world.brand.id)
    assert (row.anonymous_id, row.consumer_id, row.member_id) == ("v-9", None, None)
    # and the key is listed without its value
    listed = client.get("/api/tracking/write-keys", headers=world.headers("brand_admin")).json()
    assert [(k["name"], k["key_prefix"]) for k in listed] == [("mp", key[:12])]
    assert "key" not in listed[0]


@pytest.mark.parametrize(
    "header",
    [
        {"X-Siyu-Write-Key": "siyuw_not-a-key"},
        {"X-Siyu-Write-Key": "bogus"},
        {"Authorization": "Bearer siyuc_not-a-token"},
        {},
    ],
)
def test_a_wrong_credential_is_refused_and_writes_nothing(
    session: Session, client: TestClient, world: World, header: dict[str, str]
) -> None:
    before = row_counts(session)
    response = post_events(client, header, [event("visit")])
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert row_counts(session) == before


def test_a_rotated_or_revoked_key_is_refused(
    session: Session, client: TestClient, world: World
) -> None:
    # given a write key that has already written (so it is cached)
    row, key = make_write_key(session, world.system)
    session.commit()
    assert post_events(client, write_key_headers(key), [event("visit")]).json()["accepted"] == 1
    # when HQ rotates it
    rotated = client.post(
        f"/api/tracking/write-keys/{row.id}/rotate", headers=world.headers("brand_admin")
    )
    assert rotated.status_code == 200, rotated.text
    new_key = rotated.json()["key"]
    assert rotated.json()["rotated_at"] is not None and new_key != key
    before = row_counts(session)
    # then the old key is refused and writes nothing; the new one writes
    assert_problem(
        post_events(client, write_key_headers(key), [event("visit")]), 401, "invalid_write_key"
    )
    assert row_counts(session) == before
    assert post_events(client, write_key_headers(new_key), [event("visit")]).json()["accepted"] == 1
    # and once revoked, the new one is refused too
    revoked = client.delete(
        f"/api/tracking/write-keys/{row.id}", headers=world.headers("brand_admin")
    )
    assert revoked.status_code == 204
    before = row_counts(session)
    assert_problem(
        post_events(client, write_key_headers(new_key), [event("visit")]), 401, "invalid_write_key"
    )
    assert row_counts(session) == before
    session.expire_all()
    assert session.get(TrackingWriteKey, (world.brand.id, row.id)).revoked_at is not None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "who", ["region_manager", "franchisee_owner", "store_manager", "guide", "integration"]
)
def test_only_hq_manages_write_keys(
    session: Session, client: TestClient, world: World, who: str
) -> None:
    row, _ = make_write_key(session, world.system)
    session.commit()
    before = row_counts(session)
    headers = world.headers(who)
    assert_problem(
        client.get("/api/tracking/write-keys", headers=headers), 403, "permission_denied"
    )
    assert_problem(
        client.post("/api/tracking/write-keys", headers=headers, json={"name": "x"}),
        403,
        "permission_denied",
    )
    assert_problem(
        client.post(f"/api/tracking/write-keys/{row.id}/rotate", headers=headers),
        403,
        "permission_denied",
    )
    assert_problem(
        client.delete(f"/api/tracking/write-keys/{row.id}", headers=headers),
        403,
        "permission_denied",
    )
    assert row_counts(session) == before


def test_a_write_key_of_another_brand_is_not_found(
    session: Session, client: TestClient, world: World
) -> None:
    other = build_world(session)
    row, _ = make_write_key(session, other.system)
    session.commit()
    before = row_counts(session)
    response = client.post(
        f"/api/tracking/write-keys/{row.id}/rotate", headers=world.headers("brand_admin")
    )
    assert_problem(response, 404, "write_key_not_found")
    assert row_counts(session) == before


# ---------------------------------------------------------------- server-side events


def test_a_staff_token_with_tracking_write_may_name_the_member(
    session: Session, client: TestClient, world: World, shopper: Shopper
) -> None:
    # given an integration token with tracking:write
    _, token = issue_token(
        session,
        system_actor(world.brand.id),
        ApiTokenCreate(name="crm", kind="integration", scopes=["tracking:write"]),
    )
    session.commit()
    member_id = shopper.consumer.member_id
    # when it sends a server-side event naming the member, and one naming no such member
    response = post_events(
        client,
        {"Authorization": f"Bearer {token}"},
        [
            event("claim_coupon", event_id="srv-1", member_id=member_id),
            event("claim_coupon", event_id="srv-2", member_id=999_999),
        ],
    )
    # then the first is stored for the member, the second is rejected
    assert summary(response.json()) == (1, 0, [(1, "unknown_member")])
    [row] = stored_events(session, world.brand.id)
    assert (row.member_id, row.consumer_id) == (member_id, None)


@pytest.mark.parametrize("who", ["store_manager", "guide", "integration"])
def test_a_staff_token_without_tracking_write_is_refused(
    session: Session, client: TestClient, world: World, who: str
) -> None:
    before = row_counts(session)
    response = post_events(client, world.headers(who), [event("visit")])
    assert_problem(response, 403, "permission_denied")
    assert row_counts(session) == before


def test_a_consumer_may_not_name_a_member(
    session: Session, client: TestClient, world: World, shopper: Shopper
) -> None:
    response = post_events(client, shopper.headers, [event("visit", member_id=1)])
    assert summary(response.json()) == (0, 0, [(0, "member_not_allowed")])


# ---------------------------------------------------------------- across brands


def test_a_write_key_of_brand_a_cannot_write_into_brand_b(
    session: Session, client: TestClient, world: World
) -> None:
    # given brand B with a store, a product, a stored event; and brand A's write key
    b = build_world(session)
    product, skus = make_product(session, b.system, make_category(session, b.system))
    _, key_b = make_write_key(session, b.system)
    _, key_a = make_write_key(session, world.system)
    session.commit()
    post_events(client, write_key_headers(key_b), [event("visit", event_id="shared-id")])
    before_b = [(r.event_id, r.anonymous_id) for r in stored_events(session, b.brand.id)]
    # when brand A's key sends events naming brand B's store, product and SKU, and B's event id
    response = post_events(
        client,
        write_key_headers(key_a),
        [
            event("view_item", event_id="x-1", store_id=b.direct_store.id),
            event("view_item", event_id="x-2", store_code=b.direct_store.code),
            event("view_item", event_id="x-3", product_id=product.id),
            event("view_item", event_id="x-4", sku_id=skus[0].id),
            event("visit", event_id="shared-id", anonymous_id="a-visitor"),
        ],
    )
    # then B's objects are unknown to A; the event id is A's own (no duplicate across brands)
    assert summary(response.json()) == (
        1,
        0,
        [(0, "unknown_store"), (1, "unknown_store"), (2, "unknown_product"), (3, "unknown_sku")],
    )
    assert [(r.event_id, r.anonymous_id) for r in stored_events(session, world.brand.id)] == [
        ("shared-id", "a-visitor")
    ]
    assert [(r.event_id, r.anonymous_id) for r in stored_events(session, b.brand.id)] == before_b


# ---------------------------------------------------------------- whole-batch refusals


def test_a_batch_that_is_not_json_or_too_large_is_refused_whole(
    session: Session, client: TestClient, world: World, shopper: Shopper
) -> None:
    before = row_counts(session)
    url = "/api/storefront/events"
    assert_problem(client.post(url, headers=shopper.headers, content=b"{nope"), 400, "invalid_json")
    assert_problem(
        client.post(url, headers=shopper.headers, json={"event": []}), 422, "invalid_batch"
    )
    too_many = [event("visit", event_id=f"m-{n}") for n in range(501)]
    assert_problem(post_events(client, shopper.headers, too_many), 413, "batch_too_large")
    huge = b'{"events": [' + b" " * (3 * 1024 * 1024) + b"]}"
    assert_problem(client.post(url, headers=shopper.headers, content=huge), 413, "batch_too_large")
    assert row_counts(session) == before


def test_the_event_api_is_documented(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/api/storefront/events"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert schema["properties"]["events"]["maxItems"] == 500
    event_schema = schema["properties"]["events"]["items"]
    assert set(event_schema["required"]) == {"event_id", "kind", "occurred_at"}
    assert "X-Siyu-Write-Key" in [p["name"] for p in operation["parameters"]]
    assert "IngestResultOut" in str(operation["responses"]["200"])


def test_events_count_per_brand_in_the_database(session: Session, world: World) -> None:
    # the unique key is per brand: the same event id may exist once in each brand
    from siyu.tracking.models import TrackingEvent

    assert {c.name for c in TrackingEvent.__table__.c} >= {
        "brand_id",
        "event_id",
        "member_id",
        "touchpoint_id",
    }
    assert session.scalar(select(TrackingEvent.id).limit(1)) is None


def test_the_documented_route_answers_like_the_fast_path(
    db: Database, session: Session, world: World
) -> None:
    # given an app with the tracking storefront router but without the fast path
    app = FastAPI()
    app.state.database = db
    install_problem_handlers(app)
    app.include_router(storefront_router, prefix="/api")
    _, key = make_write_key(session, world.system)
    session.commit()
    with TestClient(app) as bare:
        # when events and a bad batch are sent to it
        ok = post_events(bare, write_key_headers(key), [event("visit", event_id="doc-1")])
        bad = bare.post("/api/storefront/events", headers=write_key_headers(key), content=b"{x")
        refused = post_events(bare, write_key_headers("siyuw_nope"), [event("visit")])
    # then it answers as the fast path does
    assert ok.json() == {"accepted": 1, "duplicates": 0, "rejected": []}
    assert (bad.status_code, bad.json()["code"]) == (400, "invalid_json")
    assert (refused.status_code, refused.json()["code"]) == (401, "invalid_write_key")
    assert [r.event_id for r in stored_events(session, world.brand.id)] == ["doc-1"]
