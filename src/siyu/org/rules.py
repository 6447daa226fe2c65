"""Pure rules of the organization: opening hours and store codes. No I/O.

Opening hours are stored as ``{"mon": [["10:00", "22:00"]], ..., "sun": []}``; a day missing
from the mapping or with an empty list is closed. An interval whose end is not after its start
runs past midnight (``22:00-02:00``); ``00:00-24:00`` is the whole day.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
OpeningHours = dict[str, list[list[str]]]

_TIME = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")


class OpeningHoursError(ValueError):
    pass


def is_valid_code(code: str) -> bool:
    """Codes of stores, regions, staff...: 1-32 letters, digits, ``_ . -``, starting alnum."""
    return bool(_CODE.match(code))


def ownership_problem(ownership: str, has_franchisee: bool) -> str | None:
    """Why a store's ownership and franchisee disagree, or None: a franchised store needs its
    franchisee, a directly operated one has none."""
    if ownership == "franchise" and not has_franchisee:
        return "a franchised store needs its franchisee: give the franchisee's code"
    if ownership == "direct" and has_franchisee:
        return (
            "a directly operated store has no franchisee: leave franchisee empty or set "
            "ownership to franchise"
        )
    return None


def _minutes(value: str) -> int:
    match = _TIME.match(value.strip())
    if not match:
        raise OpeningHoursError(f"'{value}' is not a time like 09:30")
    hours, minutes = int(match.group(1)), int(match.group(2))
    if hours == 24 and minutes != 0:
        raise OpeningHoursError(f"'{value}' is past 24:00")
    return hours * 60 + minutes


_FULL_DAY_NAMES = {
    "monday": "mon",
    "tuesday": "tue",
    "wednesday": "wed",
    "thursday": "thu",
    "friday": "fri",
    "saturday": "sat",
    "sunday": "sun",
}


def _day(word: str) -> str:
    cleaned = word.strip().lower()
    if cleaned in DAYS:
        return cleaned
    if cleaned in _FULL_DAY_NAMES:
        return _FULL_DAY_NAMES[cleaned]
    raise OpeningHoursError(f"'{word.strip()}' is not a day (mon..sun)")


def _days(spec: str) -> list[str]:
    chosen: list[str] = []
    for part in spec.split(","):
        if "-" in part:
            start, end = (_day(p) for p in part.split("-", 1))
            i, j = DAYS.index(start), DAYS.index(end)
            chosen.extend(DAYS[i : j + 1] if i <= j else DAYS[i:] + DAYS[: j + 1])
        else:
            chosen.append(_day(part))
    return chosen


def _interval(spec: str) -> list[str]:
    spec = spec.strip()
    if spec.lower() in {"24h", "00:00-24:00"}:
        return ["00:00", "24:00"]
    if "-" not in spec:
        raise OpeningHoursError(f"'{spec}' is not an interval like 10:00-22:00")
    start, end = (p.strip() for p in spec.split("-", 1))
    start_minutes, end_minutes = _minutes(start), _minutes(end)
    if start_minutes == end_minutes:
        raise OpeningHoursError(f"'{spec}' is empty: start and end are the same")
    if start_minutes == 24 * 60:
        raise OpeningHoursError(f"'{spec}' starts at 24:00")
    return [start, end]


def parse_opening_hours(text: str) -> OpeningHours:
    """Parse ``10:00-22:00`` (every day) or ``mon-fri 10:00-22:00; sat,sun 09:00-23:00``.

    Several intervals per day are separated by ``&`` (``10:00-14:00&17:00-22:00``); ``closed``
    closes the named days. Raises OpeningHoursError with a reason a person can act on.
    """
    text = text.strip()
    if not text:
        return {}
    hours: OpeningHours = {}
    for clause in text.split(";"):
        clause = clause.strip()
        if not clause:
            continue
        words = clause.split(None, 1)
        if len(words) == 2 and not words[0][0].isdigit() and words[0].lower() != "24h":
            days, intervals_text = _days(words[0]), words[1]
        else:
            days, intervals_text = list(DAYS), clause
        if intervals_text.strip().lower() == "closed":
            intervals: list[list[str]] = []
        else:
            intervals = [_interval(part) for part in intervals_text.split("&")]
        for day in days:
            hours[day] = [list(i) for i in intervals]
    return hours


def validate_opening_hours(hours: OpeningHours) -> OpeningHours:
    """Check a structured value (as sent to the API) and return it normalized."""
    normalized: OpeningHours = {}
    for day, intervals in hours.items():
        if day not in DAYS:
            raise OpeningHoursError(f"'{day}' is not a day (mon..sun)")
        normalized[day] = [_interval(f"{start}-{end}") for start, end in intervals]
    return normalized


def format_opening_hours(hours: OpeningHours) -> str:
    """The shortest text that ``parse_opening_hours`` reads back to the same value."""
    if not hours:
        return ""
    rendered = {
        day: "&".join(f"{s}-{e}" for s, e in hours.get(day, [])) or "closed" for day in DAYS
    }
    if len(set(rendered.values())) == 1:
        only = rendered["mon"]
        return only if only != "closed" else "mon-sun closed"
    clauses: list[str] = []
    start = 0
    while start < len(DAYS):
        end = start
        while end + 1 < len(DAYS) and rendered[DAYS[end + 1]] == rendered[DAYS[start]]:
            end += 1
        label = DAYS[start] if start == end else f"{DAYS[start]}-{DAYS[end]}"
        clauses.append(f"{label} {rendered[DAYS[start]]}")
        start = end + 1
    return "; ".join(clauses)


def is_open_at(hours: OpeningHours, local_moment: datetime) -> bool:
    """Whether a store with ``hours`` is open at ``local_moment`` (in the store's timezone).

    Stores with no hours recorded count as always open. Intervals crossing midnight are read
    from the previous day's entry.
    """
    if not hours:
        return True
    minute = local_moment.hour * 60 + local_moment.minute
    today = DAYS[local_moment.weekday()]
    yesterday = DAYS[(local_moment - timedelta(days=1)).weekday()]
    for start, end in hours.get(today, []):
        s, e = _minutes(start), _minutes(end)
        if s < e and s <= minute < e:
            return True
        if e <= s and minute >= s:
            return True
    for start, end in hours.get(yesterday, []):
        s, e = _minutes(start), _minutes(end)
        if e <= s and minute < e:
            return True
    return False
