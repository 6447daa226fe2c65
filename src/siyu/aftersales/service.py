"""After-sales: return and refund requests (售后), from the consumer's request to the money back.

A consumer asks for ``refund_only`` or ``return_and_refund`` on lines of a paid order. Staff of
the selling store (or anyone whose scope covers it, HQ included) with ``order:write`` approve,
with an amount at most the one asked, or reject with a note. An approved ``refund_only``
refunds at once; an approved ``return_and_refund`` waits for the goods, which staff receive
(putting them back on sale or not, per line) before the refund starts. The refund completes
asynchronously (WeChat Pay's notification); ``settle_after_sale_refund``, called for each
``OrderRefunded`` event (siyu.aftersales.subscribers), then closes the request and counts the
order lines' refunded units.

The order's after-sale axis: ``requested`` (asked) → ``in_progress`` (approved) → ``closed``
(refunded, rejected or withdrawn); a later request opens it again. Before the goods left the
store (not shipped, not picked up) only a refund of the whole rest of the order is possible:
the stock then goes back on sale with the refund (siyu.orders.payment).

Locks: the order, then the after-sale request (siyu.aftersales.locks), then stock.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.access.rules import Actor, Permission
from siyu.aftersales import events
from siyu.aftersales.errors import (
    AfterSaleAlreadyOpen,
    AfterSaleNotPending,
    ApprovedExceedsRequested,
    DuplicateOrderLine,
    OrderNotRefundable,
    QuantityExceedsPurchased,
    ReturnBeforeDelivery,
    ReturnNotExpected,
    UnknownOrderLine,
    WholeOrderBeforeDelivery,
)
from siyu.aftersales.locks import lock_after_sale
from siyu.aftersales.models import AfterSale, AfterSaleLine
from siyu.aftersales.reading import consumer_after_sale, staff_after_sale, view
from siyu.aftersales.rules import (
    CLAIMING_STATES,
    DELIVERED_FULFILMENT,
    OPEN_STATES,
    AfterSaleKind,
    AfterSaleState,
    PurchasedLine,
    is_whole_order,
    refund_cap,
)
from siyu.aftersales.schemas import (
    AfterSaleApproval,
    AfterSaleCreate,
    AfterSaleRejection,
    ReturnReceipt,
)
from siyu.audit.service import record_change
from siyu.core.clock import utc_now
from siyu.core.snapshot import changed_fields, row_snapshot
from siyu.inventory.service import restock
from siyu.orders.checkout import Shopper
from siyu.orders.errors import RefundExceedsPaid
from siyu.orders.locks import lock_order
from siyu.orders.models import Order, OrderLine
from siyu.orders.payment import refund_order, refundable_fen
from siyu.orders.service import add_order_event, consumer_order, order_lines
from siyu.org.models import StockLocation
from siyu.outbox.service import record_event
from siyu.payments.models import Refund
from siyu.wechat.adapters import PayGateway

SYSTEM_LABEL = "system"
PAID_STATUSES = ("paid", "partially_refunded")
OPEN_VALUES = tuple(state.value for state in OPEN_STATES)
CLAIMING_VALUES = tuple(state.value for state in CLAIMING_STATES)


def refund_key(after_sale_id: int) -> str:
    """The refund's idempotency key: one refund per after-sale request, however often asked."""
    return f"after-sale-{after_sale_id}"


# ---------------------------------------------------------------- the consumer's request


def _claimed_units(session: Session, order: Order) -> dict[int, int]:
    """Units of each order line already in open or refunded requests."""
    rows = session.execute(
        select(AfterSaleLine.order_line_id, func.sum(AfterSaleLine.quantity))
        .join(
            AfterSale,
            (AfterSale.brand_id == AfterSaleLine.brand_id)
            & (AfterSale.id == AfterSaleLine.after_sale_id),
        )
        .where(
            AfterSale.brand_id == order.brand_id,
            AfterSale.order_id == order.id,
            AfterSale.status.in_(CLAIMING_VALUES),
        )
        .group_by(AfterSaleLine.order_line_id)
    )
    return {line_id: int(units) for line_id, units in rows}


def purchased_lines(session: Session, order: Order) -> list[PurchasedLine]:
    """The order's lines as after-sales sees them: units and totals bought, and units already
    claimed by open or refunded requests."""
    claimed = _claimed_units(session, order)
    return [
        PurchasedLine(line.id, line.quantity, line.total_fen, claimed.get(line.id, 0))
        for line in order_lines(session, order)
    ]


