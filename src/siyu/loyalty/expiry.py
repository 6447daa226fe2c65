"""Points expiry: lots whose ``expires_at`` has passed leave the balance, set-based.

One statement per batch of members (all brands): the members that have lots due are locked
(FOR UPDATE SKIP LOCKED, in (brand, id) order, so a checkout holding one is simply left for the
next batch), then every due lot gets an ``expire`` ledger row (cause: the lot, so a lot can
expire only once, whatever runs overlap), the lots are emptied, the balances lowered, and one
MemberPointsExpired is written per member. The payload keeps the shape of
siyu.loyalty.events.MemberPointsExpired.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from siyu.core.clock import utc_now

_EXPIRE_SQL = text(
    """
    WITH batch AS (
        SELECT m.brand_id, m.id, m.points_balance
        FROM member m
        WHERE EXISTS (
            SELECT 1 FROM points_lot l
            WHERE l.brand_id = m.brand_id AND l.member_id = m.id
              AND l.remaining > 0 AND l.expires_at <= :now
        )
        ORDER BY m.brand_id, m.id
        LIMIT :batch_size
        FOR UPDATE SKIP LOCKED
    ), due AS (
        SELECT l.brand_id, l.id AS lot_id, l.member_id, l.remaining,
               b.points_balance - sum(l.remaining) OVER (
                   PARTITION BY l.brand_id, l.member_id ORDER BY l.expires_at, l.id
               ) AS balance_after
        FROM points_lot l
        JOIN batch b ON b.brand_id = l.brand_id AND b.id = l.member_id
        WHERE l.remaining > 0 AND l.expires_at <= :now
    ), entries AS (
        INSERT INTO points_entry (brand_id, member_id, kind, delta, shortfall, cause_type,
                                  cause_id, balance_after, occurred_at)
        SELECT brand_id, member_id, 'expire', -remaining, 0, 'points_lot', lot_id,
               balance_after, :now
        FROM due
        RETURNING 1
    ), emptied AS (
        UPDATE points_lot l SET remaining = 0
        FROM due
        WHERE l.brand_id = due.brand_id AND l.id = due.lot_id
        RETURNING 1
    ), totals AS (
        SELECT brand_id, member_id, sum(remaining) AS points, count(*) AS lots
        FROM due
        GROUP BY brand_id, member_id
    ), lowered AS (
        UPDATE member m SET points_balance = m.points_balance - totals.points
        FROM totals
        WHERE m.brand_id = totals.brand_id AND m.id = totals.member_id
        RETURNING m.brand_id, m.id, totals.points, totals.lots, m.points_balance
    ), published AS (
        INSERT INTO outbox_event (brand_id, event_type, aggregate_type, aggregate_id, payload)
        SELECT brand_id, 'MemberPointsExpired', 'member', id::text,
               jsonb_build_object('member_id', id, 'points', points, 'lots', lots,
                                  'balance_after', points_balance)
        FROM lowered
        RETURNING 1
    )
    SELECT count(*), coalesce(sum(points), 0), coalesce(sum(lots), 0) FROM lowered
    """
)


@dataclass(frozen=True)
class ExpiryReport:
    members: int
    points: int
    lots: int


def expire_points(
    session: Session, *, now: datetime | None = None, batch_size: int = 1000
) -> ExpiryReport:
    """Expire the due lots of up to ``batch_size`` members (all brands), in the caller's
    transaction; call again until it reports no member. Members locked by another transaction
    are skipped until the next call."""
    session.flush()
    members, points, lots = session.execute(
        _EXPIRE_SQL, {"now": now or utc_now(), "batch_size": batch_size}
    ).one()
    session.expire_all()
    return ExpiryReport(int(members), int(points), int(lots))
