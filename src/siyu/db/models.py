"""Every table's model, imported in one place so metadata is complete for Alembic and tests."""

from __future__ import annotations

from siyu.access.models import ApiToken, ConsoleSession, LoginAttempt
from siyu.audit.models import AuditEntry
from siyu.brands.models import Brand
from siyu.db.base import Base
from siyu.org.models import Franchisee, Region, StockLocation, Store
from siyu.outbox.models import OutboxDelivery, OutboxEvent
from siyu.staff.models import Staff

__all__ = [
    "ApiToken",
    "AuditEntry",
    "Base",
    "Brand",
    "ConsoleSession",
    "Franchisee",
    "LoginAttempt",
    "OutboxDelivery",
    "OutboxEvent",
    "Region",
    "Staff",
    "StockLocation",
    "Store",
]