def _requested_units(data: AfterSaleCreate, purchased: dict[int, PurchasedLine]) -> dict[int, int]:
    requested: dict[int, int] = {}
    for index, line in enumerate(data.lines):
        field = f"lines[{index}]"
        bought = purchased.get(line.order_line_id)
        if bought is None:
            raise UnknownOrderLine(
                f"Order line {line.order_line_id} is not part of this order.",
                field=f"{field}.order_line_id",
            )
        if line.order_line_id in requested:
            raise DuplicateOrderLine(
                f"Order line {line.order_line_id} is listed twice.",
                field=f"{field}.order_line_id",
            )
        if line.quantity > bought.remaining:
            raise QuantityExceedsPurchased(
                f"At most {bought.remaining} of order line {line.order_line_id} can still be "
                f"returned or refunded ({bought.quantity} bought).",
                field=f"{field}.quantity",
                extra={"remaining": bought.remaining},
            )
        requested[line.order_line_id] = line.quantity
    return requested


def request_after_sale(
    session: Session, shopper: Shopper, order_id: int, data: AfterSaleCreate
) -> AfterSale:
    """The consumer asks for a refund (or a return and refund) on lines of a paid order.

    Checks: the order is the consumer's (OrderNotFound), paid and not cancelled or refunded in
    full (OrderNotRefundable), no other request is open (AfterSaleAlreadyOpen), every line
    belongs to the order once (UnknownOrderLine, DuplicateOrderLine) with at most the units
    bought less those already requested or refunded (QuantityExceedsPurchased), the amount
    within the lines' paid totals and what is still refundable (RefundExceedsPaid); before
    the goods left, only a refund of the whole rest (ReturnBeforeDelivery,
    WholeOrderBeforeDelivery). Records ``AfterSaleRequested``; the order's after-sale axis
    becomes ``requested``. Locks the order."""
    consumer_order(session, shopper, order_id)
    order = lock_order(session, shopper.brand_id, order_id)
    assert order is not None
    if order.lifecycle_status == "cancelled" or order.payment_status not in PAID_STATUSES:
        raise OrderNotRefundable(
            f"Order {order.number} cannot be refunded ({order.payment_status}, "
            f"{order.lifecycle_status})."
        )
    open_request = session.scalar(
        select(AfterSale.id).where(
            AfterSale.brand_id == order.brand_id,
            AfterSale.order_id == order.id,
            AfterSale.status.in_(OPEN_VALUES),
        )
    )
    if open_request is not None:
        raise AfterSaleAlreadyOpen(
            f"After-sale request {open_request} of this order is still open.",
            extra={"after_sale_id": open_request},
        )
    purchased = {line.order_line_id: line for line in purchased_lines(session, order)}
    requested = _requested_units(data, purchased)
    delivered = order.fulfilment_status in DELIVERED_FULFILMENT
    whole = is_whole_order(list(purchased.values()), requested)
    if not delivered and data.kind is AfterSaleKind.RETURN_AND_REFUND:
        raise ReturnBeforeDelivery(
            "The goods have not left the store yet: ask for a refund instead.", field="kind"
        )
    if not delivered and not whole:
        raise WholeOrderBeforeDelivery(
            "Before delivery or pickup, only the whole order can be refunded.", field="lines"
        )
    cap = refund_cap(list(purchased.values()), requested, refundable_fen(session, order))
    if data.requested_refund_fen > cap:
        raise RefundExceedsPaid(
            f"At most {cap} fen can be refunded for these lines.",
            field="requested_refund_fen",
            extra={"refundable_fen": cap},
        )
    if not delivered and data.requested_refund_fen != cap:
        raise WholeOrderBeforeDelivery(
            f"Before delivery or pickup, the refund is the whole {cap} fen still paid.",
            field="requested_refund_fen",
            extra={"refundable_fen": cap},
        )
    after_sale = AfterSale(
        brand_id=order.brand_id,
        order_id=order.id,
        consumer_id=order.consumer_id,
        store_id=order.selling_store_id,
        kind=data.kind.value,
        reason=data.reason,
        description=data.description,
        photos=list(data.photos),
        status=AfterSaleState.REQUESTED.value,
        requested_refund_fen=data.requested_refund_fen,
    )
    session.add(after_sale)
    session.flush()
    session.add_all(
        AfterSaleLine(
            brand_id=order.brand_id,
            after_sale_id=after_sale.id,
            order_line_id=line_id,
            quantity=quantity,
        )
        for line_id, quantity in requested.items()
    )
    order.after_sale_status = "requested"
    add_order_event(
        session,
        order,
        "after_sale_requested",
        shopper.label,
        after_sale_id=after_sale.id,
        after_sale_kind=after_sale.kind,
        requested_refund_fen=after_sale.requested_refund_fen,
    )
    record_event(
        session,
        order.brand_id,
        events.AfterSaleRequested(
            after_sale_id=after_sale.id,
            order_id=order.id,
            store_id=after_sale.store_id,
            kind=after_sale.kind,
            requested_refund_fen=after_sale.requested_refund_fen,
        ),
    )
    session.flush()
    return after_sale


