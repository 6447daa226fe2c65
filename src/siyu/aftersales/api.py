"""HTTP API of after-sales and complaints: the storefront (consumer token) and staff views."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, status

from siyu.aftersales import complaints, reading, service
from siyu.aftersales.models import AfterSale, Complaint
from siyu.aftersales.reading import AfterSaleView
from siyu.aftersales.rules import AfterSaleKind, is_overdue
from siyu.aftersales.schemas import (
    AfterSaleApproval,
    AfterSaleCreate,
    AfterSaleLineOut,
    AfterSaleOut,
    AfterSaleRejection,
    ComplaintAnswer,
    ComplaintAssignment,
    ComplaintClose,
    ComplaintCreate,
    ComplaintOut,
    RefundOut,
    ReturnReceipt,
)
from siyu.consumers.service import ConsumerContext
from siyu.core.clock import utc_now
from siyu.core.pagination import Page
from siyu.orders.checkout import Shopper
from siyu.payments.service import get_pay_gateway
from siyu.web.deps import CurrentActor, CurrentConsumer, Uow

router = APIRouter(tags=["after-sales"])
storefront_router = APIRouter(prefix="/storefront", tags=["storefront"])

AfterSaleStatus = Literal["requested", "approved", "rejected", "received", "refunded", "cancelled"]
ComplaintStatus = Literal["open", "answered", "closed"]
Limit = Annotated[int, Query(ge=1, le=200)]
Offset = Annotated[int, Query(ge=0)]


def _shopper(context: ConsumerContext) -> Shopper:
    return Shopper(context.brand.id, context.consumer.id, f"consumer:{context.consumer.id}")


def after_sale_out(item: AfterSaleView) -> AfterSaleOut:
    row = item.after_sale
    refund = item.refund
    return AfterSaleOut(
        id=row.id,
        order_id=row.order_id,
        order_number=item.order_number,
        consumer_id=row.consumer_id,
        store_id=row.store_id,
        kind=AfterSaleKind(row.kind),
        reason=row.reason,
        description=row.description,
        photos=list(row.photos),
        status=row.status,
        requested_refund_fen=row.requested_refund_fen,
        approved_refund_fen=row.approved_refund_fen,
        decided_by_staff_id=row.decided_by_staff_id,
        decided_at=row.decided_at,
        decision_note=row.decision_note,
        created_at=row.created_at,
        lines=[
            AfterSaleLineOut(
                id=line.id,
                order_line_id=line.order_line_id,
                sku_id=order_line.sku_id,
                product_name=order_line.product_name,
                sku_code=order_line.sku_code,
                quantity=line.quantity,
                restocked_quantity=line.restocked_quantity,
            )
            for line, order_line in item.lines
        ],
        refund=RefundOut(
            id=refund.id,
            out_refund_no=refund.out_refund_no,
            amount_fen=refund.amount_fen,
            status=refund.status,
            succeeded_at=refund.succeeded_at,
        )
        if refund is not None
        else None,
    )


def _one(session: Uow, row: AfterSale) -> AfterSaleOut:
    session.flush()
    session.refresh(row)
    return after_sale_out(reading.view(session, row))


def _page(
    session: Uow, rows: list[AfterSale], total: int, limit: int, offset: int
) -> Page[AfterSaleOut]:
    return Page[AfterSaleOut](
        items=[after_sale_out(item) for item in reading.views(session, rows)],
        total=total,
        limit=limit,
        offset=offset,
    )


def complaint_out(row: Complaint) -> ComplaintOut:
    return ComplaintOut(
        id=row.id,
        consumer_id=row.consumer_id,
        order_id=row.order_id,
        store_id=row.store_id,
        subject=row.subject,
        body=row.body,
        owner_staff_id=row.owner_staff_id,
        status=row.status,
        respond_by=row.respond_by,
        overdue=is_overdue(row.status, row.respond_by, utc_now()),
        responded_at=row.responded_at,
        response=row.response,
        created_at=row.created_at,
        history=list(row.history),
    )


def _complaint(session: Uow, row: Complaint) -> ComplaintOut:
    session.flush()
    session.refresh(row)
    return complaint_out(row)


# ---------------------------------------------------------------- storefront


@storefront_router.post(
    "/orders/{order_id}/after-sales",
    response_model=AfterSaleOut,
    status_code=status.HTTP_201_CREATED,
)
def request_after_sale(
    order_id: int, data: AfterSaleCreate, session: Uow, context: CurrentConsumer
) -> AfterSaleOut:
    """Ask for a refund (``refund_only``) or to return goods for a refund
    (``return_and_refund``) on lines of a paid order, with up to 9 photos. Before the goods
    left the store only the whole order can be refunded."""
    row = service.request_after_sale(session, _shopper(context), order_id, data)
    return _one(session, row)


@storefront_router.get("/after-sales", response_model=Page[AfterSaleOut])
def my_after_sales(
    session: Uow,
    context: CurrentConsumer,
    status: AfterSaleStatus | None = None,
    limit: Limit = 20,
    offset: Offset = 0,
) -> Page[AfterSaleOut]:
    rows, total = reading.consumer_after_sales(
        session, _shopper(context), status=status, limit=limit, offset=offset
    )
    return _page(session, list(rows), total, limit, offset)


@storefront_router.get("/after-sales/{after_sale_id}", response_model=AfterSaleOut)
def my_after_sale(after_sale_id: int, session: Uow, context: CurrentConsumer) -> AfterSaleOut:
    return _one(session, reading.consumer_after_sale(session, _shopper(context), after_sale_id))


@storefront_router.post("/after-sales/{after_sale_id}/cancel", response_model=AfterSaleOut)
def withdraw_after_sale(after_sale_id: int, session: Uow, context: CurrentConsumer) -> AfterSaleOut:
    """Withdraw a request not yet decided (or an approved return not yet sent back)."""
    row = service.cancel_after_sale(session, _shopper(context), after_sale_id)
    return _one(session, row)


@storefront_router.post(
    "/complaints", response_model=ComplaintOut, status_code=status.HTTP_201_CREATED
)
def file_complaint(data: ComplaintCreate, session: Uow, context: CurrentConsumer) -> ComplaintOut:
    """File a complaint (客诉) about a store; the store answers within the response time."""
    return _complaint(session, complaints.file_complaint(session, _shopper(context), data))


@storefront_router.get("/complaints", response_model=Page[ComplaintOut])
def my_complaints(
    session: Uow, context: CurrentConsumer, limit: Limit = 20, offset: Offset = 0
) -> Page[ComplaintOut]:
    rows, total = complaints.consumer_complaints(
        session, _shopper(context), limit=limit, offset=offset
    )
    return Page[ComplaintOut](
        items=[complaint_out(r) for r in rows], total=total, limit=limit, offset=offset
    )


# ---------------------------------------------------------------- staff


@router.get("/after-sales", response_model=Page[AfterSaleOut])
def list_after_sales(
    session: Uow,
    actor: CurrentActor,
    status: AfterSaleStatus | None = None,
    store_id: int | None = None,
    order_id: int | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[AfterSaleOut]:
    """Requests of the stores in your scope, newest first."""
    rows, total = reading.staff_after_sales(
        session,
        actor,
        status=status,
        store_id=store_id,
        order_id=order_id,
        limit=limit,
        offset=offset,
    )
    return _page(session, list(rows), total, limit, offset)


@router.get("/after-sales/{after_sale_id}", response_model=AfterSaleOut)
def get_after_sale(after_sale_id: int, session: Uow, actor: CurrentActor) -> AfterSaleOut:
    return _one(session, reading.staff_after_sale(session, actor, after_sale_id))


@router.post("/after-sales/{after_sale_id}/approve", response_model=AfterSaleOut)
def approve_after_sale(
    after_sale_id: int, data: AfterSaleApproval, session: Uow, actor: CurrentActor
) -> AfterSaleOut:
    """Approve with at most the amount asked: a refund-only request is refunded now, a return
    waits for its goods."""
    row = service.approve_after_sale(
        session, actor, after_sale_id, data, get_pay_gateway(session, actor.brand_id)
    )
    return _one(session, row)


@router.post("/after-sales/{after_sale_id}/reject", response_model=AfterSaleOut)
def reject_after_sale(
    after_sale_id: int, data: AfterSaleRejection, session: Uow, actor: CurrentActor
) -> AfterSaleOut:
    return _one(session, service.reject_after_sale(session, actor, after_sale_id, data))


@router.post("/after-sales/{after_sale_id}/receive", response_model=AfterSaleOut)
def receive_returned_goods(
    after_sale_id: int, data: ReturnReceipt, session: Uow, actor: CurrentActor
) -> AfterSaleOut:
    """The returned goods arrived: put them back on sale (per line) and refund."""
    row = service.receive_returned_goods(
        session, actor, after_sale_id, data, get_pay_gateway(session, actor.brand_id)
    )
    return _one(session, row)


@router.get("/complaints", response_model=Page[ComplaintOut])
def list_complaints(
    session: Uow,
    actor: CurrentActor,
    status: ComplaintStatus | None = None,
    overdue: bool | None = None,
    store_id: int | None = None,
    owner_staff_id: int | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[ComplaintOut]:
    """Complaints of the stores in your scope, nearest deadline first; ``overdue=true``: the
    unanswered ones past their deadline."""
    rows, total = complaints.staff_complaints(
        session,
        actor,
        status=status,
        overdue=overdue,
        store_id=store_id,
        owner_staff_id=owner_staff_id,
        limit=limit,
        offset=offset,
    )
    return Page[ComplaintOut](
        items=[complaint_out(r) for r in rows], total=total, limit=limit, offset=offset
    )


@router.get("/complaints/{complaint_id}", response_model=ComplaintOut)
def get_complaint(complaint_id: int, session: Uow, actor: CurrentActor) -> ComplaintOut:
    return complaint_out(complaints.staff_complaint(session, actor, complaint_id))


@router.post("/complaints/{complaint_id}/answer", response_model=ComplaintOut)
def answer_complaint(
    complaint_id: int, data: ComplaintAnswer, session: Uow, actor: CurrentActor
) -> ComplaintOut:
    return _complaint(session, complaints.answer_complaint(session, actor, complaint_id, data))


@router.post("/complaints/{complaint_id}/assign", response_model=ComplaintOut)
def assign_complaint(
    complaint_id: int, data: ComplaintAssignment, session: Uow, actor: CurrentActor
) -> ComplaintOut:
    return _complaint(session, complaints.assign_complaint(session, actor, complaint_id, data))


@router.post("/complaints/{complaint_id}/close", response_model=ComplaintOut)
def close_complaint(
    complaint_id: int, data: ComplaintClose, session: Uow, actor: CurrentActor
) -> ComplaintOut:
    return _complaint(session, complaints.close_complaint(session, actor, complaint_id, data))
