"""Mini-program login of consumers, consumer tokens, and their separation from staff tokens."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from siyu.consumers.models import Consumer, ConsumerIdentity, ConsumerSession
from siyu.consumers.service import CONSUMER_SESSION_TTL, token_digest
from siyu.core.clock import utc_now
from siyu.outbox.models import OutboxEvent
from siyu.wechat.sandbox import SANDBOX_MINI_PROGRAM, issue_login_code
from siyu.wechat.service import sandbox_app_id
from tests.factories import World, build_world
from tests.factories_consumers import login_code, make_consumer
from tests.helpers import assert_problem, row_counts


@pytest.fixture(autouse=True)
def fresh_sandbox() -> Iterator[None]:
    SANDBOX_MINI_PROGRAM.reset()
    yield
    SANDBOX_MINI_PROGRAM.reset()


@pytest.fixture
def world(session: Session) -> World:
    built = build_world(session)
    session.commit()
    return built


def test_first_login_registers_the_consumer_and_returns_a_consumer_token(
    session: Session, client: TestClient, world: World
) -> None:
    # given
    code = login_code(session, world.brand, "alice")
    # when
    response = client.post("/api/storefront/login", json={"brand": world.brand.slug, "code": code})
    # then
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token"].startswith("siyuc_")
    assert body["created"] is True
    assert body["consumer"]["status"] == "active"
    consumer = session.scalars(select(Consumer)).one()
    assert body["consumer"]["id"] == consumer.id
    identities = session.execute(select(ConsumerIdentity.kind, ConsumerIdentity.value)).all()
    assert identities == [
        (
            "mini_program_openid",
            SANDBOX_MINI_PROGRAM.openid_for(sandbox_app_id(world.brand.id), "alice"),
        )
    ]
    stored = session.scalars(select(ConsumerSession)).one()
    assert stored.token_digest == token_digest(body["token"])
    assert body["token"] not in stored.token_digest
    assert stored.expires_at - stored.created_at == CONSUMER_SESSION_TTL
    events = session.scalars(select(OutboxEvent.event_type).order_by(OutboxEvent.id)).all()
    # the consumer's member (siyu.members) registers between the two
    assert events[-4:] == [
        "ConsumerRegistered",
        "MemberRegistered",
        "MemberIdentityAdded",
        "ConsumerLoggedIn",
    ]


def test_second_login_finds_the_same_consumer(
    session: Session, client: TestClient, world: World
) -> None:
    # given
    first = make_consumer(session, world.brand, "alice")
    session.commit()
    # when
    response = client.post(
        "/api/storefront/login",
        json={"brand": world.brand.slug, "code": login_code(session, world.brand, "alice")},
    )
    # then
    assert response.status_code == 200, response.text
    assert response.json()["created"] is False
    assert response.json()["consumer"]["id"] == first.consumer.id
    assert session.query(Consumer).count() == 1
    assert session.query(ConsumerSession).count() == 2


def test_a_unionid_links_the_consumer_across_mini_programs(
    session: Session, client: TestClient, world: World
) -> None:
    # given the brand's mini program is bound to an open platform, and alice already exists
    # under a unionid only (e.g. from another channel)
    app_id = sandbox_app_id(world.brand.id)
    SANDBOX_MINI_PROGRAM.bind_open_platform(app_id, "open-1")
    unionid = SANDBOX_MINI_PROGRAM.unionid_for(app_id, "alice")
    assert unionid is not None
    existing = Consumer(brand_id=world.brand.id, nickname="Alice")
    session.add(existing)
    session.flush()
    session.add(
        ConsumerIdentity(
            brand_id=world.brand.id, consumer_id=existing.id, kind="unionid", value=unionid
        )
    )
    session.commit()
    # when
    response = client.post(
        "/api/storefront/login",
        json={"brand": world.brand.slug, "code": login_code(session, world.brand, "alice")},
    )
    # then
    assert response.status_code == 200, response.text
    assert response.json()["created"] is False
    assert response.json()["consumer"]["id"] == existing.id
    kinds = session.scalars(select(ConsumerIdentity.kind).order_by(ConsumerIdentity.kind)).all()
    assert kinds == ["mini_program_openid", "unionid"]


def test_consumer_token_reads_me(session: Session, client: TestClient, world: World) -> None:
    # given
    shopper = make_consumer(session, world.brand, "alice")
    session.commit()
    # when
    response = client.get("/api/storefront/me", headers=shopper.headers)
    # then
    assert response.status_code == 200, response.text
    assert response.json()["id"] == shopper.consumer.id


@pytest.mark.parametrize(
    ("make_code", "status", "code"),
    [
        (lambda app_id: "never-issued", 401, "invalid_login_code"),
        (
            lambda app_id: issue_login_code(app_id, "alice", now=utc_now() - timedelta(minutes=6)),
            401,
            "invalid_login_code",
        ),
        (lambda app_id: issue_login_code("wxsomebodyelse", "alice"), 401, "invalid_login_code"),
    ],
    ids=["unknown", "expired", "other-app"],
)
def test_bad_codes_are_refused_and_write_nothing(
    session: Session,
    client: TestClient,
    world: World,
    make_code,
    status,
    code,  # type: ignore[no-untyped-def]
) -> None:
    # given
    before = row_counts(session)
    # when
    response = client.post(
        "/api/storefront/login",
        json={"brand": world.brand.slug, "code": make_code(sandbox_app_id(world.brand.id))},
    )
    # then
    body = assert_problem(response, status, code)
    assert body["field"] == "code"
    assert row_counts(session) == before


def test_a_reused_code_is_refused_and_writes_nothing(
    session: Session, client: TestClient, world: World
) -> None:
    # given a code that has been exchanged once
    code = login_code(session, world.brand, "alice")
    first = client.post("/api/storefront/login", json={"brand": world.brand.slug, "code": code})
    assert first.status_code == 200
    before = row_counts(session)
    # when
    response = client.post("/api/storefront/login", json={"brand": world.brand.slug, "code": code})
    # then
    assert_problem(response, 401, "login_code_used")
    assert row_counts(session) == before


def test_the_platform_rate_limit_is_refused_and_writes_nothing(
    session: Session, client: TestClient, world: World
) -> None:
    # given the platform allows two exchanges a minute, and two were made
    SANDBOX_MINI_PROGRAM.rate_limit_per_minute = 2
    for user in ("alice", "bob"):
        ok = client.post(
            "/api/storefront/login",
            json={"brand": world.brand.slug, "code": login_code(session, world.brand, user)},
        )
        assert ok.status_code == 200
    before = row_counts(session)
    # when
    response = client.post(
        "/api/storefront/login",
        json={"brand": world.brand.slug, "code": login_code(session, world.brand, "carol")},
    )
    # then
    assert_problem(response, 429, "wechat_rate_limited")
    assert row_counts(session) == before


def test_an_unknown_brand_is_refused(session: Session, client: TestClient, world: World) -> None:
    before = row_counts(session)
    response = client.post(
        "/api/storefront/login",
        json={"brand": "nobody", "code": login_code(session, world.brand, "alice")},
    )
    assert_problem(response, 404, "brand_not_found")
    assert row_counts(session) == before


def test_a_staff_token_is_refused_on_storefront_routes(
    session: Session, client: TestClient, world: World
) -> None:
    for who in ("brand_admin", "guide", "integration"):
        response = client.get("/api/storefront/me", headers=world.headers(who))
        assert_problem(response, 401, "invalid_token")


def test_a_consumer_token_is_refused_on_staff_routes(
    session: Session, client: TestClient, world: World
) -> None:
    # given
    shopper = make_consumer(session, world.brand, "alice")
    session.commit()
    # when / then
    for path in ("/api/me", "/api/regions", "/api/stores"):
        response = client.get(path, headers=shopper.headers)
        assert_problem(response, 401, "invalid_token")


def test_missing_expired_and_revoked_consumer_tokens_are_refused(
    session: Session, client: TestClient, world: World
) -> None:
    # given
    expired = make_consumer(session, world.brand, "alice")
    revoked = make_consumer(session, world.brand, "bob")
    session.execute(
        update(ConsumerSession)
        .where(ConsumerSession.consumer_id == expired.consumer.id)
        .values(expires_at=utc_now() - timedelta(seconds=1))
    )
    session.execute(
        update(ConsumerSession)
        .where(ConsumerSession.consumer_id == revoked.consumer.id)
        .values(revoked_at=utc_now())
    )
    session.commit()
    # then
    assert_problem(client.get("/api/storefront/me"), 401, "not_authenticated")
    for shopper in (expired, revoked):
        assert_problem(
            client.get("/api/storefront/me", headers=shopper.headers), 401, "invalid_token"
        )
    assert_problem(
        client.get("/api/storefront/me", headers={"Authorization": "Bearer siyuc_forged"}),
        401,
        "invalid_token",
    )


def test_a_blocked_consumer_cannot_log_in(
    session: Session, client: TestClient, world: World
) -> None:
    # given
    shopper = make_consumer(session, world.brand, "alice")
    shopper.consumer.status = "blocked"
    session.commit()
    before = row_counts(session)
    # when
    response = client.post(
        "/api/storefront/login",
        json={"brand": world.brand.slug, "code": login_code(session, world.brand, "alice")},
    )
    # then
    assert_problem(response, 403, "consumer_blocked")
    assert row_counts(session) == before
    assert_problem(client.get("/api/storefront/me", headers=shopper.headers), 401, "invalid_token")
