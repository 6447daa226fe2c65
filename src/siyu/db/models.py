"""Every table's model, imported in one place so metadata is complete for Alembic and tests."""

from __future__ import annotations

from siyu.access.models import ApiToken, ConsoleSession, LoginAttempt
from siyu.aftersales.models import AfterSale, AfterSaleLine, Complaint
from siyu.attribution.models import AttributionSetting, OrderTouchpointCredit
from siyu.audit.models import AuditEntry
from siyu.brands.models import Brand
from siyu.cart.models import Cart, CartLine
from siyu.catalog.models import Category, Product, Sku
from siyu.cloud_store.models import ListingOverride
from siyu.consent.models import (
    ConsentChange,
    ConsentPolicy,
    ConsentSend,
    ConsentState,
    Subscription,
)
from siyu.consumers.models import Address, Consumer, ConsumerIdentity, ConsumerSession
from siyu.db.base import Base
from siyu.inventory.models import StockHold, StockLevel, StockMovement
from siyu.loyalty.models import (
    GrowthEntry,
    LoyaltyTier,
    PointsAdjustment,
    PointsEntry,
    PointsLot,
    PointsLotUse,
    PointsPolicy,
)
from siyu.members.models import LifecyclePolicy, Member, MemberIdentity, MemberPurchaseEntry
from siyu.offline.models import OfflineImport, OfflineOrder, OfflineOrderLine
from siyu.orders.models import Order, OrderEvent, OrderLine
from siyu.org.models import Franchisee, Region, StockLocation, Store
from siyu.outbox.models import OutboxDelivery, OutboxEvent
from siyu.payments.models import Payment, PaymentNotification, Refund
from siyu.segments.models import MemberGuideTag, MemberTag, Segment, SegmentMember, Tag
from siyu.settlement.models import (
    LedgerEntry,
    SettlementRule,
    SettlementRun,
    Statement,
    StatementLine,
)
from siyu.staff.models import Staff
from siyu.touchpoints.models import (
    StoreCodeRun,
    Touchpoint,
    TouchpointCode,
    TouchpointCodeImage,
    TouchpointKind,
)
from siyu.tracking.models import AnonymousVisitor, TrackingEvent, TrackingWriteKey
from siyu.wechat.models import SandboxPayTransaction, WeChatAccount

__all__ = [
    "Address",
    "AfterSale",
    "AfterSaleLine",
    "AnonymousVisitor",
    "ApiToken",
    "AttributionSetting",
    "AuditEntry",
    "Base",
    "Brand",
    "Cart",
    "CartLine",
    "Category",
    "Complaint",
    "ConsentChange",
    "ConsentPolicy",
    "ConsentSend",
    "ConsentState",
    "ConsoleSession",
    "Consumer",
    "ConsumerIdentity",
    "ConsumerSession",
    "Franchisee",
    "GrowthEntry",
    "LedgerEntry",
    "LifecyclePolicy",
    "ListingOverride",
    "LoginAttempt",
    "LoyaltyTier",
    "Member",
    "MemberGuideTag",
    "MemberIdentity",
    "MemberPurchaseEntry",
    "MemberTag",
    "OfflineImport",
    "OfflineOrder",
    "OfflineOrderLine",
    "Order",
    "OrderEvent",
    "OrderLine",
    "OrderTouchpointCredit",
    "OutboxDelivery",
    "OutboxEvent",
    "Payment",
    "PaymentNotification",
    "PointsAdjustment",
    "PointsEntry",
    "PointsLot",
    "PointsLotUse",
    "PointsPolicy",
    "Product",
    "Refund",
    "Region",
    "SandboxPayTransaction",
    "Segment",
    "SegmentMember",
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
    "StoreCodeRun",
    "Subscription",
    "Tag",
    "Touchpoint",
    "TouchpointCode",
    "TouchpointCodeImage",
    "TouchpointKind",
    "TrackingEvent",
    "TrackingWriteKey",
    "WeChatAccount",
]
