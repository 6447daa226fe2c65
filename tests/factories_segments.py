"""Factories of tags and segments, and of the facts segment rules read: members with profile
fields set, paid online orders with lines, offline (POS) orders and tracking events.

Members are registered through the members domain; their summary columns (tier, stage, order
count, spend) are then set on the row, as loyalty and the purchase subscriber would leave them.
Orders and events are rows: checkout and tracking are other domains.
"""

from __future__ import annotations

import itertools
import uuid
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from siyu.access.rules import Actor
from siyu.catalog.models import Product
from siyu.consumers.models import Consumer
from siyu.members.identity import register_member
from siyu.members.models import Member
from siyu.offline.models import OfflineOrder, OfflineOrderLine
from siyu.orders.models import Order, OrderLine
from siyu.org.models import StockLocation
from siyu.segments.models import Segment, Tag
from siyu.segments.rules import Schedule, TagKind
from siyu.segments.schemas import SegmentCreate, TagCreate
from siyu.segments.service import create_segment
from siyu.segments.tags import create_tag
from siyu.tracking.models import TrackingEvent

_serial = itertools.count(1)


def make_member(
    session: Session,
    brand_id: int,
    *,
    name: str | None = None,
    phone: str | None = None,
    home_store_id: int | None = None,
    source_store_id: int | None = None,
    source_touchpoint_id: int | None = None,
    source_guide_staff_id: int | None = None,
    joined_at: datetime | None = None,
    gender: str | None = None,
    birthday: date | None = None,
    tier_code: str | None = None,
    lifecycle_stage: str | None = None,
    order_count: int = 0,
    total_spent_fen: int = 0,
    last_order_at: datetime | None = None,
) -> Member:
    member = register_member(
        session,
        brand_id,
        identities=[],
        source="test",
        joined_at=joined_at,
        join_channel="test" if joined_at else None,
        phone=phone,
        display_name=name,
        source_touchpoint_id=source_touchpoint_id,
        source_store_id=source_store_id,
        source_guide_staff_id=source_guide_staff_id,
        home_store_id=home_store_id,
    )
    member.gender = gender
    member.birthday = birthday
    member.tier_code = tier_code
    if lifecycle_stage is not None:
        member.lifecycle_stage = lifecycle_stage
    member.order_count = order_count
    member.total_spent_fen = total_spent_fen
    member.last_order_at = last_order_at
    session.flush()
    return member


def make_tag(
    session: Session,
    actor: Actor,
    code: str | None = None,
    *,
    group: str | None = None,
    rule: dict[str, Any] | None = None,
    schedule: Schedule = Schedule.DAILY,
) -> Tag:
    code = code or f"tag{next(_serial)}"
    return create_tag(
        session,
        actor,
        TagCreate(
            code=code,
            name=f"Tag {code}",
            group=group,
            kind=TagKind.RULE if rule is not None else TagKind.MANUAL,
            rule=rule,
            schedule=schedule,
        ),
    )


def make_segment(
    session: Session,
    actor: Actor,
    rule: dict[str, Any],
    *,
    name: str | None = None,
    schedule: Schedule = Schedule.DAILY,
) -> Segment:
    return create_segment(
        session,
        actor,
        SegmentCreate(name=name or f"Segment {next(_serial)}", rule=rule, schedule=schedule),
    )


def consumer_of(session: Session, member: Member) -> Consumer:
    """The member's mini-program consumer (created the first time)."""
    existing = session.scalar(
        select(Consumer).where(
            Consumer.brand_id == member.brand_id, Consumer.member_id == member.id
        )
    )
    if existing is not None:
        return existing
    consumer = Consumer(brand_id=member.brand_id, nickname=member.display_name, member_id=member.id)
    session.add(consumer)
    session.flush()
    return consumer


def make_online_order(
    session: Session,
    member: Member,
    store_id: int,
    product: Product,
    *,
    paid_at: datetime,
    paid_fen: int = 10_000,
    refunded_fen: int = 0,
    payment_status: str | None = None,
    refunded_quantity: int = 0,
) -> Order:
    """A paid online order of one line of ``product`` (its first SKU), as a row."""
    consumer = consumer_of(session, member)
    number = f"SEG{next(_serial):06d}"
    status = payment_status or ("paid" if not refunded_fen else "partially_refunded")
    order = Order(
        brand_id=member.brand_id,
        number=number,
        consumer_id=consumer.id,
        selling_store_id=store_id,
        fulfilment_method="express",
        subtotal_fen=paid_fen,
        total_fen=paid_fen,
        paid_fen=paid_fen if status != "unpaid" else 0,
        refunded_fen=refunded_fen,
        payment_status=status,
        placed_at=paid_at - timedelta(minutes=5),
        paid_at=paid_at if status != "unpaid" else None,
        payment_due_at=paid_at + timedelta(minutes=25),
        idempotency_key=number,
    )
    session.add(order)
    session.flush()
    sku_id = session.execute(
        text("SELECT id FROM sku WHERE brand_id = :b AND product_id = :p ORDER BY id LIMIT 1"),
        {"b": member.brand_id, "p": product.id},
    ).scalar_one()
    location_id = session.scalar(
        select(StockLocation.id).where(
            StockLocation.brand_id == member.brand_id, StockLocation.store_id == store_id
        )
    )
    session.add(
        OrderLine(
            brand_id=member.brand_id,
            order_id=order.id,
            sku_id=sku_id,
            product_id=product.id,
            product_name=product.name,
            sku_code=f"SKU{sku_id}",
            quantity=1,
            unit_price_fen=paid_fen,
            subtotal_fen=paid_fen,
            total_fen=paid_fen,
            fulfilling_location_id=location_id,
            selling_store_id=store_id,
            refunded_quantity=refunded_quantity,
        )
    )
    session.flush()
    return order


def make_offline_order(
    session: Session,
    member: Member,
    store_id: int,
    product: Product | None,
    *,
    placed_at: datetime,
    total_fen: int = 10_000,
    refunded_fen: int = 0,
) -> OfflineOrder:
    """An offline (POS) receipt of one line, as rows (the offline import owns real ones)."""
    order = OfflineOrder(
        brand_id=member.brand_id,
        order_number=f"POS{next(_serial):06d}",
        store_id=store_id,
        member_id=member.id,
        placed_at=placed_at,
        total_fen=total_fen,
        refunded_fen=refunded_fen,
    )
    session.add(order)
    session.flush()
    session.add(
        OfflineOrderLine(
            brand_id=member.brand_id,
            offline_order_id=order.id,
            sku_code="POS-SKU",
            product_id=product.id if product is not None else None,
            quantity=1,
            amount_fen=total_fen,
        )
    )
    session.flush()
    return order


def make_event(
    session: Session,
    brand_id: int,
    member: Member | None,
    kind: str,
    occurred_at: datetime,
    *,
    name: str | None = None,
) -> TrackingEvent:
    """A tracking event row (the tracking domain validates and ingests real ones)."""
    event = TrackingEvent(
        brand_id=brand_id,
        event_id=uuid.uuid4().hex,
        kind=kind,
        name=name,
        occurred_at=occurred_at,
        received_at=occurred_at,
        member_id=member.id if member is not None else None,
    )
    session.add(event)
    return event
