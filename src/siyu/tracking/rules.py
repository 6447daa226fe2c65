"""Tracking rules: what a valid batch and a valid event are, and the COPY text an accepted
event becomes. Pure: no I/O.

A batch is ``{"events": [...]}`` with at most ``MAX_EVENTS_PER_BATCH`` events. It is decoded
with msgspec straight into ``EventIn`` structs (types, lengths and RFC 3339 times with an
offset checked in C); only when that fails is it decoded event by event, so that each
malformed event is reported with its index and reason while the others are kept. The checks
msgspec cannot express (kinds, the late/future window, properties, characters) follow in
``event_problem``.

Accepted events are written to PostgreSQL with COPY in text format (``copy_line``): identifier
strings are refused when they hold a backslash or a control character, so only the properties
JSON ever needs escaping.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated

import msgspec
import orjson
from msgspec import Meta, Raw, Struct

from siyu.tracking.errors import BatchTooLarge, InvalidBatch, InvalidJson

MAX_EVENTS_PER_BATCH = 500
MAX_PROPERTIES_BYTES = 4096
# 500 events of 4 KB properties each, and their other fields.
MAX_BATCH_BYTES = 3 * 1024 * 1024
LATE_LIMIT = timedelta(days=30)
CLOCK_SKEW = timedelta(minutes=5)
MAX_BIGINT = 2**63 - 1
MAX_SCENE = 2**31 - 1


class EventKind(StrEnum):
    SCAN = "scan"
    VISIT = "visit"
    VIEW_ITEM = "view_item"
    ADD_TO_CART = "add_to_cart"
    SHARE = "share"
    CLAIM_COUPON = "claim_coupon"
    CUSTOM = "custom"


KINDS = frozenset(kind.value for kind in EventKind)
_CUSTOM = EventKind.CUSTOM.value

Identifier = Annotated[str, Meta(min_length=1, max_length=64)]
Id = Annotated[int, Meta(ge=1, le=MAX_BIGINT)]
EMPTY_OBJECT = Raw(b"{}")


class EventIn(Struct):
    """One event as the client sends it (unknown fields are ignored)."""

    event_id: Identifier
    kind: Annotated[str, Meta(min_length=1, max_length=48)]
    occurred_at: Annotated[datetime, Meta(tz=True)]
    name: Identifier | None = None
    anonymous_id: Identifier | None = None
    scene_key: Annotated[str, Meta(min_length=1, max_length=32)] | None = None
    scene: Annotated[int, Meta(ge=0, le=MAX_SCENE)] | None = None
    store_id: Id | None = None
    store_code: Annotated[str, Meta(min_length=1, max_length=32)] | None = None
    product_id: Id | None = None
    sku_id: Id | None = None
    member_id: Id | None = None
    properties: Raw = EMPTY_OBJECT


class _Batch(Struct):
    events: list[EventIn]


class _LooseBatch(Struct):
    events: list[Raw]


_decode_batch = msgspec.json.Decoder(_Batch).decode
_decode_loose = msgspec.json.Decoder(_LooseBatch).decode
_decode_event = msgspec.json.Decoder(EventIn).decode


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why the event at ``index`` of the batch was not accepted."""

    index: int
    code: str
    message: str
    field: str | None = None


@dataclass(slots=True)
class ParsedBatch:
    """The valid events (with their indices in the batch), the rejected ones, how many
    repeated an earlier event id of the same batch, and how many events the batch held."""

    events: list[EventIn]
    indices: list[int]
    rejected: list[Rejection]
    duplicates: int
    size: int


def _validation_rejection(index: int, error: msgspec.ValidationError) -> Rejection:
    """Turn msgspec's "Expected `str` of length <= 64 - at `$.event_id`" into a rejection."""
    message = str(error)
    field = None
    head, separator, path = message.rpartition(" - at `$.")
    if separator:
        message, field = head, path.rstrip("`").split(".")[0].split("[")[0]
    elif message.startswith("Object missing required field `"):
        field = message.split("`")[1]
        return Rejection(index, "missing_field", f"{field} is required", field)
    return Rejection(index, "invalid_field", message, field)


def _is_clean(text: str) -> bool:
    """No control characters and no backslash: safe as COPY text without escaping."""
    return text.isprintable() and "\\" not in text


_OPEN_BRACE = ord("{")
_NOT_AN_OBJECT = "properties must be a JSON object"


def _properties_problem(raw: bytes) -> str | None:
    if raw[:1] != b"{":
        return _NOT_AN_OBJECT
    if b"\\u" in raw:
        # PostgreSQL's jsonb refuses \u0000 and lone surrogates; orjson refuses the latter.
        if b"\\u0000" in raw:
            return "properties may not contain \\u0000"
        try:
            orjson.loads(raw)
        except orjson.JSONDecodeError:
            return "properties hold an invalid unicode escape"
    return None