def cancel_after_sale(session: Session, shopper: Shopper, after_sale_id: int) -> AfterSale:
    """The consumer withdraws a request not yet decided, or an approved return whose goods
    were not received. Locks the order, then the request. Raises AfterSaleNotFound,
    AfterSaleNotPending."""
    found = consumer_after_sale(session, shopper, after_sale_id)
    order = lock_order(session, found.brand_id, found.order_id)
    after_sale = lock_after_sale(session, found.brand_id, found.id)
    assert order is not None and after_sale is not None
    withdrawable = after_sale.status == AfterSaleState.REQUESTED or (
        after_sale.status == AfterSaleState.APPROVED
        and after_sale.kind == AfterSaleKind.RETURN_AND_REFUND
    )
    if not withdrawable:
        raise AfterSaleNotPending(
            f"After-sale request {after_sale.id} can no longer be withdrawn ({after_sale.status})."
        )
    after_sale.status = AfterSaleState.CANCELLED.value
    order.after_sale_status = "closed"
    add_order_event(
        session, order, "after_sale_cancelled", shopper.label, after_sale_id=after_sale.id
    )
    record_event(
        session,
        order.brand_id,
        events.AfterSaleCancelled(
            after_sale_id=after_sale.id, order_id=order.id, store_id=after_sale.store_id
        ),
    )
    return after_sale


# ---------------------------------------------------------------- staff decisions


def _locked_for_decision(
    session: Session, actor: Actor, after_sale_id: int
) -> tuple[Order, AfterSale]:
    actor.require(Permission.ORDER_WRITE)
    found = staff_after_sale(session, actor, after_sale_id)
    order = lock_order(session, found.brand_id, found.order_id)
    after_sale = lock_after_sale(session, found.brand_id, found.id)
    assert order is not None and after_sale is not None
    return order, after_sale


def _audit(
    session: Session, actor: Actor, action: str, row: AfterSale, before: dict[str, Any]
) -> None:
    changes = changed_fields(before, row_snapshot(row))
    record_change(
        session,
        actor,
        action=f"after_sale.{action}",
        object_type="after_sale",
        object_id=row.id,
        before={key: before.get(key) for key in changes},
        after=changes,
    )


def _start_refund(
    session: Session, order: Order, after_sale: AfterSale, gateway: PayGateway, actor_label: str
) -> Refund:
    """Ask the payment provider for the approved amount; settle at once if it already
    succeeded (otherwise the refund notification does, through settle_after_sale_refund)."""
    assert after_sale.approved_refund_fen is not None
    refund = refund_order(
        session,
        order.id,
        order.brand_id,
        amount_fen=after_sale.approved_refund_fen,
        reason=f"After-sale {after_sale.id}: {after_sale.reason}",
        idempotency_key=refund_key(after_sale.id),
        gateway=gateway,
        actor_label=actor_label,
        after_sale_id=after_sale.id,
    )
    if refund.status == "succeeded":
        _settle(session, order, after_sale, refund)
    return refund


