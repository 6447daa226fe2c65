"""Complaint tickets (客诉): filed by a consumer against a store, owned by a staff member,
answered within a deadline.

A new complaint is owned by the store's manager (staff may reassign it) and must be answered
by ``respond_by`` = filed + ``SIYU_COMPLAINT_RESPONSE_HOURS`` (24 by default). Staff with
``order:write`` answer and close; ``order:read`` lists them, ``overdue`` being the open ones
past their deadline. A job reports each overdue complaint once (``ComplaintOverdue``): the
report is kept in the complaint's history. Locks: the complaint row alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, not_, select
from sqlalchemy.orm import Session

from siyu.access.rules import Actor, Permission, Role, StorePlace, can_see_store
from siyu.access.service import actor_for_staff
from siyu.aftersales import events
from siyu.aftersales.errors import ComplaintAlreadyClosed, ComplaintNotFound, OwnerNotEligible
from siyu.aftersales.locks import lock_complaint
from siyu.aftersales.models import Complaint
from siyu.aftersales.rules import respond_by
from siyu.aftersales.schemas import (
    ComplaintAnswer,
    ComplaintAssignment,
    ComplaintClose,
    ComplaintCreate,
)
from siyu.audit.service import record_change
from siyu.config import get_settings
from siyu.core.clock import utc_now
from siyu.core.logging import get_logger
from siyu.orders.checkout import Shopper
from siyu.orders.errors import OrderNotFound
from siyu.orders.models import Order
from siyu.org.errors import StoreNotFound
from siyu.org.models import Store
from siyu.org.service import store_scope
from siyu.outbox.service import record_event
from siyu.staff.models import Staff

log = get_logger("siyu.aftersales")

OVERDUE_REPORTED = "overdue_reported"


def _history(complaint: Complaint, kind: str, at: datetime, **data: Any) -> None:
    # A new list, so that SQLAlchemy sees the JSONB column change.
    complaint.history = [*complaint.history, {"kind": kind, "at": at.isoformat(), **data}]


def _store_manager(session: Session, brand_id: int, store_id: int) -> int | None:
    return session.scalar(
        select(Staff.id)
        .where(
            Staff.brand_id == brand_id,
            Staff.store_id == store_id,
            Staff.role == Role.STORE_MANAGER.value,
            Staff.status == "active",
        )
        .order_by(Staff.id)
        .limit(1)
    )


def file_complaint(
    session: Session, shopper: Shopper, data: ComplaintCreate, *, now: datetime | None = None
) -> Complaint:
    """A consumer files a complaint about a store (and optionally one of their orders there).
    Owner: the store's manager; deadline: now + the configured response hours. Records
    ``ComplaintFiled``. Raises StoreNotFound, OrderNotFound (not theirs, or of another
    store)."""
    store = session.scalar(
        select(Store).where(Store.brand_id == shopper.brand_id, Store.id == data.store_id)
    )
    if store is None:
        raise StoreNotFound(f"Store {data.store_id} was not found.", field="store_id")
    if data.order_id is not None:
        order_id = session.scalar(
            select(Order.id).where(
                Order.brand_id == shopper.brand_id,
                Order.consumer_id == shopper.consumer_id,
                Order.selling_store_id == store.id,
                Order.id == data.order_id,
            )
        )
        if order_id is None:
            raise OrderNotFound(
                f"Order {data.order_id} of this store was not found.", field="order_id"
            )
    now = now or utc_now()
    complaint = Complaint(
        brand_id=shopper.brand_id,
        consumer_id=shopper.consumer_id,
        order_id=data.order_id,
        store_id=store.id,
        subject=data.subject,
        body=data.body,
        owner_staff_id=_store_manager(session, shopper.brand_id, store.id),
        status="open",
        respond_by=respond_by(now, get_settings().complaint_response_hours),
        history=[],
    )
    _history(complaint, "filed", now, by=shopper.label)
    session.add(complaint)
    session.flush()
    record_event(
        session,
        shopper.brand_id,
        events.ComplaintFiled(
            complaint_id=complaint.id,
            store_id=store.id,
            order_id=complaint.order_id,
            owner_staff_id=complaint.owner_staff_id,
        ),
    )
    return complaint


def consumer_complaints(
    session: Session, shopper: Shopper, *, limit: int = 20, offset: int = 0
) -> tuple[Sequence[Complaint], int]:
    condition = (Complaint.brand_id == shopper.brand_id) & (
        Complaint.consumer_id == shopper.consumer_id
    )
    total = session.scalar(select(func.count()).select_from(Complaint).where(condition)) or 0
    rows = session.scalars(
        select(Complaint).where(condition).order_by(Complaint.id.desc()).limit(limit).offset(offset)
    ).all()
    return rows, total


def complaint_scope(actor: Actor) -> ColumnElement[bool]:
    return (Complaint.brand_id == actor.brand_id) & Complaint.store_id.in_(
        select(Store.id).where(store_scope(actor))
    )


def overdue_condition(now: datetime) -> ColumnElement[bool]:
    return (Complaint.status == "open") & (Complaint.respond_by < now)


def staff_complaints(
    session: Session,
    actor: Actor,
    *,
    status: str | None = None,
    overdue: bool | None = None,
    store_id: int | None = None,
    owner_staff_id: int | None = None,
    now: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[Sequence[Complaint], int]:
    """Complaints of the stores in scope (order:read), most urgent deadline first.
    ``overdue=True``: only the unanswered ones past their deadline (False: all others)."""
    actor.require(Permission.ORDER_READ)
    conditions: list[ColumnElement[bool]] = [complaint_scope(actor)]
    if status is not None:
        conditions.append(Complaint.status == status)
    if store_id is not None:
        conditions.append(Complaint.store_id == store_id)
    if owner_staff_id is not None:
        conditions.append(Complaint.owner_staff_id == owner_staff_id)
    if overdue is not None:
        late = overdue_condition(now or utc_now())
        conditions.append(late if overdue else not_(late))
    total = session.scalar(select(func.count()).select_from(Complaint).where(*conditions)) or 0
    rows = session.scalars(
        select(Complaint)
        .where(*conditions)
        .order_by(Complaint.respond_by, Complaint.id)
        .limit(limit)
        .offset(offset)
    ).all()
    return rows, total


def staff_complaint(session: Session, actor: Actor, complaint_id: int) -> Complaint:
    actor.require(Permission.ORDER_READ)
    row = session.scalar(
        select(Complaint).where(complaint_scope(actor), Complaint.id == complaint_id)
    )
    if row is None:
        raise ComplaintNotFound(f"Complaint {complaint_id} was not found.")
    return row


def _locked(session: Session, actor: Actor, complaint_id: int) -> Complaint:
    actor.require(Permission.ORDER_WRITE)
    staff_complaint(session, actor, complaint_id)
    complaint = lock_complaint(session, actor.brand_id, complaint_id)
    assert complaint is not None
    if complaint.status == "closed":
        raise ComplaintAlreadyClosed(f"Complaint {complaint.id} is closed.")
    return complaint


def _audit(session: Session, actor: Actor, action: str, complaint: Complaint, **after: Any) -> None:
    record_change(
        session,
        actor,
        action=f"complaint.{action}",
        object_type="complaint",
        object_id=complaint.id,
        before=None,
        after={"status": complaint.status, **after},
    )


def _store_place(session: Session, complaint: Complaint) -> StorePlace:
    row = session.execute(
        select(Store.region_id, Store.franchisee_id).where(
            Store.brand_id == complaint.brand_id, Store.id == complaint.store_id
        )
    ).one()
    return StorePlace(complaint.store_id, row.region_id, row.franchisee_id)


def assign_complaint(
    session: Session, actor: Actor, complaint_id: int, data: ComplaintAssignment
) -> Complaint:
    """Give the complaint to another owner: an active staff member who may answer it (their
    role has order:write and their scope covers the store). Audited; records
    ``ComplaintAssigned``. Raises PermissionDenied, ComplaintNotFound,
    ComplaintAlreadyClosed, OwnerNotEligible."""
    complaint = _locked(session, actor, complaint_id)
    owner = session.scalar(
        select(Staff).where(
            Staff.brand_id == actor.brand_id,
            Staff.id == data.owner_staff_id,
            Staff.status == "active",
        )
    )
    owner_actor = actor_for_staff(owner) if owner is not None else None
    if (
        owner is None
        or owner_actor is None
        or not owner_actor.can(Permission.ORDER_WRITE)
        or not can_see_store(owner_actor, _store_place(session, complaint))
    ):
        raise OwnerNotEligible(
            f"Staff member {data.owner_staff_id} cannot take this complaint.",
            field="owner_staff_id",
        )
    complaint.owner_staff_id = owner.id
    _history(complaint, "assigned", utc_now(), owner_staff_id=owner.id, by=actor.label)
    _audit(session, actor, "assign", complaint, owner_staff_id=owner.id)
    record_event(
        session,
        complaint.brand_id,
        events.ComplaintAssigned(
            complaint_id=complaint.id, store_id=complaint.store_id, owner_staff_id=owner.id
        ),
    )
    return complaint


def answer_complaint(
    session: Session,
    actor: Actor,
    complaint_id: int,
    data: ComplaintAnswer,
    *,
    now: datetime | None = None,
) -> Complaint:
    """Answer the consumer (again, if need be: the latest answer is shown, every one is in
    the history). Audited; records ``ComplaintAnswered``. Locks the complaint. Raises
    PermissionDenied, ComplaintNotFound, ComplaintAlreadyClosed."""
    complaint = _locked(session, actor, complaint_id)
    now = now or utc_now()
    first = complaint.responded_at is None
    complaint.status = "answered"
    complaint.response = data.response
    complaint.responded_at = complaint.responded_at or now
    _history(complaint, "answered", now, by=actor.label, staff_id=actor.staff_id)
    _audit(session, actor, "answer", complaint, response=data.response)
    record_event(
        session,
        complaint.brand_id,
        events.ComplaintAnswered(
            complaint_id=complaint.id,
            store_id=complaint.store_id,
            staff_id=actor.staff_id,
            within_deadline=not first or now <= complaint.respond_by,
        ),
    )
    return complaint


def close_complaint(
    session: Session,
    actor: Actor,
    complaint_id: int,
    data: ComplaintClose,
    *,
    now: datetime | None = None,
) -> Complaint:
    """Close the ticket. Audited; records ``ComplaintClosed``. Raises PermissionDenied,
    ComplaintNotFound, ComplaintAlreadyClosed."""
    complaint = _locked(session, actor, complaint_id)
    complaint.status = "closed"
    _history(complaint, "closed", now or utc_now(), by=actor.label, note=data.note)
    _audit(session, actor, "close", complaint, note=data.note)
    record_event(
        session,
        complaint.brand_id,
        events.ComplaintClosed(complaint_id=complaint.id, store_id=complaint.store_id),
    )
    return complaint


def report_overdue_complaints(
    session: Session, *, now: datetime | None = None, limit: int = 500
) -> list[Complaint]:
    """Report every open complaint past its deadline not reported before (all brands; the
    job): a log line and ``ComplaintOverdue`` each, and a history entry so that it is
    reported once. Claims rows with FOR UPDATE SKIP LOCKED (several workers may run)."""
    now = now or utc_now()
    rows = session.scalars(
        select(Complaint)
        .where(
            overdue_condition(now),
            not_(Complaint.history.contains([{"kind": OVERDUE_REPORTED}])),
        )
        .order_by(Complaint.respond_by, Complaint.brand_id, Complaint.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    for complaint in rows:
        _history(complaint, OVERDUE_REPORTED, now)
        record_event(
            session,
            complaint.brand_id,
            events.ComplaintOverdue(
                complaint_id=complaint.id,
                store_id=complaint.store_id,
                owner_staff_id=complaint.owner_staff_id,
                respond_by=complaint.respond_by.isoformat(),
            ),
        )
        log.warning(
            "complaint_overdue",
            brand_id=complaint.brand_id,
            complaint_id=complaint.id,
            store_id=complaint.store_id,
            owner_staff_id=complaint.owner_staff_id,
            respond_by=complaint.respond_by.isoformat(),
        )
    return list(rows)
