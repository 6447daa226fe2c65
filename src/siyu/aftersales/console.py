"""Console pages of after-sales: the queue of return and refund requests, one request with its
approve, reject and goods-received forms, and the complaint tickets (客诉) with their answer,
assign and close forms.

A thin adapter over ``siyu.aftersales.reading``, ``.service`` and ``.complaints`` (the same
calls as ``siyu.aftersales.api``). Amounts are typed in yuan and turned into fen exactly
(decimal text, never floats). Refusals are shown on the form they came from, after rolling
back whatever the call had begun.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from siyu.access.rules import ROLE_PERMISSIONS, Permission, Role
from siyu.access.service import SessionContext
from siyu.aftersales import complaints, reading, service
from siyu.aftersales.models import Complaint
from siyu.aftersales.rules import AfterSaleKind, AfterSaleState, is_overdue
from siyu.aftersales.schemas import (
    AfterSaleApproval,
    AfterSaleRejection,
    ComplaintAnswer,
    ComplaintAssignment,
    ComplaintClose,
    ReturnLineIn,
    ReturnReceipt,
)
from siyu.core.clock import utc_now
from siyu.core.errors import InvalidInput, SiyuError
from siyu.orders.payment import refundable_fen
from siyu.orders.service import staff_order
from siyu.org.service import list_stores
from siyu.payments.service import get_pay_gateway
from siyu.settlement.rules import format_yuan
from siyu.staff.service import list_staff
from siyu.web.csrf import ConsoleForm
from siyu.web.deps import ConsoleContext, Uow
from siyu.web.forms import PAGE_SIZE, FormProblem, form_problem, pager, problem_context
from siyu.web.templating import render

router = APIRouter()

STORE_LIMIT = 1000
STATUS_LABELS = {
    "requested": "Requested 待审核",
    "approved": "Approved 已同意",
    "received": "Goods received 已收货",
    "refunded": "Refunded 已退款",
    "rejected": "Rejected 已拒绝",
    "cancelled": "Withdrawn 已撤销",
}
KIND_LABELS = {
    AfterSaleKind.REFUND_ONLY.value: "Refund only 仅退款",
    AfterSaleKind.RETURN_AND_REFUND.value: "Return and refund 退货退款",
}
COMPLAINT_STATUS_LABELS = {"open": "Open 待处理", "answered": "Answered 已回复", "closed": "Closed"}
FIELD_LABELS = {
    "approved_refund_fen": "Amount to refund",
    "approved_refund": "Amount to refund",
    "note": "Note",
    "response": "Answer",
    "owner_staff_id": "Owner",
}
Note = Annotated[str, Form(max_length=600)]
LongText = Annotated[str, Form(max_length=6000)]

# Yuan as typed: digits, at most two decimals (¥ and thousands separators tolerated).
YUAN_TEXT = re.compile(r"^\d{1,12}(\.\d{1,2})?$")


def yuan_to_fen(text: str, field: str) -> int | None:
    """``"12.5"`` → 1250, exactly (decimal arithmetic); blank → None. InvalidInput otherwise."""
    cleaned = text.strip().removeprefix("¥").replace(",", "").strip()
    if not cleaned:
        return None
    if not YUAN_TEXT.match(cleaned):
        raise InvalidInput(
            f"'{text.strip()}' is not an amount in yuan (like 12.50, at most two decimals).",
            field=field,
        )
    fen = Decimal(cleaned) * 100
    return int(fen)


def _store_names(session: Session, ctx: SessionContext) -> dict[int, str]:
    rows, _ = list_stores(session, ctx.actor, limit=STORE_LIMIT)
    return {store.id: f"{store.name} ({store.code})" for store in rows}


COMMON: dict[str, Any] = {
    "status_labels": STATUS_LABELS,
    "kind_labels": KIND_LABELS,
    "complaint_status_labels": COMPLAINT_STATUS_LABELS,
    "yuan": format_yuan,
}


# ---------------------------------------------------------------- the queue


@router.get("/after-sales", response_class=HTMLResponse)
def after_sales_page(
    request: Request,
    session: Uow,
    ctx: ConsoleContext,
    status: Annotated[str, Query(max_length=20)] = AfterSaleState.REQUESTED.value,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
) -> Response:
    """Requests of the stores in scope, newest first; ``status=all`` for every state."""
    chosen = status.strip() or "all"
    if chosen != "all" and chosen not in STATUS_LABELS:
        raise InvalidInput(f"'{chosen}' is not an after-sale status.", field="status")
    rows, total = reading.staff_after_sales(
        session,
        ctx.actor,
        status=None if chosen == "all" else chosen,
        limit=PAGE_SIZE,
        offset=(page - 1) * PAGE_SIZE,
    )
    filters = {"status": chosen}
    return render(
        request,
        "aftersales/after_sales.html",
        {
            "ctx": ctx,
            "items": reading.views(session, rows),
            "store_names": _store_names(session, ctx),
            "filters": filters,
            "pager": pager(total, page, filters),
            **COMMON,
        },
    )


# ---------------------------------------------------------------- one request


NOTICES = {
    "approved": "Approved.",
    "rejected": "Rejected.",
    "received": "Goods received; the refund has started.",
}


def _after_sale_page(
    request: Request,
    session: Session,
    ctx: SessionContext,
    after_sale_id: int,
    *,
    form: dict[str, Any] | None = None,
    problem: FormProblem | None = None,
    failed_form: str | None = None,
    notice: str | None = None,
) -> Response:
    row = reading.staff_after_sale(session, ctx.actor, after_sale_id)
    item = reading.view(session, row)
    order = staff_order(session, ctx.actor, row.order_id)
    asked = row.requested_refund_fen
    return render(
        request,
        "aftersales/after_sale.html",
        {
            "ctx": ctx,
            "item": item,
            "row": row,
            "order": order,
            "refundable_fen": refundable_fen(session, order),
            "store_names": _store_names(session, ctx),
            "can_write": ctx.actor.can(Permission.ORDER_WRITE),
            "form": form or {"approved_refund": format_yuan(asked, grouping=False)},
            "failed_form": failed_form,
            "notice": notice,
            **COMMON,
            **problem_context(problem),
        },
        status_code=problem.status if problem else 200,
    )


@router.get("/after-sales/{after_sale_id}", response_class=HTMLResponse)
def after_sale_page(
    request: Request,
    after_sale_id: int,
    session: Uow,
    ctx: ConsoleContext,
    done: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    return _after_sale_page(request, session, ctx, after_sale_id, notice=NOTICES.get(done))


@router.post("/after-sales/{after_sale_id}/approve", response_class=HTMLResponse)
def approve_after_sale(
    request: Request,
    after_sale_id: int,
    session: Uow,
    ctx: ConsoleForm,
    approved_refund: Annotated[str, Form(max_length=40)] = "",
    note: Note = "",
) -> Response:
    """Approve with an amount in yuan, at most the one asked (as ``POST .../approve``)."""
    form = {"approved_refund": approved_refund, "note": note}
    try:
        data = AfterSaleApproval(
            approved_refund_fen=yuan_to_fen(approved_refund, "approved_refund"), note=note
        )
        service.approve_after_sale(
            session, ctx.actor, after_sale_id, data, get_pay_gateway(session, ctx.actor.brand_id)
        )
    except (ValidationError, SiyuError) as error:
        problem = form_problem(session, error, FIELD_LABELS)
        if problem.field == "approved_refund_fen":  # the form's field is in yuan
            problem = replace(problem, field="approved_refund")
        return _after_sale_page(
            request,
            session,
            ctx,
            after_sale_id,
            form=form,
            problem=problem,
            failed_form="approve",
        )
    return RedirectResponse(f"/console/after-sales/{after_sale_id}?done=approved", status_code=303)


@router.post("/after-sales/{after_sale_id}/reject", response_class=HTMLResponse)
def reject_after_sale(
    request: Request, after_sale_id: int, session: Uow, ctx: ConsoleForm, note: Note = ""
) -> Response:
    form = {"reject_note": note}
    try:
        data = AfterSaleRejection(note=note)
        service.reject_after_sale(session, ctx.actor, after_sale_id, data)
    except (ValidationError, SiyuError) as error:
        problem = form_problem(session, error, FIELD_LABELS)
        return _after_sale_page(
            request, session, ctx, after_sale_id, form=form, problem=problem, failed_form="reject"
        )
    return RedirectResponse(f"/console/after-sales/{after_sale_id}?done=rejected", status_code=303)


@router.post("/after-sales/{after_sale_id}/receive", response_class=HTMLResponse)
def receive_returned_goods(
    request: Request,
    after_sale_id: int,
    session: Uow,
    ctx: ConsoleForm,
    line: Annotated[list[int] | None, Form()] = None,
    restock: Annotated[list[int] | None, Form()] = None,
    note: Note = "",
) -> Response:
    """The goods came back: each listed ``line`` (order line id) is put back on sale when
    its ``restock`` box is ticked (as ``POST .../receive``)."""
    ticked = set(restock or [])
    try:
        data = ReturnReceipt(
            lines=[ReturnLineIn(order_line_id=i, restock=i in ticked) for i in line or []],
            note=note,
        )
        service.receive_returned_goods(
            session, ctx.actor, after_sale_id, data, get_pay_gateway(session, ctx.actor.brand_id)
        )
    except (ValidationError, SiyuError) as error:
        problem = form_problem(session, error, FIELD_LABELS)
        return _after_sale_page(
            request, session, ctx, after_sale_id, problem=problem, failed_form="receive"
        )
    return RedirectResponse(f"/console/after-sales/{after_sale_id}?done=received", status_code=303)


# ---------------------------------------------------------------- complaints


@router.get("/complaints", response_class=HTMLResponse)
def complaints_page(
    request: Request,
    session: Uow,
    ctx: ConsoleContext,
    status: Annotated[str, Query(max_length=20)] = "",
    overdue: Annotated[str, Query(max_length=5)] = "",
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
) -> Response:
    """Complaints of the stores in scope, nearest deadline first; ``overdue=1``: only the
    unanswered ones past their deadline."""
    chosen = status.strip()
    if chosen and chosen not in COMPLAINT_STATUS_LABELS:
        raise InvalidInput(f"'{chosen}' is not a complaint status.", field="status")
    only_overdue = overdue.strip() in {"1", "true", "on"}
    now = utc_now()
    rows, total = complaints.staff_complaints(
        session,
        ctx.actor,
        status=chosen or None,
        overdue=True if only_overdue else None,
        now=now,
        limit=PAGE_SIZE,
        offset=(page - 1) * PAGE_SIZE,
    )
    filters = {"status": chosen, "overdue": "1" if only_overdue else ""}
    return render(
        request,
        "aftersales/complaints.html",
        {
            "ctx": ctx,
            "complaints": rows,
            "overdue": {row.id: is_overdue(row.status, row.respond_by, now) for row in rows},
            "store_names": _store_names(session, ctx),
            "filters": filters,
            "pager": pager(total, page, filters),
            **COMMON,
        },
    )


def _owner_options(session: Session, ctx: SessionContext, complaint: Complaint) -> list[Any]:
    """Active staff of the complaint's store whose role may answer complaints (the service
    checks again on submit)."""
    if not ctx.actor.can(Permission.STAFF_READ):
        return []
    rows, _ = list_staff(session, ctx.actor, store_id=complaint.store_id, limit=200)
    return [
        row
        for row in rows
        if row.status == "active" and Permission.ORDER_WRITE in ROLE_PERMISSIONS[Role(row.role)]
    ]


def _history(complaint: Complaint) -> list[tuple[datetime | None, str, list[tuple[str, str]]]]:
    """The complaint's history for people: when (to show in Asia/Shanghai), what, details."""
    shown = []
    for entry in complaint.history:
        at = entry.get("at")
        details = [(k, str(v)) for k, v in entry.items() if k not in {"kind", "at"}]
        when = datetime.fromisoformat(at) if isinstance(at, str) else None
        shown.append((when, str(entry.get("kind")), details))
    return shown


