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


class TouchpointCodeIssued(DomainEvent):
    """A touchpoint issued another code (its first comes with TouchpointCreated)."""

    aggregate_type = "touchpoint_code"
    touchpoint_code_id: int
    touchpoint_id: int
    scene_key: str
    medium: str
    label: str


class TouchpointCodeChanged(DomainEvent):
    aggregate_type = "touchpoint_code"
    touchpoint_code_id: int
    touchpoint_id: int
    changes: dict[str, Any]


class StoreCodeRunStarted(DomainEvent):
    aggregate_type = "store_code_run"
    store_code_run_id: int
    kind: str
    medium: str
    campaign: str | None
    stores_total: int


class StoreCodeRunFinished(DomainEvent):
    """``status`` is succeeded or failed (then ``error`` says why)."""

    aggregate_type = "store_code_run"
    store_code_run_id: int
    status: str
    stores_done: int
    stores_total: int
    error: str | None
