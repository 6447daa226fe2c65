"""Output shapes of offline data: import reports, offline orders for the member 360, and the
private-domain share report. Money in fen; the share as a decimal string and in permille."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field


class PosImportOut(BaseModel):
    """What an import did. Members: ``created`` new members, ``updated`` members that gained
    an identity or profile field, ``unchanged`` rows naming members as they were. Orders:
    counted per receipt (order number); ``unchanged`` receipts were imported before."""

    kind: str
    import_id: int | None = Field(description="None when nothing was created or changed")
    rows: int
    created: int
    updated: int
    unchanged: int
    lines: int = Field(0, description="Orders: lines of the new receipts")
    member_orders: int = Field(0, description="Orders: new receipts matched to a member")
    anonymous_orders: int = Field(0, description="Orders: new receipts without a member")
    unknown_sku_lines: int = Field(
        0, description="Orders: lines whose SKU code the catalog does not know (kept as printed)"
    )
    dry_run: bool = False


class OfflineImportOut(BaseModel):
    id: int
    kind: str
    file_name: str | None
    row_count: int
    created_count: int
    updated_count: int
    unchanged_count: int
    actor_label: str
    created_at: datetime


class OfflineOrderLineOut(BaseModel):
    sku_code: str
    sku_id: int | None
    product_id: int | None
    product_name: str | None
    quantity: int = Field(description="Negative for a returned item")
    amount_fen: int = Field(description="Negative for a returned item")


class OfflineOrderOut(BaseModel):
    id: int
    order_number: str
    store_id: int
    store_code: str
    store_name: str
    placed_at: datetime
    total_fen: int = Field(description="What the receipt sold")
    refunded_fen: int = Field(description="What the receipt took back (returned items)")
    net_fen: int
    lines: list[OfflineOrderLineOut]


class ShareFigures(BaseModel):
    online_gmv_fen: int = Field(description="Paid online orders, net of refunds (private domain)")
    offline_gmv_fen: int = Field(description="Offline (POS) orders, net of returns")
    all_gmv_fen: int
    share: str | None = Field(
        description="Private-domain GMV / all GMV, 4 decimals (e.g. '0.6250'); null without GMV"
    )
    share_permille: int | None = Field(description="The same share in whole permille (625)")


class ShareDayOut(ShareFigures):
    day: date


class PrivateDomainShareOut(ShareFigures):
    date_from: date = Field(description="First day (Asia/Shanghai), included")
    date_to: date = Field(description="Day after the last (Asia/Shanghai), excluded")
    store_id: int | None
    region_id: int | None
    days: list[ShareDayOut] | None = Field(
        None, description="Per day (only with by_day=true), every day of the period"
    )
