"""Every table's model, imported in one place so metadata is complete for Alembic and tests."""

from __future__ import annotations

from siyu.access.models import ApiToken, ConsoleSession, LoginAttempt
from siyu.aftersales.models import AfterSale, AfterSaleLine, Complaint
from siyu.audit.models import AuditEntry
from siyu.brands.models import Brand
from siyu.cart.models import Cart, CartLine
from siyu.catalog.models import Category, Product, Sku
from siyu.cloud_store.models import ListingOverride
from siyu.consumers.models import Address, Consumer, ConsumerIdentity, ConsumerSession
from siyu.db.base import Base
from siyu.inventory.models import StockHold, StockLevel, StockMovement
from siyu.members.models import Member, MemberIdentity
from siyu.orders.models import Order, OrderEvent, OrderLine
from siyu.org.models import Franchisee, Region, StockLocation, Store
from siyu.outbox.models import OutboxDelivery, OutboxEvent
from siyu.payments.models import Payment, PaymentNotification, Refund
from siyu.settlement.models import (
    LedgerEntry,
    SettlementRule,
    SettlementRun,
    Statement,
    StatementLine,
)
from siyu.staff.models import Staff
from siyu.touchpoints.models import Touchpoint, TouchpointCode, TouchpointKind
from siyu.wechat.models import SandboxPayTransaction, WeChatAccount

__all__ = [
    "Address",
    "AfterSale",
    "AfterSaleLine",
    "ApiToken",
    "AuditEntry",
    "Base",
    "Brand",
    "Cart",
    "CartLine",
    "Category",
    "Complaint",
    "ConsoleSession",
    "Consumer",
    "ConsumerIdentity",
    "ConsumerSession",
    "Franchisee",
    "LedgerEntry",
    "ListingOverride",
    "LoginAttempt",
    "Order",
    "OrderEvent",
    "OrderLine",
    "OutboxDelivery",
    "OutboxEvent",
    "Payment",
    "PaymentNotification",
    "Product",
    "Refund",
    "Region",
    "SandboxPayTransaction",
    "SettlementRule",
    "SettlementRun",
    "Sku",
    "Staff",
    "Statement",
    "StatementLine",
    "StockHold",
    "StockLevel",
    "StockLocation",
    "StockMovement",
    "Store",
    "Touchpoint",
    "TouchpointCode",
    "TouchpointKind",
    "WeChatAccount",
]
