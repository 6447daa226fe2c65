"""Re-attributing a brand's paid orders set-based, in SQL.

``recompute_batch`` replaces the credits of the next ``batch_size`` paid orders (by id) with
one DELETE and one INSERT ... SELECT: the touches are joined to the orders, numbered with
window functions, weighted per model exactly as ``siyu.attribution.rules.touch_weights`` does,
summed per touchpoint, and shared out by largest remainder (floor of the exact share, then one
unit each to the largest remainders, ties to the touchpoint touched last) with window
functions over exact integer products (``bigint``, or ``numeric`` for an amount so large the
product could overflow). ``rules.attribute`` remains the definition: the
property test ``tests/test_attribution_recompute.py`` checks this SQL against it on random
orders under every model.

``recompute_brand`` walks the whole brand batch by batch, committing after each batch through
the caller's ``unit_of_work`` factory, so a recompute of a million orders holds the brand's
attribution lock for one batch at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from siyu.attribution import rules
from siyu.attribution.locks import lock_brand_credits
from siyu.attribution.service import brand_settings

DEFAULT_BATCH = 50_000
WORK_MEM = "128MB"

_NEXT_BATCH = text(
    "SELECT max(id), count(*) FROM (SELECT id FROM sales_order"
    " WHERE brand_id = :brand_id AND id > :after AND paid_at IS NOT NULL"
    " ORDER BY id LIMIT :batch_size) AS batch"
)

_DELETE = text(
    "DELETE FROM order_touchpoint_credit"
    " WHERE brand_id = :brand_id AND order_id > :after AND order_id <= :upto"
)

# Per model: the weight of one numbered touch (position 1..n of n) and the order's total
# weight, exactly as rules.touch_weights gives them. ``decay`` is the touch's time-decay weight
# and ``decay_total`` its sum over the order (computed only for that model).
_DECAY = (
    f"greatest(1, floor({rules.TIME_DECAY_SCALE}::float8 * power(2::float8,"
    " -(extract(epoch FROM placed_at - at)::float8) / :half_life_seconds)))"
)
_WEIGHT_AND_TOTAL = {
    rules.AttributionModel.FIRST_TOUCH: ("(position = 1)::int", "1"),
    rules.AttributionModel.LAST_TOUCH: ("(position = n)::int", "1"),
    rules.AttributionModel.LINEAR: ("1", "n"),
    rules.AttributionModel.POSITION_BASED: (
        "CASE WHEN n = 1 THEN 1"
        " WHEN n = 2 AND :first_percent + :last_percent = 0 THEN 1"
        " WHEN n = 2 AND position = 1 THEN :first_percent"
        " WHEN n = 2 THEN :last_percent"
        " WHEN position = 1 THEN :first_percent * (n - 2)"
        " WHEN position = n THEN :last_percent * (n - 2)"
        " ELSE :middle_percent END",
        "CASE WHEN n = 1 THEN 1"
        " WHEN n = 2 AND :first_percent + :last_percent = 0 THEN 2"
        " WHEN n = 2 THEN :first_percent + :last_percent"
        " ELSE (:first_percent + :middle_percent + :last_percent) * (n - 2) END",
    ),
    rules.AttributionModel.TIME_DECAY: ("decay", "decay_total"),
}

_INSERT = """
WITH orders AS (
    SELECT o.id AS order_id, o.placed_at, o.paid_at, o.paid_fen - o.refunded_fen AS amount,
           c.member_id, o.touchpoint_id
    FROM sales_order o
    JOIN consumer c ON c.brand_id = o.brand_id AND c.id = o.consumer_id
    WHERE o.brand_id = :brand_id AND o.id > :after AND o.id <= :upto AND o.paid_at IS NOT NULL
), touches AS (
    SELECT order_id, amount, paid_at, touchpoint_id, at, own, seq, {decay} AS decay
    FROM (
        SELECT o.order_id, o.amount, o.paid_at, o.placed_at, e.touchpoint_id,
               e.occurred_at AS at, 0 AS own, e.id AS seq
        FROM orders o
        -- OFFSET 0 keeps this a per-order index probe (ix_tracking_event_member): flattened
        -- into a hash join it would scan all the brand's events for every batch.
        CROSS JOIN LATERAL (
            SELECT e.touchpoint_id, e.occurred_at, e.id
            FROM tracking_event e
            WHERE e.brand_id = :brand_id AND e.member_id = o.member_id
              AND e.kind IN ('scan', 'visit') AND e.touchpoint_id IS NOT NULL
              AND e.occurred_at
                  BETWEEN o.placed_at - make_interval(secs => :lookback_days * 86400)
                      AND o.placed_at
            OFFSET 0
        ) AS e
        JOIN touchpoint t ON t.brand_id = :brand_id AND t.id = e.touchpoint_id
        UNION ALL
        SELECT o.order_id, o.amount, o.paid_at, o.placed_at, o.touchpoint_id, o.placed_at, 1, 0
        FROM orders o
        JOIN touchpoint t ON t.brand_id = :brand_id AND t.id = o.touchpoint_id
    ) AS raw
), numbered AS (
    SELECT order_id, amount, paid_at, touchpoint_id, decay,
           row_number() OVER (PARTITION BY order_id ORDER BY at, own, seq) AS position,
           count(*) OVER (PARTITION BY order_id) AS n,
           sum(decay) OVER (PARTITION BY order_id) AS decay_total
    FROM touches
), per_touchpoint AS (
    SELECT order_id, touchpoint_id, amount, paid_at, total,
           sum(weight)::bigint AS weight, max(position) AS last_position
    FROM (SELECT order_id, touchpoint_id, amount, paid_at, position,
                 ({weight})::bigint AS weight, ({total})::bigint AS total
          FROM numbered) AS weighted
    GROUP BY order_id, touchpoint_id, amount, paid_at, total
    HAVING sum(weight) > 0
), floors AS (
    -- bigint arithmetic unless amount * weight could overflow it (then exact numeric)
    SELECT order_id, touchpoint_id, last_position, amount, paid_at,
           1000 * weight / total AS permille_floor,
           1000 * weight % total AS permille_rest,
           CASE WHEN amount <= 9223372036854775807 / total THEN amount * weight / total
                ELSE div(amount::numeric * weight, total)::bigint END AS fen_floor,
           CASE WHEN amount <= 9223372036854775807 / total THEN amount * weight % total
                ELSE mod(amount::numeric * weight, total)::bigint END AS fen_rest
    FROM per_touchpoint
), ranked AS (
    SELECT order_id, touchpoint_id, amount, paid_at, permille_floor, fen_floor,
           row_number() OVER (PARTITION BY order_id
                              ORDER BY permille_rest DESC, last_position DESC) AS permille_rank,
           1000 - sum(permille_floor) OVER (PARTITION BY order_id) AS permille_left,
           row_number() OVER (PARTITION BY order_id
                              ORDER BY fen_rest DESC, last_position DESC) AS fen_rank,
           amount - sum(fen_floor) OVER (PARTITION BY order_id) AS fen_left
    FROM floors
)
INSERT INTO order_touchpoint_credit
    (brand_id, order_id, touchpoint_id, credit_permille, credited_fen, model, paid_at,
     computed_at)
