"""Domain events of the organization."""

from __future__ import annotations

from typing import Any

from siyu.outbox.events import DomainEvent


class RegionCreated(DomainEvent):
    aggregate_type = "region"
    region_id: int
    code: str
    name: str


class RegionChanged(DomainEvent):
    aggregate_type = "region"
    region_id: int
    changes: dict[str, Any]


class FranchiseeCreated(DomainEvent):
    aggregate_type = "franchisee"
    franchisee_id: int
    code: str
    name: str


class FranchiseeChanged(DomainEvent):
    aggregate_type = "franchisee"
    franchisee_id: int
    changes: dict[str, Any]


class StoreCreated(DomainEvent):
    aggregate_type = "store"
    store_id: int
    code: str
    region_id: int
    ownership: str
    franchisee_id: int | None
    status: str


class StoreChanged(DomainEvent):
    aggregate_type = "store"
    store_id: int
    changes: dict[str, Any]


class StockLocationCreated(DomainEvent):
    aggregate_type = "stock_location"
    stock_location_id: int
    code: str
    kind: str
    store_id: int | None


class StockLocationChanged(DomainEvent):
    aggregate_type = "stock_location"
    stock_location_id: int
    changes: dict[str, Any]
