"""Purchase summaries follow paid and refunded orders exactly once; lifecycle stages follow
purchases, the brand's thresholds and the daily refresh."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.audit.models import AuditEntry
from siyu.db.session import Database
from siyu.jobs.app import make_job_app
from siyu.members.identity import register_member
from siyu.members.jobs import refresh_lifecycle_stages_job
from siyu.members.lifecycle import policy_of, refresh_lifecycle_stages
from siyu.members.models import Member, MemberPurchaseEntry
from siyu.members.rules import LifecyclePolicy, lifecycle_stage
from siyu.orders.events import OrderPaid
from siyu.outbox.models import OutboxEvent
from siyu.outbox.service import record_event
from tests.factories import build_world
from tests.factories_members import member_of, purchase_registry
from tests.factories_settlement import (
    Franchise,
    build_franchise,
    dispatch_all,
    paid_order,
    refunded,
)
from tests.helpers import assert_problem, row_counts

NOW = datetime(2026, 6, 1, 4, 0, tzinfo=UTC)


@pytest.fixture
def franchise(session: Session) -> Franchise:
    return build_franchise(session)


def stage_events(session: Session) -> list[tuple[int, str, str]]:
    return [
        (p["member_id"], p["from_stage"], p["to_stage"])
        for p in session.scalars(
            select(OutboxEvent.payload)
            .where(OutboxEvent.event_type == "MemberLifecycleChanged")
            .order_by(OutboxEvent.id)
        )
    ]


def test_a_paid_order_counts_once_however_often_it_is_delivered(
    session: Session, db: Database, franchise: Franchise
) -> None:
    # given a prospect's order paid through checkout and the sandbox
    order = paid_order(session, db, franchise, franchise.world.direct_store, tees=2)
    registry = purchase_registry()
    # when the order events are delivered, and OrderPaid is delivered a second time
    dispatch_all(db, registry)
    paid = session.scalars(select(OutboxEvent).where(OutboxEvent.event_type == "OrderPaid")).one()
    record_event(
        session,
        franchise.brand_id,
        OrderPaid.model_validate(paid.payload),
    )
    session.commit()
    dispatch_all(db, registry)
    # then the member counts one order of what was paid, and bought their way to first purchase
    member = member_of(session, franchise.shopper)
    assert (member.order_count, member.total_spent_fen) == (1, order.paid_fen)
    assert member.first_order_at == member.last_order_at == order.paid_at
    assert member.lifecycle_stage == "first_purchase"
    assert stage_events(session) == [(member.id, "prospect", "first_purchase")]
    assert session.scalar(select(func.count()).select_from(MemberPurchaseEntry)) == 1


def test_refunds_take_spend_back_and_the_last_one_uncounts_the_order(
    session: Session, db: Database, franchise: Franchise
) -> None:
    # given two paid orders counted in the member's summary
    first = paid_order(session, db, franchise, franchise.world.direct_store, tees=1)
    second = paid_order(session, db, franchise, franchise.world.direct_store, tees=1)
    registry = purchase_registry()
    dispatch_all(db, registry)
    assert member_of(session, franchise.shopper).lifecycle_stage == "repeat"
    # when the second is refunded in two parts, and the refund events are delivered twice
    refunded(session, db, second, 2000)
    refunded(session, db, second, second.paid_fen - 2000)
    dispatch_all(db, registry)
    for event in session.scalars(
        select(OutboxEvent).where(OutboxEvent.event_type == "OrderRefunded")
    ).all():
        session.add(
            OutboxEvent(
                brand_id=event.brand_id,
                event_type=event.event_type,
                aggregate_type=event.aggregate_type,
                aggregate_id=event.aggregate_id,
                payload=event.payload,
            )
        )
    session.commit()
    dispatch_all(db, registry)
    # then only the first order remains counted and the member is back to a first purchase
    member = member_of(session, franchise.shopper)
    assert (member.order_count, member.total_spent_fen) == (1, first.paid_fen)
    assert member.lifecycle_stage == "first_purchase"
    assert stage_events(session)[-1] == (member.id, "repeat", "first_purchase")


def test_the_refresh_moves_idle_buyers_to_dormant_then_churned_once(
    session: Session, db: Database
) -> None:
    # given buyers whose last orders were 10, 100 and 200 days ago, and a prospect
    world = build_world(session)

    def buyer(days: int, orders: int = 1, stage: str = "first_purchase") -> Member:
        member = register_member(session, world.brand.id, identities=[], source="test")
        member.order_count, member.total_spent_fen = orders, 9_900 * orders
        member.first_order_at = member.last_order_at = NOW - timedelta(days=days)
        member.lifecycle_stage = stage
        return member

    recent, idle, gone = buyer(10), buyer(100, 5, "loyal"), buyer(200, 2, "repeat")
    prospect = register_member(session, world.brand.id, identities=[], source="test")
    session.commit()
    # when the daily refresh runs, twice
    first = refresh_lifecycle_stages(session, now=NOW)
    second = refresh_lifecycle_stages(session, now=NOW)
    session.commit()
    # then the idle buyers moved once, with an event each
    assert first == {
        "churned": 1,
        "dormant": 1,
        "loyal": 0,
        "repeat": 0,
        "first_purchase": 0,
    }
    assert set(second.values()) == {0}
    session.expire_all()
    stages = {m.id: m.lifecycle_stage for m in session.scalars(select(Member))}
    assert stages == {
        recent.id: "first_purchase",
        idle.id: "dormant",
        gone.id: "churned",
        prospect.id: "prospect",
    }
    assert sorted(stage_events(session)) == sorted(
        [(idle.id, "loyal", "dormant"), (gone.id, "repeat", "churned")]
    )


def test_the_refresh_agrees_with_the_rules_under_a_brands_own_thresholds(
    session: Session, client: TestClient
) -> None:
    # given a brand with strict thresholds and members of every shape
    world = build_world(session)
    session.commit()
    policy = {
        "repeat_min_orders": 3,
        "loyal_min_orders": 6,
        "loyal_min_spent_fen": 500_000,
        "dormant_after_days": 30,
        "churned_after_days": 60,
    }
    response = client.put(
        "/api/members/lifecycle-policy", json=policy, headers=world.headers("hq_operator")
    )
    assert response.status_code == 200, response.text
    shapes = [(o, s, d) for o in (1, 2, 3, 6) for s in (9_900, 500_000) for d in (1, 29, 30, 61)]
    members = []
    for orders, spent, days in shapes:
        member = register_member(session, world.brand.id, identities=[], source="test")
        member.order_count, member.total_spent_fen = orders, spent
        member.last_order_at = NOW - timedelta(days=days)
        member.lifecycle_stage = "first_purchase"
        members.append(member)
    session.commit()
    # when the refresh runs
    refresh_lifecycle_stages(session, now=NOW, brand_id=world.brand.id)
    session.commit()
    # then every member is in the stage the pure rules give
    rules_policy = policy_of(session, world.brand.id)
    assert rules_policy == LifecyclePolicy(**policy)
    session.expire_all()
    for member in members:
        session.refresh(member)
        expected = lifecycle_stage(
            joined=False,
            order_count=member.order_count,
            total_spent_fen=member.total_spent_fen,
            last_order_at=member.last_order_at,
            now=NOW,
            policy=rules_policy,
        )
        assert member.lifecycle_stage == expected.value, (member.order_count, member.last_order_at)


def test_the_daily_job_is_registered_and_runs(session: Session, db: Database) -> None:
    # given an idle buyer
    world = build_world(session)
    member = register_member(session, world.brand.id, identities=[], source="test")
    member.order_count, member.total_spent_fen, member.lifecycle_stage = 1, 100, "first_purchase"
    member.last_order_at = datetime.now(UTC) - timedelta(days=120)
    session.commit()
    # when the periodic job runs
    moved = refresh_lifecycle_stages_job(0)
    # then it moved the member, and the job app knows it as a periodic task
    assert moved["dormant"] == 1
    session.refresh(member)
    assert member.lifecycle_stage == "dormant"
    app = make_job_app(db.url)
    assert "siyu:refresh_lifecycle_stages" in app.tasks
    assert any(
        p.task.name == "siyu:refresh_lifecycle_stages"
        for p in app.periodic_registry.periodic_tasks.values()
    )


# ---------------------------------------------------------------- the policy API


def test_the_policy_is_the_default_until_hq_changes_it(
    session: Session, client: TestClient
) -> None:
    # given a brand
    world = build_world(session)
    session.commit()
    # when a guide reads the policy, and HQ changes it
    default = client.get("/api/members/lifecycle-policy", headers=world.headers("guide"))
    changed = client.put(
        "/api/members/lifecycle-policy",
        json={"dormant_after_days": 60, "churned_after_days": 120},
        headers=world.headers("brand_admin"),
    )
    # then the defaults were shown, then the new thresholds, audited
    assert default.json() == {
        "repeat_min_orders": 2,
        "loyal_min_orders": 5,
        "loyal_min_spent_fen": 200_000,
        "dormant_after_days": 90,
        "churned_after_days": 180,
        "customized": False,
    }
    assert changed.status_code == 200, changed.text
    assert changed.json()["dormant_after_days"] == 60
    assert changed.json()["customized"] is True
    audit = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "lifecycle_policy.create")
    ).one()
    assert audit.after is not None and audit.after["churned_after_days"] == 120


@pytest.mark.parametrize("who", ["region_manager", "store_manager", "guide", "franchisee_owner"])
def test_only_hq_changes_the_policy(session: Session, client: TestClient, who: str) -> None:
    world = build_world(session)
    session.commit()
    before = row_counts(session)
    response = client.put(
        "/api/members/lifecycle-policy",
        json={"dormant_after_days": 60},
        headers=world.headers(who),
    )
    assert_problem(response, 403, "permission_denied")
    assert row_counts(session) == before


def test_an_inconsistent_policy_is_refused(session: Session, client: TestClient) -> None:
    world = build_world(session)
    session.commit()
    before = row_counts(session)
    response = client.put(
        "/api/members/lifecycle-policy",
        json={"dormant_after_days": 200, "churned_after_days": 180},
        headers=world.headers("brand_admin"),
    )
    body = assert_problem(response, 422, "invalid_lifecycle_policy")
    assert body["field"] == "churned_after_days"
    assert row_counts(session) == before
