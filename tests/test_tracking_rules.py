"""Tracking rules without a database: batches, events field by field, COPY text, last visits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from siyu.tracking import rules
from siyu.tracking.errors import BatchTooLarge, InvalidBatch, InvalidJson
from siyu.tracking.rules import Rejection, parse_batch

NOW = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)


def event(**fields: Any) -> dict[str, Any]:
    return {"event_id": "e-1", "kind": "visit", "occurred_at": "2026-11-22T11:59:00+08:00"} | fields


def parse(*events: dict[str, Any], may_name_member: bool = False) -> rules.ParsedBatch:
    return parse_batch(orjson.dumps({"events": list(events)}), NOW, may_name_member=may_name_member)


def test_a_valid_batch_keeps_every_event_with_its_index() -> None:
    # when a batch of three valid events is parsed
    parsed = parse(
        event(event_id="a", scene=1047, scene_key="tabc", anonymous_id="v-1"),
        event(event_id="b", kind="custom", name="poster_saved", properties={"x": 1}),
        event(event_id="c", kind="view_item", product_id=7, sku_id=9, store_code="S01"),
    )
    # then all are kept, in order, typed
    assert [e.event_id for e in parsed.events] == ["a", "b", "c"]
    assert parsed.indices == [0, 1, 2]
    assert parsed.rejected == []
    assert parsed.duplicates == 0
    first = parsed.events[0]
    assert first.occurred_at == datetime(2026, 11, 22, 3, 59, tzinfo=UTC)
    assert (first.scene, first.scene_key, first.anonymous_id) == (1047, "tabc", "v-1")
    assert bytes(parsed.events[1].properties) == b'{"x":1}'


BAD_FIELDS = [
    ({"event_id": ""}, "invalid_field", "event_id", "Expected `str` of length >= 1"),
    ({"event_id": "x" * 65}, "invalid_field", "event_id", "Expected `str` of length <= 64"),
    ({"event_id": 12}, "invalid_field", "event_id", "Expected `str`, got `int`"),
    ({"event_id": "a\\b"}, "invalid_field", "event_id", "event_id holds a control character"),
    ({"event_id": "a\nb"}, "invalid_field", "event_id", "event_id holds a control character"),
    ({"kind": "purchase"}, "unknown_kind", "kind", "kind must be one of add_to_cart"),
    ({"kind": "custom"}, "name_required", "name", "a custom event needs a name"),
    ({"name": "x"}, "name_not_allowed", "name", "only custom events have a name"),
    ({"occurred_at": "2026-11-22T12:00:00"}, "invalid_field", "occurred_at", "with a timezone"),
    ({"occurred_at": "yesterday"}, "invalid_field", "occurred_at", "Invalid RFC3339"),
    ({"occurred_at": "2026-10-22T11:59:00+08:00"}, "too_late", "occurred_at", "more than 30"),
    ({"occurred_at": "2026-11-22T04:06:00Z"}, "in_future", "occurred_at", "in the future"),
    ({"anonymous_id": "v\t1"}, "invalid_field", "anonymous_id", "anonymous_id holds"),
    ({"scene_key": "k" * 33}, "invalid_field", "scene_key", "length <= 32"),
    ({"scene": "1047"}, "invalid_field", "scene", "Expected `int | null`, got `str`"),
    ({"scene": -1}, "invalid_field", "scene", "Expected `int` >= 0"),
    ({"store_id": 0}, "invalid_field", "store_id", "Expected `int` >= 1"),
    ({"store_id": 1, "store_code": "S1"}, "invalid_field", "store_code", "not both"),
    ({"product_id": 2**63}, "invalid_field", "product_id", "Expected `int` <="),
    ({"member_id": 5}, "member_not_allowed", "member_id", "only server-side events"),
    ({"properties": [1]}, "invalid_field", "properties", "must be a JSON object"),
    ({"properties": {"a": "\u0000"}}, "invalid_field", "properties", "\\u0000"),
    ({"properties": {"a": "x" * 4100}}, "properties_too_large", "properties", "at most 4096"),
]


@pytest.mark.parametrize(("change", "code", "field", "message"), BAD_FIELDS)
def test_a_malformed_event_is_rejected_with_its_index_and_reason(
    change: dict[str, Any], code: str, field: str, message: str
) -> None:
    # when the second event of a batch is malformed
    parsed = parse(event(event_id="ok-1"), event(event_id="bad") | change, event(event_id="ok-2"))
    # then it is rejected with its index, code, field and reason; the others are kept
    assert len(parsed.rejected) == 1
    rejection = parsed.rejected[0]
    assert (rejection.index, rejection.code, rejection.field) == (1, code, field)
    assert message in rejection.message
    assert [e.event_id for e in parsed.events] == ["ok-1", "ok-2"]
    assert parsed.indices == [0, 2]


def test_a_missing_field_is_named() -> None:
    parsed = parse(event(), {"event_id": "x", "kind": "visit"})
    assert parsed.rejected == [
        Rejection(1, "missing_field", "occurred_at is required", "occurred_at")
    ]


def test_an_event_that_is_not_an_object_is_rejected() -> None:
    parsed = parse_batch(b'{"events": [7, {"no": 1}]}', NOW, may_name_member=False)
    assert [(r.index, r.code) for r in parsed.rejected] == [
        (0, "invalid_field"),
        (1, "missing_field"),
    ]
    assert parsed.events == []


def test_late_events_within_30_days_and_small_clock_skew_are_accepted() -> None:
    parsed = parse(
        event(event_id="late", occurred_at=(NOW - timedelta(days=29, hours=23)).isoformat()),
        event(event_id="skew", occurred_at=(NOW + timedelta(minutes=4)).isoformat()),
    )
    assert [e.event_id for e in parsed.events] == ["late", "skew"]


def test_staff_may_name_a_member() -> None:
    parsed = parse(event(member_id=5), may_name_member=True)
    assert parsed.events[0].member_id == 5


def test_a_repeated_event_id_in_the_batch_is_a_duplicate_not_a_rejection() -> None:
    parsed = parse(event(event_id="a"), event(event_id="a"), event(event_id="b"))
    assert [e.event_id for e in parsed.events] == ["a", "b"]
    assert parsed.duplicates == 1
    assert parsed.rejected == []


@pytest.mark.parametrize(
    ("body", "error", "code"),
    [
        (b"not json", InvalidJson, "invalid_json"),
        (b'{"events": [', InvalidJson, "invalid_json"),
        (b"[]", InvalidBatch, "invalid_batch"),
        (b'{"events": {}}', InvalidBatch, "invalid_batch"),
        (b"{}", InvalidBatch, "invalid_batch"),
    ],
)
def test_a_body_that_is_no_batch_is_refused_whole(
    body: bytes, error: type[Exception], code: str
) -> None:
    with pytest.raises(error) as raised:
        parse_batch(body, NOW, may_name_member=False)
    assert getattr(raised.value, "code", None) == code


@pytest.mark.parametrize("valid", [True, False])
def test_more_than_500_events_are_refused_whole(valid: bool) -> None:
    events = [event(event_id=f"e{i}") if valid else {"bad": i} for i in range(501)]
    with pytest.raises(BatchTooLarge):
        parse(*events)
    assert len(parse(*events[:500]).events) == (500 if valid else 0)


def test_a_copy_line_has_every_column_and_escapes_the_properties() -> None:
    # given an anonymous scan with properties holding a backslash, a tab and a newline
    parsed = parse(
        event(
            event_id="s-1",
            kind="scan",
            scene_key="tabc",
            scene=1047,
            anonymous_id="v-1",
            properties={"path": "a\\b", "note": "x\ty\nz"},
        )
    )
    # when it becomes a COPY row with resolved ids
    line = rules.copy_line(3, parsed.events[0], "2026-11-22T04:00:00+00:00", None, 8, 12, 5)
    # then the columns are in COPY_COLUMNS order and the JSON is escaped for COPY text
    columns = line.rstrip("\n").split("\t")
    assert len(columns) == len(rules.COPY_COLUMNS)
    assert dict(zip(rules.COPY_COLUMNS, columns, strict=True)) == {
        "brand_id": "3",
        "event_id": "s-1",
        "kind": "scan",
        "name": "\\N",
        "occurred_at": "2026-11-22T11:59:00+08:00",
        "received_at": "2026-11-22T04:00:00+00:00",
        "anonymous_id": "v-1",
        "consumer_id": "\\N",
        "member_id": "8",
        "touchpoint_id": "12",
        "scene_key": "tabc",
        "scene": "1047",
        "store_id": "5",
        "product_id": "\\N",
        "sku_id": "\\N",
        "properties": '{"path":"a\\\\\\\\b","note":"x\\\\ty\\\\nz"}',
    }


def test_latest_visits_keep_the_latest_per_member_in_lock_order() -> None:
    t = NOW
    visits = [(2, 5, t), (1, 9, t - timedelta(hours=1)), (2, 5, t + timedelta(hours=2)), (1, 9, t)]
    assert rules.latest_visits(visits) == [(1, 9, t), (2, 5, t + timedelta(hours=2))]


def test_the_outcome_lists_rejections_by_index() -> None:
    outcome = rules.IngestOutcome(
        2, 1, (Rejection(3, "unknown_store", "no such store", "store_id"),)
    )
    assert outcome.as_json() == {
        "accepted": 2,
        "duplicates": 1,
        "rejected": [
            {"index": 3, "code": "unknown_store", "field": "store_id", "message": "no such store"}
        ],
    }


def test_a_busy_members_last_visit_is_written_at_most_once_an_interval() -> None:
    # given members 7 (written 0.5 s ago at NOW) and 8 (written 3 s ago at NOW), 9 never
    written = {(1, 7): (100.0, NOW), (1, 8): (97.5, NOW)}
    later = NOW + timedelta(minutes=1)
    visits = [(1, 7, later), (1, 8, later), (1, 9, later), (1, 7, NOW - timedelta(hours=1))]
    # when visits are split at 100.5 with a one-second interval
    due, deferred = rules.due_visits(visits, written, 100.5, 1.0)
    # then the quiet and new members are due, the busy one waits, an older visit is dropped
    assert due == [(1, 8, later), (1, 9, later)]
    assert deferred == [(1, 7, later)]


def test_a_plain_body_and_one_with_escapes_are_judged_alike() -> None:
    # given the same events, once as plain ASCII and once with Chinese properties (not plain)
    received = NOW
    good = {"event_id": "p-1", "kind": "visit", "occurred_at": received.isoformat()}
    bad_object = {**good, "event_id": "p-2", "properties": [1]}
    plain = orjson.dumps({"events": [good, bad_object]})
    escaped = orjson.dumps({"events": [{**good, "properties": {"页面": "首页"}}, bad_object]})
    assert rules.is_plain(plain) and not rules.is_plain(escaped)
    # when both are parsed
    results = [
        rules.parse_batch(body, received, may_name_member=False) for body in (plain, escaped)
    ]
    # then both keep the first event and refuse the second for the same reason
    for parsed in results:
        assert parsed.indices == [0]
        assert [(r.index, r.code, r.field) for r in parsed.rejected] == [
            (1, "invalid_field", "properties")
        ]


def test_identifiers_with_a_control_character_or_backslash_are_refused_in_any_body() -> None:
    received = NOW
    events = [
        {"event_id": "tab\there", "kind": "visit", "occurred_at": received.isoformat()},
        {
            "event_id": "ok",
            "kind": "visit",
            "occurred_at": received.isoformat(),
            "anonymous_id": "a\\b",
        },
        {
            "event_id": "ok2",
            "kind": "visit",
            "occurred_at": received.isoformat(),
            "scene_key": "\u3000",
        },
    ]
    parsed = rules.parse_batch(orjson.dumps({"events": events}), received, may_name_member=False)
    assert parsed.events == []
    assert [(r.index, r.field) for r in parsed.rejected] == [
        (0, "event_id"),
        (1, "anonymous_id"),
        (2, "scene_key"),
    ]
