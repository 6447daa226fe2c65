"""HTTP API of fulfilment: pickup write-off (核销) at the store, shipping and delivery."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field, StringConstraints

from siyu.core.masking import mask_phone
from siyu.orders import fulfilment, service
from siyu.orders.api import order_out, shopper
from siyu.orders.errors import OrderNotFound
from siyu.orders.models import Order
from siyu.orders.schemas import OrderLineOut, OrderOut
from siyu.web.deps import CurrentActor, CurrentConsumer, Uow

router = APIRouter(tags=["fulfilment"])
storefront_router = APIRouter(prefix="/storefront", tags=["storefront"])

PickupCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=4, max_length=16)]
Detail = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class PickupWriteOff(BaseModel):
    pickup_code: PickupCode = Field(examples=["04718253"])


class PickupOut(BaseModel):
    """The order behind a pickup code, as the counter sees it (phone masked)."""

    order_id: int
    number: str
    status: str
    payment_status: str
    fulfilment_status: str
    after_sale_status: str
    total_fen: int
    paid_fen: int
    refunded_fen: int
    consumer_nickname: str | None
    consumer_phone: str | None = Field(description="Masked: 138****1234")
    lines: list[OrderLineOut]


class ShipmentIn(BaseModel):
    """Express: ``carrier`` and ``tracking_number``. Local delivery: ``courier_name`` and
    ``courier_phone``."""

    carrier: Detail | None = Field(default=None, examples=["SF Express"])
    tracking_number: Detail | None = Field(default=None, examples=["SF1234567890"])
    courier_name: Detail | None = None
    courier_phone: Annotated[str, StringConstraints(pattern=r"^\+?[0-9 -]{5,20}$")] | None = None


class ShipmentOut(BaseModel):
    carrier: str | None
    tracking_number: str | None
    courier_name: str | None
    courier_phone: str | None


def _order(session: Uow, order: Order, *, for_consumer: bool) -> OrderOut:
    return order_out(order, list(service.order_lines(session, order)), for_consumer=for_consumer)


@router.get("/stores/{store_id}/pickups", response_model=PickupOut)
def find_pickup(
    store_id: int,
    session: Uow,
    actor: CurrentActor,
    code: Annotated[str, Query(min_length=4, max_length=16)],
) -> PickupOut:
    """Look up the order behind a pickup code (scanned or typed) before handing it over."""
    view = fulfilment.find_pickup(session, actor, store_id, code)
    full = order_out(view.order, view.lines, for_consumer=False)
    return PickupOut(
        order_id=full.id,
        number=full.number,
        status=full.status,
        payment_status=full.payment_status,
        fulfilment_status=full.fulfilment_status,
        after_sale_status=full.after_sale_status,
        total_fen=full.total_fen,
        paid_fen=full.paid_fen,
        refunded_fen=full.refunded_fen,
        consumer_nickname=view.consumer_nickname,
        consumer_phone=view.consumer_phone_masked,
        lines=full.lines,
    )


@router.post("/stores/{store_id}/pickups", response_model=OrderOut)
def write_off_pickup(
    store_id: int, data: PickupWriteOff, session: Uow, actor: CurrentActor
) -> OrderOut:
    """Write a pickup code off (核销): the order is handed over and becomes fulfilled. Only the
    selling store, only once."""
    order = fulfilment.write_off_pickup(session, actor, store_id, data.pickup_code)
    return _order(session, order, for_consumer=False)


@router.post("/orders/{order_id}/shipments", response_model=OrderOut)
def ship_order(order_id: int, data: ShipmentIn, session: Uow, actor: CurrentActor) -> OrderOut:
    """Mark an express or local-delivery order shipped; its stock leaves the shelf."""
    order = fulfilment.ship_order(
        session, actor, order_id, fulfilment.Shipment(**data.model_dump())
    )
    return _order(session, order, for_consumer=False)


@router.post("/orders/{order_id}/delivered", response_model=OrderOut)
def mark_delivered(order_id: int, session: Uow, actor: CurrentActor) -> OrderOut:
    """Confirm a shipped order arrived: it becomes fulfilled and completed."""
    order = fulfilment.mark_delivered(session, actor, order_id)
    return _order(session, order, for_consumer=False)


@router.get("/orders/{order_id}/shipment", response_model=ShipmentOut)
def get_shipment(order_id: int, session: Uow, actor: CurrentActor) -> ShipmentOut:
    order = service.staff_order(session, actor, order_id)
    shipment = fulfilment.latest_shipment(session, order)
    if shipment is None:
        raise OrderNotFound(f"Order {order_id} has not been shipped.", code="shipment_not_found")
    return ShipmentOut(
        carrier=shipment.carrier,
        tracking_number=shipment.tracking_number,
        courier_name=shipment.courier_name,
        courier_phone=mask_phone(shipment.courier_phone),
    )


@storefront_router.post("/orders/{order_id}/received", response_model=OrderOut)
def confirm_receipt(order_id: int, session: Uow, context: CurrentConsumer) -> OrderOut:
    """The consumer confirms receipt of a shipped order (确认收货)."""
    order = fulfilment.confirm_receipt(session, shopper(context), order_id)
    return _order(session, order, for_consumer=True)


@storefront_router.get("/orders/{order_id}/shipment", response_model=ShipmentOut)
def my_shipment(order_id: int, session: Uow, context: CurrentConsumer) -> ShipmentOut:
    """Carrier and tracking number (express) or the courier (local delivery)."""
    shipment = fulfilment.consumer_shipment(session, shopper(context), order_id)
    return ShipmentOut(**shipment.__dict__)
