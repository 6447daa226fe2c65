"""Row locks of consumers. Order: consumer row first, then its addresses (by id)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.consumers.models import Consumer


def lock_consumer(session: Session, brand_id: int, consumer_id: int) -> Consumer | None:
    """Serializes changes to one consumer's address book (the single default address)."""
    return session.scalar(
        select(Consumer)
        .where(Consumer.brand_id == brand_id, Consumer.id == consumer_id)
        .with_for_update()
    )
