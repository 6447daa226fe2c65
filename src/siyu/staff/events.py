"""Domain events of the staff domain."""

from __future__ import annotations

from typing import Any

from siyu.outbox.events import DomainEvent


class StaffHired(DomainEvent):
    aggregate_type = "staff"
    staff_id: int
    code: str
    role: str
    region_id: int | None
    store_id: int | None
    franchisee_id: int | None


class StaffChanged(DomainEvent):
    aggregate_type = "staff"
    staff_id: int
    changes: dict[str, Any]


class StaffPasswordSet(DomainEvent):
    aggregate_type = "staff"
    staff_id: int
