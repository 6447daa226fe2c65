"""Compiled segment rules evaluated on a small brand: each condition kind selects exactly the
members it should, combinators compose, and scope bounds the result."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.access.rules import Actor, system_actor
from siyu.access.service import actor_for_staff
from siyu.segments.compiler import Strategy
from siyu.segments.conditions import LIFECYCLE_STAGES
from siyu.segments.membership import choose_strategy, matching_statement
from siyu.segments.models import MemberTag
from siyu.segments.rules import parse_rule
from tests.factories import World, build_world
from tests.factories_catalog import make_category, make_product
from tests.factories_segments import (
    make_event,
    make_member,
    make_offline_order,
    make_online_order,
    make_tag,
)
from tests.factories_touchpoints import make_touchpoint

NOW = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai


def ago(**delta: float) -> datetime:
    return NOW - timedelta(**delta)


@dataclass
class Shop:
    world: World
    ids: dict[str, int]

    def names(
        self,
        session: Session,
        rule: dict[str, Any],
        actor: Actor | None = None,
        strategy: Strategy | None = None,
    ) -> set[str]:
        statement = matching_statement(
            session,
            parse_rule(rule).node,
            brand_id=self.world.brand.id,
            owner=actor or self.world.system,
            now=NOW,
            strategy=strategy,
        )
        found = set(session.scalars(statement))
        return {name for name, member_id in self.ids.items() if member_id in found}


@pytest.fixture
def shop(session: Session) -> Shop:
    """Four members (ann, bob, cat, dan) and a merged one (eve) with orders, tags and events."""
    w = build_world(session)
    system = w.system
    shelf = make_touchpoint(session, system, kind="shelf_code", store_id=w.direct_store.id)
    poster = make_touchpoint(session, system, kind="poster", store_id=w.other_store.id)
    root = make_category(session, system, "ROOT")
    child = make_category(session, system, "CHILD", parent=root)
    other = make_category(session, system, "OTHER")
    tee, _ = make_product(session, system, child, "TEE")
    mug, _ = make_product(session, system, other, "MUG")
    ann = make_member(
        session,
        w.brand.id,
        name="Ann",
        phone="13800000001",
        home_store_id=w.direct_store.id,
        source_store_id=w.direct_store.id,
        source_touchpoint_id=shelf.touchpoint.id,
        source_guide_staff_id=w.staff["guide"].id,
        joined_at=ago(days=10),
        gender="female",
        birthday=date(1990, 3, 8),
        tier_code="gold",
        lifecycle_stage="repeat",
        order_count=3,
        total_spent_fen=30_000,
        last_order_at=ago(days=5),
    )
    bob = make_member(
        session,
        w.brand.id,
        home_store_id=w.other_store.id,
        source_touchpoint_id=poster.touchpoint.id,
        joined_at=ago(days=100),
        gender="male",
        birthday=date(1985, 12, 1),
        tier_code="silver",
        lifecycle_stage="new",
    )
    cat = make_member(
        session, w.brand.id, name="Cat", phone="13800000003", home_store_id=w.franchise_store.id
    )
    dan = make_member(
        session,
        w.brand.id,
        name="Dan",
        home_store_id=w.other_store.id,
        joined_at=ago(days=40),
        gender="male",
        tier_code="gold",
        lifecycle_stage="dormant",
        order_count=1,
        total_spent_fen=5_000,
        last_order_at=ago(days=120),
    )
    eve = make_member(session, w.brand.id, name="Eve", tier_code="gold", joined_at=ago(days=1))
    eve.status, eve.merged_into_id = "merged", ann.id
    vip = make_tag(session, system, "vip")
    lapsed = make_tag(session, system, "lapsed")
    for member, tag in ((ann, vip), (dan, lapsed), (eve, vip)):
        session.add(
            MemberTag(
                brand_id=w.brand.id,
                member_id=member.id,
                tag_id=tag.id,
                source="manual",
                tagged_at=NOW,
            )
        )
    store = w.direct_store.id
    make_online_order(session, ann, store, tee, paid_at=ago(days=5), paid_fen=10_000)
    make_online_order(session, ann, store, mug, paid_at=ago(days=20), paid_fen=20_000)
    make_online_order(session, bob, store, tee, paid_at=ago(days=1), payment_status="unpaid")
    make_online_order(
        session,
        bob,
        store,
        tee,
        paid_at=ago(days=2),
        paid_fen=9_000,
        refunded_fen=9_000,
        payment_status="refunded",
        refunded_quantity=1,
    )
    make_offline_order(session, dan, store, mug, placed_at=ago(days=120), total_fen=5_000)
    make_offline_order(session, dan, store, tee, placed_at=ago(days=3), total_fen=8_000)
    make_offline_order(
        session, cat, store, tee, placed_at=ago(days=2), total_fen=7_000, refunded_fen=7_000
    )
    for days in (1, 10, 40):
        make_event(session, w.brand.id, ann, "visit", ago(days=days))
    make_event(session, w.brand.id, ann, "custom", ago(days=2), name="quiz_done")
    make_event(session, w.brand.id, bob, "visit", ago(days=3))
    for hours in (1, 2, 3):
        make_event(session, w.brand.id, cat, "scan", ago(hours=hours))
    make_event(session, w.brand.id, None, "visit", ago(days=1))
    session.flush()
    ids = {"ann": ann.id, "bob": bob.id, "cat": cat.id, "dan": dan.id, "eve": eve.id}
    return Shop(w, ids)


def _with_objects(shop: Shop, session: Session) -> dict[str, int]:
    from siyu.catalog.models import Category, Product
    from siyu.touchpoints.models import Touchpoint

    brand = shop.world.brand.id
    found = {
        c.code: c.id for c in session.scalars(select(Category).where(Category.brand_id == brand))
    }
    found |= {
        p.code: p.id for p in session.scalars(select(Product).where(Product.brand_id == brand))
    }
    found |= {
        t.kind: t.id
        for t in session.scalars(select(Touchpoint).where(Touchpoint.brand_id == brand))
    }
    return found


PROFILE_CASES: list[tuple[dict[str, Any], set[str]]] = [
    ({"gender": {"in": ["female"]}}, {"ann"}),
    ({"gender": {"in": ["male"]}}, {"bob", "dan"}),
    ({"gender": {"in": ["unknown"]}}, {"cat"}),
    ({"not": {"gender": {"in": ["female"]}}}, {"bob", "cat", "dan"}),
    ({"birthday_month": {"in": [3, 4]}}, {"ann"}),
    ({"not": {"birthday_month": {"in": [3]}}}, {"bob", "cat", "dan"}),
    ({"joined_at": {"within_days": 30}}, {"ann"}),
    ({"joined_at": {"present": False}}, {"cat"}),
    ({"joined_at": {"present": True}}, {"ann", "bob", "dan"}),
    ({"joined_at": {"after": "2026-09-23", "before": "2026-11-01"}}, {"dan"}),
    ({"display_name_present": True}, {"ann", "cat", "dan"}),
    ({"display_name_present": False}, {"bob"}),
    ({"phone_present": True}, {"ann", "cat"}),
    ({"phone_present": False}, {"bob", "dan"}),
    ({"tier": {"in": ["gold"]}}, {"ann", "dan"}),
    ({"tier": {"in": [None]}}, {"cat"}),
    ({"tier": {"in": ["silver", None]}}, {"bob", "cat"}),
    ({"not": {"tier": {"in": ["gold"]}}}, {"bob", "cat"}),
    ({"tag": {"has": "vip"}}, {"ann"}),
    ({"tag": {"has_not": "vip"}}, {"bob", "cat", "dan"}),
    ({"lifecycle_stage": {"in": ["dormant", "new"]}}, {"bob", "dan"}),
    ({"lifecycle_stage": {"in": ["prospect"]}}, {"cat"}),
    ({"source_touchpoint_kind": {"in": ["poster"]}}, {"bob"}),
    ({"not": {"source_touchpoint_kind": {"in": ["poster"]}}}, {"ann", "cat", "dan"}),
]


@pytest.mark.parametrize(("rule", "expected"), PROFILE_CASES)
def test_profile_tier_tag_and_stage_conditions(
    session: Session, shop: Shop, rule: dict[str, Any], expected: set[str]
) -> None:
    assert shop.names(session, rule) == expected


def test_source_and_place_conditions(session: Session, shop: Shop) -> None:
    w = shop.world
    objects = _with_objects(shop, session)
    assert shop.names(session, {"source_touchpoint": {"in": [objects["shelf_code"]]}}) == {"ann"}
    assert shop.names(session, {"source_store": {"in": [w.direct_store.id]}}) == {"ann"}
    assert shop.names(session, {"home_store": {"in": [w.other_store.id]}}) == {"bob", "dan"}
    assert shop.names(session, {"region": {"in": [w.region_a.id]}}) == {"ann", "cat"}
    assert shop.names(session, {"not": {"region": {"in": [w.region_a.id]}}}) == {"bob", "dan"}


def test_bought_product_or_category_online_and_offline(session: Session, shop: Shop) -> None:
    objects = _with_objects(shop, session)
    tee, mug = objects["TEE"], objects["MUG"]
    # ann paid online; dan bought at the till; bob's unpaid and refunded orders and cat's
    # returned receipt do not count
    assert shop.names(session, {"bought": {"product": tee, "within_days": 7}}) == {"ann", "dan"}
    assert shop.names(session, {"bought": {"product": tee, "within_days": 4}}) == {"dan"}
    assert shop.names(session, {"bought": {"product": tee}}) == {"ann", "dan"}
    # a category includes its subcategories
    root = objects["ROOT"]
    assert shop.names(session, {"bought": {"category": root, "within_days": 30}}) == {
        "ann",
        "dan",
    }
    assert shop.names(session, {"bought": {"category": objects["OTHER"]}}) == {"ann", "dan"}
    assert shop.names(session, {"bought": {"product": mug, "within_days": 30}}) == {"ann"}
    assert shop.names(session, {"not": {"bought": {"product": mug}}}) == {"bob", "cat"}


SPEND_AND_ORDER_CASES: list[tuple[dict[str, Any], set[str]]] = [
    ({"spend": {"at_least_fen": 10_000}}, {"ann"}),
    ({"spend": {"at_most_fen": 0}}, {"bob", "cat"}),
    ({"spend": {"at_least_fen": 25_000, "within_days": 30}}, {"ann"}),
    ({"spend": {"at_most_fen": 9_000, "within_days": 30}}, {"bob", "cat", "dan"}),
    ({"spend": {"at_least_fen": 5_000, "at_most_fen": 9_000, "within_days": 30}}, {"dan"}),
    ({"spend": {"at_least_fen": 0, "within_days": 30}}, {"ann", "bob", "cat", "dan"}),
    ({"orders": {"at_least": 1}}, {"ann", "dan"}),
    ({"orders": {"at_least": 2, "within_days": 30}}, {"ann"}),
    ({"orders": {"at_least": 1, "at_most": 1, "within_days": 30}}, {"dan"}),
    ({"orders": {"at_most": 0, "within_days": 30}}, {"bob", "cat"}),
    ({"orders": {"at_least": 2, "within_days": 200}}, {"ann", "dan"}),
    ({"last_order": {"within_days": 30}}, {"ann"}),
    ({"last_order": {"more_than_days_ago": 90}}, {"dan"}),
    ({"last_order": {"within_days": 200, "more_than_days_ago": 3}}, {"ann", "dan"}),
]


@pytest.mark.parametrize("strategy", list(Strategy))
@pytest.mark.parametrize(("rule", "expected"), SPEND_AND_ORDER_CASES)
def test_spend_order_count_and_last_order(
    session: Session,
    shop: Shop,
    rule: dict[str, Any],
    expected: set[str],
    strategy: Strategy,
) -> None:
    # alone, and behind a member-local condition every member meets (so probes can run)
    everyone = {"lifecycle_stage": {"in": list(LIFECYCLE_STAGES)}}
    assert shop.names(session, rule, strategy=strategy) == expected
    assert shop.names(session, {"all": [everyone, rule]}, strategy=strategy) == expected


EVENT_CASES: list[tuple[dict[str, Any], set[str]]] = [
    ({"events": {"kind": "visit", "within_days": 30, "at_least": 2}}, {"ann"}),
    ({"events": {"kind": "visit", "within_days": 30}}, {"ann", "bob"}),
    ({"events": {"kind": "visit", "within_days": 5}}, {"ann", "bob"}),
    ({"events": {"kind": "visit", "within_days": 60, "at_least": 3}}, {"ann"}),
    ({"events": {"kind": "visit", "within_days": 30, "at_least": 4}}, set()),
    ({"events": {"kind": "custom", "name": "quiz_done", "within_days": 7}}, {"ann"}),
    ({"events": {"kind": "custom", "name": "other", "within_days": 7}}, set()),
    ({"events": {"kind": "scan", "within_days": 1, "at_least": 3}}, {"cat"}),
    ({"not": {"events": {"kind": "visit", "within_days": 30}}}, {"cat", "dan"}),
    (
        {"not": {"events": {"kind": "visit", "within_days": 30, "at_least": 2}}},
        {"bob", "cat", "dan"},
    ),
]


@pytest.mark.parametrize("strategy", list(Strategy))
@pytest.mark.parametrize(("rule", "expected"), EVENT_CASES)
def test_visits_and_events(
    session: Session,
    shop: Shop,
    rule: dict[str, Any],
    expected: set[str],
    strategy: Strategy,
) -> None:
    # alone, and behind a member-local condition every member meets (so probes can run)
    everyone = {"lifecycle_stage": {"in": list(LIFECYCLE_STAGES)}}
    assert shop.names(session, rule, strategy=strategy) == expected
    assert shop.names(session, {"all": [everyone, rule]}, strategy=strategy) == expected


def test_all_any_and_not_compose(session: Session, shop: Shop) -> None:
    gold = {"tier": {"in": ["gold"]}}
    vip = {"tag": {"has": "vip"}}
    other_store = {"home_store": {"in": [shop.world.other_store.id]}}
    assert shop.names(session, {"all": [gold, {"not": vip}]}) == {"dan"}
    assert shop.names(session, {"any": [vip, other_store]}) == {"ann", "bob", "dan"}
    assert shop.names(session, {"not": {"any": [vip, other_store]}}) == {"cat"}
    assert shop.names(
        session,
        {
            "all": [
                gold,
                vip,
                {"events": {"kind": "visit", "within_days": 30, "at_least": 2}},
            ]
        },
    ) == {"ann"}
    assert shop.names(
        session, {"any": [{"all": [gold, {"phone_present": False}]}, {"tier": {"in": [None]}}]}
    ) == {"dan", "cat"}


def test_merged_members_never_match(session: Session, shop: Shop) -> None:
    # eve is gold, joined yesterday and tagged vip, but was merged into ann
    assert "eve" not in shop.names(
        session, {"any": [{"tier": {"in": ["gold"]}}, {"tag": {"has": "vip"}}]}
    )


def test_scope_bounds_the_result(session: Session, shop: Shop) -> None:
    w = shop.world
    everyone = {"orders": {"at_most": 100}}
    region = actor_for_staff(w.staff["region_manager"])
    store = actor_for_staff(w.staff["store_manager"])
    guide = actor_for_staff(w.staff["guide"])
    other_guide = actor_for_staff(w.staff["other_guide"])
    franchisee = actor_for_staff(w.staff["franchisee_owner"])
    assert shop.names(session, everyone, system_actor(w.brand.id)) == {"ann", "bob", "cat", "dan"}
    assert shop.names(session, everyone, region) == {"ann", "cat"}
    assert shop.names(session, everyone, store) == {"ann"}
    assert shop.names(session, everyone, franchisee) == {"cat"}
    assert shop.names(session, everyone, guide) == {"ann"}
    assert shop.names(session, everyone, other_guide) == set()


def test_a_rule_is_one_statement(session: Session, shop: Shop) -> None:
    root = _with_objects(shop, session)["ROOT"]
    statement = matching_statement(
        session,
        parse_rule(
            {
                "all": [
                    {"bought": {"category": root, "within_days": 30}},
                    {"spend": {"at_least_fen": 1, "within_days": 30}},
                    {"events": {"kind": "visit", "within_days": 30, "at_least": 2}},
                ]
            }
        ).node,
        brand_id=shop.world.brand.id,
        owner=shop.world.system,
        now=NOW,
    )
    sql = str(statement.compile())
    assert sql.count(";") == 0
    assert sql.startswith("WITH RECURSIVE")
    assert session.scalars(statement).all() == [shop.ids["ann"]]


def test_the_strategy_is_aggregate_unless_candidates_can_be_narrowed(
    session: Session, shop: Shop
) -> None:
    def strategy(rule: dict[str, Any]) -> Strategy:
        return choose_strategy(
            session,
            parse_rule(rule).node,
            brand_id=shop.world.brand.id,
            owner=shop.world.system,
            now=NOW,
        )

    visits = {"events": {"kind": "visit", "within_days": 30, "at_least": 2}}
    # nothing to count, or no member-local condition to narrow the candidates: aggregate
    assert strategy({"all": [{"tier": {"in": ["gold"]}}, {"tag": {"has": "vip"}}]}) is (
        Strategy.AGGREGATE
    )
    assert strategy(visits) is Strategy.AGGREGATE
    assert strategy({"any": [{"tier": {"in": ["gold"]}}, visits]}) is Strategy.AGGREGATE