SELECT :brand_id, order_id, touchpoint_id,
       permille_floor + (permille_rank <= permille_left)::int,
       fen_floor + (fen_rank <= fen_left)::int,
       :model, paid_at, now()
FROM ranked
UNION ALL
SELECT :brand_id, o.order_id, NULL, 1000, o.amount, :model, o.paid_at, now()
FROM orders o
WHERE NOT EXISTS (SELECT 1 FROM per_touchpoint p WHERE p.order_id = o.order_id)
"""

_INSERTS = {
    model: text(
        _INSERT.format(
            weight=weight,
            total=total,
            decay=_DECAY if model is rules.AttributionModel.TIME_DECAY else "0",
        )
    )
    for model, (weight, total) in _WEIGHT_AND_TOTAL.items()
}


@dataclass(frozen=True)
class BatchResult:
    last_order_id: int | None
    orders: int
    credits: int


def recompute_batch(
    session: Session,
    brand_id: int,
    *,
    after_order_id: int = 0,
    batch_size: int = DEFAULT_BATCH,
    settings: rules.ModelSettings | None = None,
) -> BatchResult:
    """Replace the credits of the brand's next ``batch_size`` paid orders with id above
    ``after_order_id`` under ``settings`` (default: the brand's current settings, read after
    taking the lock). Takes the brand's attribution lock. ``last_order_id`` None: no order
    was left."""
    lock_brand_credits(session, brand_id)
    upto, count = session.execute(
        _NEXT_BATCH, {"brand_id": brand_id, "after": after_order_id, "batch_size": batch_size}
    ).one()
    if upto is None:
        return BatchResult(None, 0, 0)
    settings = settings or brand_settings(session, brand_id)
    # The batch's sorts and aggregates fit in memory instead of spilling to disk.
    session.execute(text(f"SET LOCAL work_mem = '{WORK_MEM}'"))
    bounds = {"brand_id": brand_id, "after": after_order_id, "upto": upto}
    session.execute(_DELETE, bounds)
    result = session.execute(
        _INSERTS[settings.model],
        {
            **bounds,
            "model": settings.model.value,
            "lookback_days": settings.lookback_days,
            "first_percent": settings.position_first_percent,
            "middle_percent": settings.position_middle_percent,
            "last_percent": settings.position_last_percent,
            "half_life_seconds": float(settings.half_life_days * rules.SECONDS_PER_DAY),
        },
    )
    return BatchResult(int(upto), int(count), int(getattr(result, "rowcount", 0) or 0))


@dataclass(frozen=True)
class RecomputeReport:
    orders: int
    credits: int
    batches: int


def recompute_brand(
    unit_of_work: Callable[[], AbstractContextManager[Session]],
    brand_id: int,
    *,
    batch_size: int = DEFAULT_BATCH,
    on_batch: Callable[[BatchResult], None] | None = None,
) -> RecomputeReport:
    """Re-attribute every paid order of the brand, one committed batch per ``unit_of_work()``.
    Each batch reads the settings current at its start, so a change during the walk is
    followed by its own recompute job and the last walk wins."""
    after = 0
    orders = credits = batches = 0
    while True:
        with unit_of_work() as session:
            batch = recompute_batch(session, brand_id, after_order_id=after, batch_size=batch_size)
        if batch.last_order_id is None:
            return RecomputeReport(orders, credits, batches)
        orders += batch.orders
        credits += batch.credits
        batches += 1
        after = batch.last_order_id
        if on_batch is not None:
            on_batch(batch)