def _unclean(index: int, field: str) -> Rejection:
    return Rejection(
        index, "invalid_field", f"{field} holds a control character or a backslash", field
    )


def event_problem(
    index: int,
    event: EventIn,
    earliest: datetime,
    latest: datetime,
    *,
    may_name_member: bool,
    plain: bool = False,
) -> Rejection | None:
    """The first problem of an event msgspec already decoded, or None when it is valid.
    ``earliest``/``latest`` bound occurred_at (the receiving time minus LATE_LIMIT, plus
    CLOCK_SKEW). ``plain`` says the batch's body is printable ASCII without a backslash
    (``is_plain``): then no string of it can hold a control character, a backslash or a
    unicode escape, and those checks are skipped. Written for speed: it runs for every event
    of every batch."""
    kind = event.kind
    if kind not in KINDS:
        return Rejection(
            index, "unknown_kind", f"kind must be one of {', '.join(sorted(KINDS))}", "kind"
        )
    name = event.name
    if kind == _CUSTOM:
        if name is None:
            return Rejection(index, "name_required", "a custom event needs a name", "name")
    elif name is not None:
        return Rejection(index, "name_not_allowed", "only custom events have a name", "name")
    if not plain:
        problem = _unclean_identifier(index, event)
        if problem is not None:
            return problem
    if event.store_code is not None and event.store_id is not None:
        return Rejection(
            index, "invalid_field", "give store_id or store_code, not both", "store_code"
        )
    occurred_at = event.occurred_at
    if occurred_at < earliest:
        return Rejection(
            index,
            "too_late",
            f"occurred_at is more than {LATE_LIMIT.days} days before the event was received",
            "occurred_at",
        )
    if occurred_at > latest:
        return Rejection(index, "in_future", "occurred_at is in the future", "occurred_at")
    if event.member_id is not None and not may_name_member:
        return Rejection(
            index,
            "member_not_allowed",
            "only server-side events (staff tokens) may name a member",
            "member_id",
        )
    properties = event.properties
    if properties is not EMPTY_OBJECT:
        if len(properties) > MAX_PROPERTIES_BYTES:
            return Rejection(
                index,
                "properties_too_large",
                f"properties may hold at most {MAX_PROPERTIES_BYTES} bytes of JSON",
                "properties",
            )
        if plain:
            if memoryview(properties)[0] != _OPEN_BRACE:
                return Rejection(index, "invalid_field", _NOT_AN_OBJECT, "properties")
        else:
            reason = _properties_problem(bytes(properties))
            if reason is not None:
                return Rejection(index, "invalid_field", reason, "properties")
    return None


def is_plain(body: bytes) -> bool:
    """Printable ASCII without a backslash: JSON strings in it can hold no control character
    (raw ones are invalid JSON; DEL is excluded here) and no escape at all."""
    return body.isascii() and b"\\" not in body and b"\x7f" not in body


def _unclean_identifier(index: int, event: EventIn) -> Rejection | None:
    """The first identifier holding a control character or a backslash (unsafe as COPY
    text), as a rejection."""
    for field_name, value in (
        ("name", event.name),
        ("event_id", event.event_id),
        ("anonymous_id", event.anonymous_id),
        ("scene_key", event.scene_key),
        ("store_code", event.store_code),
    ):
        if value is not None and not _is_clean(value):
            return _unclean(index, field_name)
    return None


def _decode_events(body: bytes) -> tuple[list[EventIn | None], list[Rejection]]:
    """Every event decoded (None where malformed), fast when the whole batch is well typed."""
    try:
        return list(_decode_batch(body).events), []
    except msgspec.ValidationError:
        pass
    except msgspec.DecodeError as error:
        raise InvalidJson(f"The body is not JSON: {error}.") from error
    try:
        raws = _decode_loose(body).events
    except msgspec.ValidationError as error:
        raise InvalidBatch(
            'Send a JSON object with an "events" array of event objects.', field="events"
        ) from error
    if len(raws) > MAX_EVENTS_PER_BATCH:
        raise _too_many(len(raws))
    decoded: list[EventIn | None] = []
    rejected: list[Rejection] = []
    for index, raw in enumerate(raws):
        try:
            decoded.append(_decode_event(raw))
        except msgspec.ValidationError as error:
            decoded.append(None)
            rejected.append(_validation_rejection(index, error))
    return decoded, rejected


def _too_many(count: int) -> BatchTooLarge:
    return BatchTooLarge(
        f"A batch holds at most {MAX_EVENTS_PER_BATCH} events; this one holds {count}.",
        field="events",
    )


