"""Pure rules: opening hours, codes, masking and log redaction (no database)."""

from __future__ import annotations

from datetime import datetime

import pytest

from siyu.core.logging import redact
from siyu.core.masking import mask_phone, mask_phones_in_text
from siyu.org.rules import (
    OpeningHoursError,
    format_opening_hours,
    is_open_at,
    is_valid_code,
    parse_opening_hours,
)

EVERY_DAY = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def test_one_interval_applies_to_every_day() -> None:
    assert parse_opening_hours("10:00-22:00") == {d: [["10:00", "22:00"]] for d in EVERY_DAY}


def test_day_ranges_several_intervals_and_closed_days() -> None:
    hours = parse_opening_hours("mon-fri 10:00-14:00&17:00-22:00; sat 09:00-23:00; sun closed")
    assert hours["wed"] == [["10:00", "14:00"], ["17:00", "22:00"]]
    assert hours["sat"] == [["09:00", "23:00"]]
    assert hours["sun"] == []


def test_a_range_can_wrap_the_week() -> None:
    assert sorted(parse_opening_hours("fri-mon 10:00-20:00")) == ["fri", "mon", "sat", "sun"]


@pytest.mark.parametrize(
    "text",
    [
        "10:00-22:00",
        "mon-thu 10:00-21:30; fri-sun 10:00-22:30",
        "mon-fri 10:00-14:00&17:00-22:00; sat-sun closed",
        "00:00-24:00",
    ],
)
def test_formatting_reads_back_to_the_same_hours(text: str) -> None:
    hours = parse_opening_hours(text)
    assert parse_opening_hours(format_opening_hours(hours)) == hours


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("25:00-26:00", "'25:00' is not a time like 09:30"),
        ("10:00", "'10:00' is not an interval like 10:00-22:00"),
        ("funday 10:00-12:00", "'funday' is not a day (mon..sun)"),
        ("10:00-10:00", "'10:00-10:00' is empty: start and end are the same"),
        ("24:30-10:00", "'24:30' is past 24:00"),
    ],
)
def test_bad_opening_hours_say_why(text: str, reason: str) -> None:
    with pytest.raises(OpeningHoursError) as error:
        parse_opening_hours(text)
    assert str(error.value) == reason


def test_after_midnight_hours_belong_to_the_day_they_started() -> None:
    # a bar-hours store on Fridays: 20:00 Friday to 02:00 Saturday
    hours = parse_opening_hours("fri 20:00-02:00")
    friday_late = datetime(2026, 11, 20, 23, 30)
    saturday_small_hours = datetime(2026, 11, 21, 1, 59)
    saturday_morning = datetime(2026, 11, 21, 2, 0)
    assert is_open_at(hours, friday_late) is True
    assert is_open_at(hours, saturday_small_hours) is True
    assert is_open_at(hours, saturday_morning) is False


def test_a_store_closes_at_the_end_minute() -> None:
    hours = parse_opening_hours("10:00-22:00")
    assert is_open_at(hours, datetime(2026, 11, 22, 21, 59)) is True
    assert is_open_at(hours, datetime(2026, 11, 22, 22, 0)) is False
    assert is_open_at(hours, datetime(2026, 11, 22, 9, 59)) is False


@pytest.mark.parametrize(
    ("code", "valid"),
    [("SH01", True), ("sh-01.a_b", True), ("-SH", False), ("", False), ("店01", False)],
)
def test_codes(code: str, valid: bool) -> None:
    assert is_valid_code(code) is valid


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("13812345678", "138****5678"),
        ("+86 138 1234 5678", "138****5678"),
        ("021-61234567", "*******4567"),
        ("123", "***"),
        (None, None),
    ],
)
def test_phones_are_masked(phone: str | None, masked: str | None) -> None:
    assert mask_phone(phone) == masked


def test_phones_inside_text_are_masked() -> None:
    assert mask_phones_in_text("call 13812345678 or +8613900001111 now") == (
        "call 138****5678 or 139****1111 now"
    )


def test_log_events_lose_secrets_and_phone_numbers() -> None:
    event = {
        "event": "login for 13812345678",
        "password": "hunter2-hunter2",
        "headers": {"Authorization": "Bearer siyu_abc", "accept": "text/html"},
        "session_token": "abc",
        "phones": ["13900001111"],
    }
    assert redact(None, "info", event) == {
        "event": "login for 138****5678",
        "password": "[redacted]",
        "headers": {"Authorization": "[redacted]", "accept": "text/html"},
        "session_token": "[redacted]",
        "phones": ["139****1111"],
    }