def approve_after_sale(
    session: Session,
    actor: Actor,
    after_sale_id: int,
    data: AfterSaleApproval,
    gateway: PayGateway,
    *,
    now: datetime | None = None,
) -> AfterSale:
    """Approve a request (order:write, its store in scope) with at most the amount asked
    (the whole amount when the goods never left). ``refund_only``: the refund starts now
    (idempotency key ``after-sale-<id>``); ``return_and_refund``: it waits for the goods
    (receive_returned_goods). The order's after-sale axis becomes ``in_progress``. Audited;
    records ``AfterSaleApproved``. Locks the order, then the request. Raises
    PermissionDenied, AfterSaleNotFound, AfterSaleNotPending, ApprovedExceedsRequested,
    WholeOrderBeforeDelivery, RefundExceedsPaid, PaymentRefused."""
    order, after_sale = _locked_for_decision(session, actor, after_sale_id)
    if after_sale.status != AfterSaleState.REQUESTED:
        raise AfterSaleNotPending(
            f"After-sale request {after_sale.id} was already decided ({after_sale.status})."
        )
    amount = data.approved_refund_fen or after_sale.requested_refund_fen
    if amount > after_sale.requested_refund_fen:
        raise ApprovedExceedsRequested(
            f"At most the {after_sale.requested_refund_fen} fen asked can be approved.",
            field="approved_refund_fen",
        )
    if order.fulfilment_status not in DELIVERED_FULFILMENT and amount != (
        after_sale.requested_refund_fen
    ):
        raise WholeOrderBeforeDelivery(
            "The goods never left: approve the whole refund or reject the request.",
            field="approved_refund_fen",
        )
    before = row_snapshot(after_sale)
    after_sale.status = AfterSaleState.APPROVED.value
    after_sale.approved_refund_fen = amount
    after_sale.decided_by_staff_id = actor.staff_id
    after_sale.decided_at = now or utc_now()
    after_sale.decision_note = data.note or None
    order.after_sale_status = "in_progress"
    add_order_event(
        session,
        order,
        "after_sale_approved",
        actor.label,
        after_sale_id=after_sale.id,
        approved_refund_fen=amount,
        staff_id=actor.staff_id,
    )
    _audit(session, actor, "approve", after_sale, before)
    record_event(
        session,
        order.brand_id,
        events.AfterSaleApproved(
            after_sale_id=after_sale.id,
            order_id=order.id,
            store_id=after_sale.store_id,
            kind=after_sale.kind,
            approved_refund_fen=amount,
            staff_id=actor.staff_id,
        ),
    )
    if after_sale.kind == AfterSaleKind.REFUND_ONLY:
        _start_refund(session, order, after_sale, gateway, actor.label)
    return after_sale


def reject_after_sale(
    session: Session,
    actor: Actor,
    after_sale_id: int,
    data: AfterSaleRejection,
    *,
    now: datetime | None = None,
) -> AfterSale:
    """Reject a request with a note for the consumer. The order's after-sale axis becomes
    ``closed``. Audited; records ``AfterSaleRejected``. Locks the order, then the request.
    Raises PermissionDenied, AfterSaleNotFound, AfterSaleNotPending."""
    order, after_sale = _locked_for_decision(session, actor, after_sale_id)
    if after_sale.status != AfterSaleState.REQUESTED:
        raise AfterSaleNotPending(
            f"After-sale request {after_sale.id} was already decided ({after_sale.status})."
        )
    before = row_snapshot(after_sale)
    after_sale.status = AfterSaleState.REJECTED.value
    after_sale.decided_by_staff_id = actor.staff_id
    after_sale.decided_at = now or utc_now()
    after_sale.decision_note = data.note
    order.after_sale_status = "closed"
    add_order_event(
        session,
        order,
        "after_sale_rejected",
        actor.label,
        after_sale_id=after_sale.id,
        note=data.note,
        staff_id=actor.staff_id,
    )
    _audit(session, actor, "reject", after_sale, before)
    record_event(
        session,
        order.brand_id,
        events.AfterSaleRejected(
            after_sale_id=after_sale.id,
            order_id=order.id,
            store_id=after_sale.store_id,
            staff_id=actor.staff_id,
        ),
    )
    return after_sale


def _restock_location(session: Session, order: Order, line: OrderLine) -> int:
    """Where returned units go back on sale: the location the line was fulfilled from while
    it is active, else the selling store's own location."""
    active = session.scalar(
        select(StockLocation.id).where(
            StockLocation.brand_id == order.brand_id,
            StockLocation.id == line.fulfilling_location_id,
            StockLocation.is_active.is_(True),
        )
    )
    if active is not None:
        return active
    store_location = session.scalar(
        select(StockLocation.id)
        .where(
            StockLocation.brand_id == order.brand_id,
            StockLocation.store_id == order.selling_store_id,
            StockLocation.is_active.is_(True),
        )
        .order_by(StockLocation.id)
        .limit(1)
    )
    return store_location if store_location is not None else line.fulfilling_location_id