def parse_batch(body: bytes, received_at: datetime, *, may_name_member: bool) -> ParsedBatch:
    """Validate a batch. Raises InvalidJson (not JSON), InvalidBatch (no ``events`` array)
    and BatchTooLarge (more than MAX_EVENTS_PER_BATCH events); any single bad event is a
    Rejection instead. A repeated event id counts as a duplicate, not a rejection."""
    decoded, rejected = _decode_events(body)
    if len(decoded) > MAX_EVENTS_PER_BATCH:
        raise _too_many(len(decoded))
    events: list[EventIn] = []
    indices: list[int] = []
    seen: set[str] = set()
    duplicates = 0
    earliest, latest = received_at - LATE_LIMIT, received_at + CLOCK_SKEW
    plain = is_plain(body)
    for index, event in enumerate(decoded):
        if event is None:
            continue
        problem = event_problem(
            index, event, earliest, latest, may_name_member=may_name_member, plain=plain
        )
        if problem is not None:
            rejected.append(problem)
        elif event.event_id in seen:
            duplicates += 1
        else:
            seen.add(event.event_id)
            events.append(event)
            indices.append(index)
    if rejected:
        rejected.sort(key=lambda r: r.index)
    return ParsedBatch(events, indices, rejected, duplicates, len(decoded))


# ---------------------------------------------------------------- writing


COPY_COLUMNS = (
    "brand_id",
    "event_id",
    "kind",
    "name",
    "occurred_at",
    "received_at",
    "anonymous_id",
    "consumer_id",
    "member_id",
    "touchpoint_id",
    "scene_key",
    "scene",
    "store_id",
    "product_id",
    "sku_id",
    "properties",
)
NULL = "\\N"
_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"})


def properties_text(raw: Raw) -> str:
    """The properties JSON as a COPY text field (whitespace outside strings escaped too)."""
    text = bytes(raw).decode()
    if "\\" in text or "\n" in text or "\r" in text or "\t" in text:
        return text.translate(_ESCAPES)
    return text


def copy_line(
    brand_id: int,
    event: EventIn,
    received_at: str,
    consumer_id: int | None,
    member_id: int | None,
    touchpoint_id: int | None,
    store_id: int | None,
) -> str:
    """One row of ``COPY tracking_event (COPY_COLUMNS) FROM STDIN`` (text format)."""
    name = event.name
    anonymous_id = event.anonymous_id
    scene_key = event.scene_key
    scene = event.scene
    product_id = event.product_id
    sku_id = event.sku_id
    properties = event.properties
    return (
        f"{brand_id}\t{event.event_id}\t{event.kind}\t{NULL if name is None else name}\t"
        f"{event.occurred_at.isoformat()}\t{received_at}\t"
        f"{NULL if anonymous_id is None else anonymous_id}\t"
        f"{NULL if consumer_id is None else consumer_id}\t"
        f"{NULL if member_id is None else member_id}\t"
        f"{NULL if touchpoint_id is None else touchpoint_id}\t"
        f"{NULL if scene_key is None else scene_key}\t{NULL if scene is None else scene}\t"
        f"{NULL if store_id is None else store_id}\t"
        f"{NULL if product_id is None else product_id}\t{NULL if sku_id is None else sku_id}\t"
        f"{'{}' if properties is EMPTY_OBJECT else properties_text(properties)}\n"
    )


@dataclass(frozen=True, slots=True)
class IngestOutcome:
    """What happened to a batch: stored anew, already stored, refused (by index)."""

    accepted: int
    duplicates: int
    rejected: tuple[Rejection, ...]

    def as_json(self) -> dict[str, object]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": [
                {"index": r.index, "code": r.code, "field": r.field, "message": r.message}
                for r in self.rejected
            ],
        }


Visit = tuple[int, int, datetime]


def due_visits(
    visits: list[Visit],
    written: dict[tuple[int, int], tuple[float, datetime]],
    now: float,
    interval: float,
) -> tuple[list[Visit], list[Visit]]:
    """Split (brand_id, member_id, time) visits into those to write now and those to defer.

    ``written`` holds, per member, when (a monotonic clock) and what this process last wrote.
    A visit no later than that is dropped (the member has it already); one for a member
    written less than ``interval`` ago is deferred: each write of a member row slows every
    later foreign-key check of that member's events, so a busy member is written at most once
    per interval."""
    due: list[Visit] = []
    deferred: list[Visit] = []
    for visit in visits:
        last = written.get((visit[0], visit[1]))
        if last is None:
            due.append(visit)
        elif visit[2] <= last[1]:
            continue
        elif now - last[0] < interval:
            deferred.append(visit)
        else:
            due.append(visit)
    return due, deferred


def latest_visits(
    visits: list[tuple[int, int, datetime]],
) -> list[tuple[int, int, datetime]]:
    """(brand_id, member_id, latest time) per member from (brand_id, member_id, time) visits,
    in (brand_id, member_id) order: the order member rows are locked in."""
    latest: dict[tuple[int, int], datetime] = {}
    for brand_id, member_id, at in visits:
        key = (brand_id, member_id)
        known = latest.get(key)
        if known is None or at > known:
            latest[key] = at
    return [(brand_id, member_id, at) for (brand_id, member_id), at in sorted(latest.items())]
