"""Locks of attribution.

Credits are written two ways: one order at a time by the outbox subscriber (payment, refund)
and a whole brand batch by batch by the recompute job. Both delete an order's rows and insert
new ones, so they must not interleave:

- ``lock_order_credits`` (subscriber): the brand's attribution lock in SHARE mode, so order
  subscribers never wait for each other, then an exclusive lock on the order, so two deliveries
  for one order (payment and refund in two dispatchers) run one after the other;
- ``lock_brand_credits`` (a recompute batch): the brand's attribution lock in EXCLUSIVE mode, so
  a batch waits for the order subscribers in flight and they wait for it (about a second).

All are transaction-level advisory locks (``pg_advisory_xact_lock*``), held until the caller's
transaction ends; take them after any row lock of another domain. Two dispatchers crediting the
same two orders in opposite order can deadlock; PostgreSQL then fails one delivery, which the
outbox retries (crediting is idempotent).

``lock_settings`` locks the settings row FOR UPDATE while it changes, so two changes (and the
deferral of their recompute job) are serialized.
"""

from __future__ import annotations

from sqlalchemy import Integer, cast, func, literal, select
from sqlalchemy.orm import Session

from siyu.attribution.models import AttributionSetting

# An arbitrary constant naming attribution in the two-key advisory lock space.
ATTRIBUTION_LOCK_CLASS = 4011


def _brand_key(brand_id: int) -> tuple[object, object]:
    return cast(literal(ATTRIBUTION_LOCK_CLASS), Integer), cast(literal(brand_id), Integer)


def lock_brand_credits(session: Session, brand_id: int) -> None:
    session.execute(select(func.pg_advisory_xact_lock(*_brand_key(brand_id))))


def lock_order_credits(session: Session, brand_id: int, order_id: int) -> None:
    session.execute(select(func.pg_advisory_xact_lock_shared(*_brand_key(brand_id))))
    # One 64-bit key per order (a hash: a collision only makes two orders wait for each other).
    order_key = func.hashtextextended(f"attribution:{brand_id}:{order_id}", 0)
    session.execute(select(func.pg_advisory_xact_lock(order_key)))


def lock_settings(session: Session, brand_id: int) -> AttributionSetting | None:
    return session.scalar(
        select(AttributionSetting).where(AttributionSetting.brand_id == brand_id).with_for_update()
    )
