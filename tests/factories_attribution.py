"""Factories of attribution: buyers (a consumer and their member), paid orders inserted
directly (checkout is another domain's), and tracking events."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert
from sqlalchemy.orm import Session

from siyu.consumers.models import Consumer
from siyu.core.clock import utc_now
from siyu.members.identity import register_member
from siyu.members.models import Member
from siyu.orders.models import Order
from siyu.outbox.events import DomainEvent
from siyu.outbox.service import record_event
from siyu.tracking.models import TrackingEvent

_serial = itertools.count(1)


@dataclass
class Buyer:
    consumer: Consumer
    member: Member | None


def make_member(
    session: Session,
    brand_id: int,
    *,
    joined_at: datetime | None,
    source_touchpoint_id: int | None = None,
    home_store_id: int | None = None,
) -> Member:
    return register_member(
        session,
        brand_id,
        identities=[("mini_program_openid", f"openid-{next(_serial)}")],
        source="test",
        joined_at=joined_at,
        join_channel="test" if joined_at else None,
        source_touchpoint_id=source_touchpoint_id,
        home_store_id=home_store_id,
    )


def make_buyer(
    session: Session,
    brand_id: int,
    *,
    with_member: bool = True,
    joined_at: datetime | None = None,
    home_store_id: int | None = None,
) -> Buyer:
    member = (
        make_member(
            session, brand_id, joined_at=joined_at or utc_now(), home_store_id=home_store_id
        )
        if with_member
        else None
    )
    consumer = Consumer(
        brand_id=brand_id,
        nickname=f"buyer {next(_serial)}",
        member_id=member.id if member else None,
    )
    session.add(consumer)
    session.flush()
    return Buyer(consumer, member)


def make_paid_order(
    session: Session,
    buyer: Buyer,
    store_id: int,
    *,
    amount_fen: int,
    placed_at: datetime,
    touchpoint_id: int | None = None,
    refunded_fen: int = 0,
) -> Order:
    """A paid order (paid a minute after placing), optionally refunded in part or whole."""
    number = f"A{next(_serial):08d}"
    if refunded_fen == 0:
        status = "paid"
    elif refunded_fen == amount_fen:
        status = "refunded"
    else:
        status = "partially_refunded"
    order = Order(
        brand_id=buyer.consumer.brand_id,
        number=number,
        consumer_id=buyer.consumer.id,
        selling_store_id=store_id,
        touchpoint_id=touchpoint_id,
        fulfilment_method="express",
        subtotal_fen=amount_fen,
        total_fen=amount_fen,
        paid_fen=amount_fen,
        refunded_fen=refunded_fen,
        payment_status=status,
        placed_at=placed_at,
        paid_at=placed_at + timedelta(minutes=1),
        payment_due_at=placed_at + timedelta(minutes=30),
        idempotency_key=number,
    )
    session.add(order)
    session.flush()
    return order


def add_event(
    session: Session,
    brand_id: int,
    *,
    kind: str,
    at: datetime,
    member_id: int | None = None,
    touchpoint_id: int | None = None,
    store_id: int | None = None,
    anonymous_id: str | None = None,
    consumer_id: int | None = None,
) -> int:
    """One tracking event, inserted directly (ingestion is the tracking domain's)."""
    return int(
        session.execute(
            insert(TrackingEvent)
            .values(
                brand_id=brand_id,
                event_id=uuid.uuid4().hex,
                kind=kind,
                occurred_at=at,
                received_at=at,
                anonymous_id=anonymous_id,
                consumer_id=consumer_id,
                member_id=member_id,
                touchpoint_id=touchpoint_id,
                store_id=store_id,
            )
            .returning(TrackingEvent.id)
        ).scalar_one()
    )


def publish(session: Session, brand_id: int, event: DomainEvent) -> None:
    record_event(session, brand_id, event)
