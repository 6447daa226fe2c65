"""The segment rule language without a database: validation paths, normal form, schedules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from siyu.segments.conditions import HasTag, TierIs
from siyu.segments.rules import (
    AllOf,
    AnyOf,
    NotOf,
    Reference,
    ReferenceKind,
    RuleInvalid,
    Schedule,
    conditions_of,
    conjuncts,
    describe,
    is_due,
    is_member_local,
    is_windowed_count,
    parse_rule,
    rule_json,
)

THREE_CONDITIONS = {
    "all": [
        {"tier": {"in": ["gold"]}},
        {"tag": {"has": "vip"}},
        {"events": {"kind": "visit", "within_days": 30, "at_least": 2}},
    ]
}


def problems(rule: object) -> list[tuple[str, str]]:
    with pytest.raises(RuleInvalid) as raised:
        parse_rule(rule)
    return [(p.path, p.message) for p in raised.value.problems]


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (
            [],
            [
                (
                    "rule",
                    "expected an object with exactly one key: all, any, not or a condition "
                    "(birthday_month, bought, display_name_present, events, gender, home_store, "
                    "joined_at, last_order, lifecycle_stage, orders, phone_present, region, "
                    "source_store, source_touchpoint, source_touchpoint_kind, spend, tag, tier)",
                )
            ],
        ),
        ({"all": []}, [("rule.all", "'all' needs a non-empty list of rules")]),
        ({"any": {"tier": {"in": ["a"]}}}, [("rule.any", "'any' needs a non-empty list of rules")]),
        (
            {"all": [{"tier": {"in": ["gold"]}}, {"tier": {"in": []}}]},
            [("rule.all[1].tier.in", "List should have at least 1 item after validation, not 0")],
        ),
        (
            {"any": [{"not": {"events": {"kind": "walk", "within_days": 0}}}]},
            [
                (
                    "rule.any[0].not.events.kind",
                    "Input should be 'scan', 'visit', 'view_item', 'add_to_cart', 'share', "
                    "'claim_coupon' or 'custom'",
                ),
                (
                    "rule.any[0].not.events.within_days",
                    "Input should be greater than or equal to 1",
                ),
            ],
        ),
        (
            {"all": [{"tier": {"in": ["gold"]}, "tag": {"has": "vip"}}]},
            [
                (
                    "rule.all[0]",
                    "expected an object with exactly one key: all, any, not or a condition "
                    "(birthday_month, bought, display_name_present, events, gender, home_store, "
                    "joined_at, last_order, lifecycle_stage, orders, phone_present, region, "
                    "source_store, source_touchpoint, source_touchpoint_kind, spend, tag, tier)",
                )
            ],
        ),
        (
            {"all": [{"colour": "red"}]},
            [
                (
                    "rule.all[0].colour",
                    "unknown condition 'colour'; expected all, any, not or one of birthday_month, "
                    "bought, display_name_present, events, gender, home_store, joined_at, "
                    "last_order, lifecycle_stage, orders, phone_present, region, source_store, "
                    "source_touchpoint, source_touchpoint_kind, spend, tag, tier",
                )
            ],
        ),
        (
            {"tag": {"has": "a", "has_not": "b"}},
            [("rule.tag", "give exactly one of has or has_not")],
        ),
        (
            {"bought": {"within_days": 7}},
            [("rule.bought", "give exactly one of product or category")],
        ),
        (
            {"spend": {"at_least_fen": 500, "at_most_fen": 100}},
            [("rule.spend", "at_least_fen must not exceed at_most_fen")],
        ),
        ({"orders": {"within_days": 7}}, [("rule.orders", "give at_least, at_most or both")]),
        (
            {"last_order": {"within_days": 30, "more_than_days_ago": 60}},
            [("rule.last_order", "more_than_days_ago must be smaller than within_days")],
        ),
        (
            {"joined_at": {"present": False, "within_days": 3}},
            [("rule.joined_at", "present: false cannot be combined with a time bound")],
        ),
        (
            {"birthday_month": {"in": [13]}},
            [("rule.birthday_month.in[0]", "Input should be less than or equal to 12")],
        ),
        (
            {"lifecycle_stage": {"in": ["vip"]}},
            [
                (
                    "rule.lifecycle_stage.in[0]",
                    "Input should be 'prospect', 'new', 'first_purchase', 'repeat', 'loyal', "
                    "'dormant' or 'churned'",
                )
            ],
        ),
        (
            {"home_store": {"in": [3], "extra": 1}},
            [("rule.home_store.extra", "Extra inputs are not permitted")],
        ),
        ({"phone_present": "yes"}, [("rule.phone_present", "expected true or false")]),
        ({"tier": ["gold"]}, [("rule.tier", "expected an object of the condition's fields")]),
    ],
)
def test_bad_rules_are_reported_at_their_json_path(
    rule: object, expected: list[tuple[str, str]]
) -> None:
    assert problems(rule) == expected


def test_every_problem_of_a_rule_is_reported_in_order() -> None:
    rule = {
        "all": [
            {"tier": {"in": []}},
            {"any": [{"tag": {}}, {"gender": {"in": ["robot"]}}]},
        ]
    }
    assert [path for path, _ in problems(rule)] == [
        "rule.all[0].tier.in",
        "rule.all[1].any[0].tag",
        "rule.all[1].any[1].gender.in[0]",
    ]


def test_rules_nest_at_most_eight_levels() -> None:
    rule: dict[str, Any] = {"tier": {"in": ["gold"]}}
    for _ in range(8):
        rule = {"not": rule}
    assert problems(rule) == [
        ("rule" + ".not" * 8, "rules nest at most 8 levels deep"),
    ]


def test_a_rule_holds_at_most_sixty_conditions() -> None:
    rule = {
        "any": [{"all": [{"tier": {"in": [f"t{i}-{j}"]}} for j in range(30)]} for i in range(3)]
    }
    assert problems(rule) == [("rule.any[2].all[0].tier", "a rule holds at most 60 conditions")]


def test_the_three_condition_rule_parses_and_lists_its_references() -> None:
    parsed = parse_rule(THREE_CONDITIONS)
    assert isinstance(parsed.node, AllOf)
    assert parsed.to_json() == {
        "all": [
            {"tier": {"in": ["gold"]}},
            {"tag": {"has": "vip"}},
            {"events": {"kind": "visit", "within_days": 30, "at_least": 2}},
        ]
    }
    assert parsed.references == (Reference(ReferenceKind.TAG, "vip", "rule.all[1].tag.has"),)
    assert describe(parsed.node) == (
        "tier in (gold) AND has tag vip AND at least 2 visit events in the last 30 days"
    )


def test_references_name_every_object_with_its_path() -> None:
    parsed = parse_rule(
        {
            "any": [
                {"home_store": {"in": [4, 5]}},
                {"region": {"in": [2]}},
                {"source_touchpoint": {"in": [9]}},
                {"source_touchpoint_kind": {"in": ["shelf_code"]}},
                {"not": {"tag": {"has_not": "lapsed"}}},
                {"bought": {"product": 12}},
                {"bought": {"category": 3, "within_days": 90}},
            ]
        }
    )
    assert [(r.kind.value, r.value, r.path) for r in parsed.references] == [
        ("store", 4, "rule.any[0].home_store.in[0]"),
        ("store", 5, "rule.any[0].home_store.in[1]"),
        ("region", 2, "rule.any[1].region.in[0]"),
        ("touchpoint", 9, "rule.any[2].source_touchpoint.in[0]"),
        ("touchpoint_kind", "shelf_code", "rule.any[3].source_touchpoint_kind.in[0]"),
        ("tag", "lapsed", "rule.any[4].not.tag.has_not"),
        ("product", 12, "rule.any[5].bought.product"),
        ("category", 3, "rule.any[6].bought.category"),
    ]


def test_normal_form_flattens_unwraps_and_dedupes() -> None:
    gold = {"tier": {"in": ["gold"]}}
    vip = {"tag": {"has": "vip"}}
    parsed = parse_rule(
        {
            "all": [
                {"all": [gold, {"all": [vip]}]},
                {"not": {"not": gold}},
                {"any": [{"any": [vip]}, {"phone_present": True}]},
            ]
        }
    )
    assert parsed.to_json() == {
        "all": [gold, vip, {"any": [vip, {"phone_present": True}]}],
    }
    tier = TierIs.model_validate({"in": ["gold"]})
    tag = HasTag.model_validate({"has": "vip"})
    assert parse_rule({"not": {"all": [gold, vip]}}).node == NotOf(AllOf((tier, tag)))
    assert parse_rule({"any": [gold, gold]}).node == tier
    assert isinstance(parse_rule({"any": [gold, vip]}).node, AnyOf)


def test_json_round_trips_through_the_parser() -> None:
    rule = {
        "any": [
            {"joined_at": {"after": "2026-01-01", "before": "2026-02-01"}},
            {"not": {"display_name_present": False}},
            {"spend": {"at_least_fen": 10000, "within_days": 90}},
            {"orders": {"at_most": 0}},
            {"last_order": {"more_than_days_ago": 90}},
            {"events": {"kind": "custom", "name": "quiz_done", "within_days": 7}},
        ]
    }
    parsed = parse_rule(rule)
    assert parse_rule(rule_json(parsed.node)).node == parsed.node
    assert parsed.to_json()["any"][5] == {
        "events": {"kind": "custom", "name": "quiz_done", "within_days": 7, "at_least": 1}
    }


@pytest.mark.parametrize(
    ("schedule", "age", "due"),
    [
        (Schedule.MANUAL, None, False),
        (Schedule.MANUAL, timedelta(days=400), False),
        (Schedule.HOURLY, None, True),
        (Schedule.HOURLY, timedelta(minutes=59), False),
        (Schedule.HOURLY, timedelta(hours=1), True),
        (Schedule.DAILY, timedelta(hours=23), False),
        (Schedule.DAILY, timedelta(days=1, seconds=1), True),
    ],
)
def test_schedules_say_when_a_refresh_is_due(
    schedule: Schedule, age: timedelta | None, due: bool
) -> None:
    now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    assert is_due(schedule, None if age is None else now - age, now) is due


@pytest.mark.parametrize(
    ("rule", "local"),
    [
        ({"tier": {"in": ["gold"]}}, True),
        ({"not": {"any": [{"tag": {"has": "vip"}}, {"last_order": {"within_days": 9}}]}}, True),
        ({"spend": {"at_least_fen": 1}}, True),
        ({"spend": {"at_least_fen": 1, "within_days": 30}}, False),
        ({"orders": {"at_least": 2, "within_days": 30}}, False),
        ({"bought": {"product": 1}}, False),
        (
            {"all": [{"tier": {"in": ["gold"]}}, {"events": {"kind": "scan", "within_days": 1}}]},
            False,
        ),
    ],
)
def test_member_local_rules_need_only_the_member_row_and_tags(
    rule: dict[str, Any], local: bool
) -> None:
    assert is_member_local(parse_rule(rule).node) is local


def test_windowed_counts_are_the_ones_with_a_strategy() -> None:
    parsed = parse_rule(
        {
            "all": [
                {"events": {"kind": "visit", "within_days": 30}},
                {"events": {"kind": "visit", "within_days": 30, "at_least": 2}},
                {"orders": {"at_least": 2}},
                {"spend": {"at_most_fen": 5, "within_days": 7}},
            ]
        }
    )
    assert [is_windowed_count(c) for c in conditions_of(parsed.node)] == [
        False,
        True,
        False,
        True,
    ]
    assert len(conjuncts(parsed.node)) == 4
