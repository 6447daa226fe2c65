"""Shapes of after-sales requests and complaints in the storefront and staff APIs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from siyu.aftersales.rules import MAX_PHOTOS, AfterSaleKind

Text200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
PhotoUrl = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=500, pattern=r"^https?://\S+$")
]


class AfterSaleLineIn(BaseModel):
    order_line_id: int
    quantity: Annotated[int, Field(ge=1, le=9999)]


class AfterSaleCreate(BaseModel):
    """A return or refund request for lines of a paid order."""

    kind: AfterSaleKind
    reason: Text200 = Field(examples=["Wrong size"])
    description: Annotated[str, StringConstraints(max_length=2000)] = ""
    photos: list[PhotoUrl] = Field(default_factory=list, max_length=MAX_PHOTOS)
    lines: list[AfterSaleLineIn] = Field(min_length=1, max_length=100)
    requested_refund_fen: Annotated[int, Field(ge=1)]


class AfterSaleApproval(BaseModel):
    approved_refund_fen: Annotated[int, Field(ge=1)] | None = Field(
        default=None, description="At most what was requested; omitted: the requested amount"
    )
    note: Note = ""


class AfterSaleRejection(BaseModel):
    note: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class ReturnLineIn(BaseModel):
    order_line_id: int
    restock: bool = True


class ReturnReceipt(BaseModel):
    """The returned goods arrived. Lines not listed are put back on sale (restock true)."""

    lines: list[ReturnLineIn] = Field(default_factory=list, max_length=100)
    note: Note = ""


class AfterSaleLineOut(BaseModel):
    id: int
    order_line_id: int
    sku_id: int
    product_name: str
    sku_code: str
    quantity: int
    restocked_quantity: int


class RefundOut(BaseModel):
    id: int
    out_refund_no: str
    amount_fen: int
    status: str
    succeeded_at: datetime | None


class AfterSaleOut(BaseModel):
    id: int
    order_id: int
    order_number: str
    consumer_id: int
    store_id: int
    kind: AfterSaleKind
    reason: str
    description: str
    photos: list[str]
    status: str
    requested_refund_fen: int
    approved_refund_fen: int | None
    decided_by_staff_id: int | None
    decided_at: datetime | None
    decision_note: str | None
    created_at: datetime
    lines: list[AfterSaleLineOut]
    refund: RefundOut | None


class ComplaintCreate(BaseModel):
    store_id: int
    order_id: int | None = None
    subject: Text200
    body: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)]


class ComplaintAnswer(BaseModel):
    response: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)
    ]


class ComplaintAssignment(BaseModel):
    owner_staff_id: int


class ComplaintClose(BaseModel):
    note: Note = ""


class ComplaintOut(BaseModel):
    id: int
    consumer_id: int
    order_id: int | None
    store_id: int
    subject: str
    body: str
    owner_staff_id: int | None
    status: str
    respond_by: datetime
    overdue: bool
    responded_at: datetime | None
    response: str | None
    created_at: datetime
    history: list[dict[str, object]]
