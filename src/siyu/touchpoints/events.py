"""Domain events of touchpoints."""

from __future__ import annotations

from typing import Any

from siyu.outbox.events import DomainEvent


class TouchpointKindCreated(DomainEvent):
    aggregate_type = "touchpoint_kind"
    touchpoint_kind_id: int
    code: str
    carrier: str


class TouchpointCreated(DomainEvent):
    aggregate_type = "touchpoint"
    touchpoint_id: int
    code: str
    kind: str
    store_id: int | None
    region_id: int | None
    staff_id: int | None
    campaign: str | None
    scene_key: str


class TouchpointChanged(DomainEvent):
    aggregate_type = "touchpoint"
    touchpoint_id: int
    changes: dict[str, Any]