def receive_returned_goods(
    session: Session,
    actor: Actor,
    after_sale_id: int,
    data: ReturnReceipt,
    gateway: PayGateway,
) -> AfterSale:
    """Staff received the goods of an approved ``return_and_refund``: each line's units go
    back on hand (restock, a 'return' movement) unless marked ``restock: false`` (damaged),
    then the approved refund starts. Audited; records ``ReturnedGoodsReceived``. Locks the
    order, the request, then stock levels in (location, SKU) order. Raises PermissionDenied,
    AfterSaleNotFound, ReturnNotExpected, UnknownOrderLine, RefundExceedsPaid,
    PaymentRefused."""
    order, after_sale = _locked_for_decision(session, actor, after_sale_id)
    if (
        after_sale.kind != AfterSaleKind.RETURN_AND_REFUND
        or after_sale.status != AfterSaleState.APPROVED
    ):
        raise ReturnNotExpected(
            f"After-sale request {after_sale.id} is not an approved return awaiting its goods "
            f"({after_sale.kind}, {after_sale.status})."
        )
    pairs = view(session, after_sale).lines
    known = {order_line.id for _, order_line in pairs}
    flags: dict[int, bool] = {}
    for index, line in enumerate(data.lines):
        if line.order_line_id not in known:
            raise UnknownOrderLine(
                f"Order line {line.order_line_id} is not part of this return.",
                field=f"lines[{index}].order_line_id",
            )
        flags[line.order_line_id] = line.restock
    before = row_snapshot(after_sale)
    plans = [
        (_restock_location(session, order, order_line), order_line, request_line)
        for request_line, order_line in pairs
        if flags.get(order_line.id, True)
    ]
    restocked = 0
    for location_id, order_line, request_line in sorted(
        plans, key=lambda plan: (plan[0], plan[1].sku_id)
    ):
        restock(
            session,
            order.brand_id,
            location_id=location_id,
            sku_id=order_line.sku_id,
            quantity=request_line.quantity,
            reference=f"after_sale:{after_sale.id}",
            actor_label=actor.label,
        )
        request_line.restocked_quantity = request_line.quantity
        restocked += request_line.quantity
    after_sale.status = AfterSaleState.RECEIVED.value
    if data.note:
        after_sale.decision_note = data.note
    add_order_event(
        session,
        order,
        "return_received",
        actor.label,
        after_sale_id=after_sale.id,
        restocked_units=restocked,
        staff_id=actor.staff_id,
    )
    _audit(session, actor, "receive", after_sale, before)
    record_event(
        session,
        order.brand_id,
        events.ReturnedGoodsReceived(
            after_sale_id=after_sale.id,
            order_id=order.id,
            store_id=after_sale.store_id,
            restocked_units=restocked,
        ),
    )
    _start_refund(session, order, after_sale, gateway, actor.label)
    return after_sale


# ---------------------------------------------------------------- the money came back


def _settle(session: Session, order: Order, after_sale: AfterSale, refund: Refund) -> bool:
    if after_sale.status not in {AfterSaleState.APPROVED, AfterSaleState.RECEIVED}:
        return False
    after_sale.status = AfterSaleState.REFUNDED.value
    for request_line, order_line in view(session, after_sale).lines:
        order_line.refunded_quantity = min(
            order_line.refunded_quantity + request_line.quantity, order_line.quantity
        )
    order.after_sale_status = "closed"
    add_order_event(
        session,
        order,
        "after_sale_refunded",
        SYSTEM_LABEL,
        after_sale_id=after_sale.id,
        refund_id=refund.id,
        amount_fen=refund.amount_fen,
    )
    record_event(
        session,
        order.brand_id,
        events.AfterSaleRefunded(
            after_sale_id=after_sale.id,
            order_id=order.id,
            store_id=after_sale.store_id,
            refund_id=refund.id,
            amount_fen=refund.amount_fen,
        ),
    )
    return True


def settle_after_sale_refund(session: Session, brand_id: int, refund_id: int) -> AfterSale | None:
    """A refund succeeded: if it belongs to an after-sale request still waiting for it, the
    request becomes ``refunded``, its lines' units are counted as refunded on the order lines,
    the order's after-sale axis ``closed``, and ``AfterSaleRefunded`` is recorded.
    Idempotent (events are delivered at least once). Locks the order, then the request.
    Returns the request, or None when the refund is not an after-sale's."""
    refund = session.scalar(
        select(Refund).where(Refund.brand_id == brand_id, Refund.id == refund_id)
    )
    if refund is None or refund.after_sale_id is None or refund.status != "succeeded":
        return None
    order = lock_order(session, brand_id, refund.order_id)
    after_sale = lock_after_sale(session, brand_id, refund.after_sale_id)
    if order is None or after_sale is None:
        return None
    _settle(session, order, after_sale, refund)
    return after_sale
