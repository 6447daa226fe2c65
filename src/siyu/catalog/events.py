"""Domain events of the catalog."""

from __future__ import annotations

from typing import Any

from siyu.outbox.events import DomainEvent


class CategoryCreated(DomainEvent):
    aggregate_type = "category"
    category_id: int
    code: str
    name: str
    parent_id: int | None


class CategoryChanged(DomainEvent):
    aggregate_type = "category"
    category_id: int
    changes: dict[str, Any]


class ProductCreated(DomainEvent):
    aggregate_type = "product"
    product_id: int
    code: str
    name: str
    category_id: int
    status: str
    exclusive_channel: str | None


class ProductChanged(DomainEvent):
    aggregate_type = "product"
    product_id: int
    changes: dict[str, Any]


class SkuCreated(DomainEvent):
    aggregate_type = "sku"
    sku_id: int
    product_id: int
    code: str
    list_price_fen: int
    status: str


class SkuChanged(DomainEvent):
    aggregate_type = "sku"
    sku_id: int
    product_id: int
    changes: dict[str, Any]