COMPLAINT_NOTICES = {"answered": "Answer sent.", "assigned": "Owner changed.", "closed": "Closed."}


def _complaint_page(
    request: Request,
    session: Session,
    ctx: SessionContext,
    complaint_id: int,
    *,
    form: dict[str, Any] | None = None,
    problem: FormProblem | None = None,
    failed_form: str | None = None,
    notice: str | None = None,
) -> Response:
    row = complaints.staff_complaint(session, ctx.actor, complaint_id)
    owners = _owner_options(session, ctx, row)
    return render(
        request,
        "aftersales/complaint.html",
        {
            "ctx": ctx,
            "complaint": row,
            "history": _history(row),
            "is_overdue": is_overdue(row.status, row.respond_by, utc_now()),
            "owners": owners,
            "owner_options": [(str(s.id), f"{s.name} ({s.code})") for s in owners],
            "owner_names": {s.id: s.name for s in owners},
            "store_names": _store_names(session, ctx),
            "can_write": ctx.actor.can(Permission.ORDER_WRITE),
            "form": form or {"owner_staff_id": str(row.owner_staff_id or "")},
            "failed_form": failed_form,
            "notice": notice,
            **COMMON,
            **problem_context(problem),
        },
        status_code=problem.status if problem else 200,
    )


@router.get("/complaints/{complaint_id}", response_class=HTMLResponse)
def complaint_page(
    request: Request,
    complaint_id: int,
    session: Uow,
    ctx: ConsoleContext,
    done: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    return _complaint_page(request, session, ctx, complaint_id, notice=COMPLAINT_NOTICES.get(done))


def _complaint_refused(
    request: Request,
    session: Session,
    ctx: SessionContext,
    complaint_id: int,
    error: ValidationError | SiyuError,
    form: dict[str, Any],
    failed_form: str,
) -> Response:
    problem = form_problem(session, error, FIELD_LABELS)
    return _complaint_page(
        request, session, ctx, complaint_id, form=form, problem=problem, failed_form=failed_form
    )


@router.post("/complaints/{complaint_id}/answer", response_class=HTMLResponse)
def answer_complaint(
    request: Request, complaint_id: int, session: Uow, ctx: ConsoleForm, response: LongText = ""
) -> Response:
    form = {"response": response}
    try:
        data = ComplaintAnswer(response=response)
        complaints.answer_complaint(session, ctx.actor, complaint_id, data)
    except (ValidationError, SiyuError) as error:
        return _complaint_refused(request, session, ctx, complaint_id, error, form, "answer")
    return RedirectResponse(f"/console/complaints/{complaint_id}?done=answered", status_code=303)


@router.post("/complaints/{complaint_id}/assign", response_class=HTMLResponse)
def assign_complaint(
    request: Request,
    complaint_id: int,
    session: Uow,
    ctx: ConsoleForm,
    owner_staff_id: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    form = {"owner_staff_id": owner_staff_id}
    try:
        data = ComplaintAssignment.model_validate({"owner_staff_id": owner_staff_id.strip()})
        complaints.assign_complaint(session, ctx.actor, complaint_id, data)
    except (ValidationError, SiyuError) as error:
        return _complaint_refused(request, session, ctx, complaint_id, error, form, "assign")
    return RedirectResponse(f"/console/complaints/{complaint_id}?done=assigned", status_code=303)


@router.post("/complaints/{complaint_id}/close", response_class=HTMLResponse)
def close_complaint(
    request: Request, complaint_id: int, session: Uow, ctx: ConsoleForm, note: Note = ""
) -> Response:
    form = {"close_note": note}
    try:
        data = ComplaintClose(note=note)
        complaints.close_complaint(session, ctx.actor, complaint_id, data)
    except (ValidationError, SiyuError) as error:
        return _complaint_refused(request, session, ctx, complaint_id, error, form, "close")
    return RedirectResponse(f"/console/complaints/{complaint_id}?done=closed", status_code=303)
