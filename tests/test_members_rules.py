"""The pure rules of members: lifecycle stages, what a merge keeps, how identifiers show."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from siyu.members.rules import (
    DEFAULT_POLICY,
    LifecyclePolicy,
    LifecycleStage,
    Profile,
    lifecycle_stage,
    mask_identifier,
    merged_profile,
    phones_conflict,
    policy_problems,
)

NOW = datetime(2026, 6, 1, 4, 0, tzinfo=UTC)
STRICT = LifecyclePolicy(
    repeat_min_orders=3,
    loyal_min_orders=6,
    loyal_min_spent_fen=500_000,
    dormant_after_days=30,
    churned_after_days=60,
)


@pytest.mark.parametrize(
    ("joined", "orders", "spent", "days_idle", "policy", "stage"),
    [
        (False, 0, 0, None, DEFAULT_POLICY, LifecycleStage.PROSPECT),
        (True, 0, 0, None, DEFAULT_POLICY, LifecycleStage.NEW),
        # a full refund of the only order takes the member back to before buying
        (True, 0, 0, 3, DEFAULT_POLICY, LifecycleStage.NEW),
        (True, 1, 9_900, 3, DEFAULT_POLICY, LifecycleStage.FIRST_PURCHASE),
        # buying counts even without joining
        (False, 1, 9_900, 3, DEFAULT_POLICY, LifecycleStage.FIRST_PURCHASE),
        (True, 2, 19_800, 3, DEFAULT_POLICY, LifecycleStage.REPEAT),
        (True, 5, 199_999, 3, DEFAULT_POLICY, LifecycleStage.REPEAT),  # spend one fen short
        (True, 4, 900_000, 3, DEFAULT_POLICY, LifecycleStage.REPEAT),  # one order short
        (True, 5, 200_000, 3, DEFAULT_POLICY, LifecycleStage.LOYAL),
        (True, 5, 200_000, 89, DEFAULT_POLICY, LifecycleStage.LOYAL),
        (True, 5, 200_000, 90, DEFAULT_POLICY, LifecycleStage.DORMANT),  # exactly 90 days
        (True, 1, 9_900, 179, DEFAULT_POLICY, LifecycleStage.DORMANT),
        (True, 1, 9_900, 180, DEFAULT_POLICY, LifecycleStage.CHURNED),
        (True, 9, 900_000, 400, DEFAULT_POLICY, LifecycleStage.CHURNED),
        (True, 2, 19_800, 3, STRICT, LifecycleStage.FIRST_PURCHASE),
        (True, 6, 499_999, 3, STRICT, LifecycleStage.REPEAT),
        (True, 6, 500_000, 29, STRICT, LifecycleStage.LOYAL),
        (True, 6, 500_000, 30, STRICT, LifecycleStage.DORMANT),
        (True, 6, 500_000, 60, STRICT, LifecycleStage.CHURNED),
    ],
)
def test_lifecycle_stage(
    joined: bool,
    orders: int,
    spent: int,
    days_idle: int | None,
    policy: LifecyclePolicy,
    stage: LifecycleStage,
) -> None:
    last_order_at = NOW - timedelta(days=days_idle) if days_idle is not None else None
    assert (
        lifecycle_stage(
            joined=joined,
            order_count=orders,
            total_spent_fen=spent,
            last_order_at=last_order_at,
            now=NOW,
            policy=policy,
        )
        is stage
    )


@pytest.mark.parametrize(
    ("policy", "problems"),
    [
        (DEFAULT_POLICY, []),
        (LifecyclePolicy(repeat_min_orders=1), ["repeat_min_orders"]),
        (LifecyclePolicy(repeat_min_orders=4, loyal_min_orders=3), ["loyal_min_orders"]),
        (LifecyclePolicy(loyal_min_spent_fen=-1), ["loyal_min_spent_fen"]),
        (LifecyclePolicy(dormant_after_days=0), ["dormant_after_days"]),
        (LifecyclePolicy(dormant_after_days=90, churned_after_days=90), ["churned_after_days"]),
    ],
)
def test_policy_problems(policy: LifecyclePolicy, problems: list[str]) -> None:
    assert [field for field, _ in policy_problems(policy)] == problems


JAN = datetime(2026, 1, 1, tzinfo=UTC)
FEB = datetime(2026, 2, 1, tzinfo=UTC)
MAR = datetime(2026, 3, 1, tzinfo=UTC)


def test_a_merge_adds_counters_and_keeps_the_earliest_joining_with_its_source() -> None:
    survivor = Profile(
        phone=None,
        display_name="Olga",
        joined_at=FEB,
        join_channel="mini_program",
        home_store_id=7,
        order_count=1,
        total_spent_fen=1_000,
        first_order_at=FEB,
        last_order_at=FEB,
        growth_value=10,
        points_balance=5,
    )
    merged = Profile(
        phone="13800001111",
        display_name="O.",
        birthday=date(1990, 5, 1),
        joined_at=JAN,
        join_channel="scan",
        source_touchpoint_id=3,
        source_store_id=8,
        source_guide_staff_id=9,
        home_store_id=8,
        order_count=2,
        total_spent_fen=4_000,
        first_order_at=JAN,
        last_order_at=MAR,
        last_visit_at=MAR,
        tier_code="gold",
        growth_value=20,
        points_balance=15,
    )
    assert merged_profile(survivor, merged) == Profile(
        phone="13800001111",
        display_name="Olga",
        birthday=date(1990, 5, 1),
        joined_at=JAN,
        join_channel="scan",
        source_touchpoint_id=3,
        source_store_id=8,
        source_guide_staff_id=9,
        home_store_id=7,
        order_count=3,
        total_spent_fen=5_000,
        first_order_at=JAN,
        last_order_at=MAR,
        last_visit_at=MAR,
        tier_code="gold",
        growth_value=30,
        points_balance=20,
    )


def test_a_merge_keeps_the_survivors_earlier_joining() -> None:
    survivor = Profile(joined_at=JAN, join_channel="pos", source_store_id=1)
    merged = Profile(joined_at=FEB, join_channel="scan", source_touchpoint_id=2, source_store_id=3)
    result = merged_profile(survivor, merged)
    assert (result.joined_at, result.join_channel, result.source_touchpoint_id) == (
        JAN,
        "pos",
        None,
    )


def test_a_prospect_without_source_takes_the_other_prospects_source() -> None:
    result = merged_profile(Profile(), Profile(source_touchpoint_id=4, source_store_id=5))
    assert (result.joined_at, result.source_touchpoint_id, result.source_store_id) == (None, 4, 5)


@pytest.mark.parametrize(
    ("first", "second", "conflict"),
    [
        (None, None, False),
        ("13800001111", None, False),
        (None, "13800001111", False),
        ("13800001111", "13800001111", False),
        ("13800001111", "13800002222", True),
    ],
)
def test_phones_conflict(first: str | None, second: str | None, conflict: bool) -> None:
    assert phones_conflict(first, second) is conflict


@pytest.mark.parametrize(
    ("kind", "value", "shown"),
    [
        ("phone", "13812345678", "138****5678"),
        ("mini_program_openid", "oAbCdEfGhIjKlMnOpQrStUvWxYz1", "oAb…Yz1"),
        ("pos_member_number", "12345678", "********"),
    ],
)
def test_identifiers_are_masked(kind: str, value: str, shown: str) -> None:
    assert mask_identifier(kind, value) == shown
