"""Recomputing who belongs to a segment or holds a rule tag, set-based.

The rule is compiled (siyu.segments.compiler) into one SELECT whose result goes into a
temporary table; then one DELETE removes the rows no longer matching and one INSERT adds the
new ones, so a refresh touches only the difference and costs a handful of statements whatever
the size of the segment. Callers hold the segment's (or tag's) row lock (siyu.segments.locks).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Select,
    and_,
    column,
    delete,
    exists,
    func,
    insert,
    literal,
    select,
    table,
    text,
)
from sqlalchemy.orm import Session

from siyu.segments import rules
from siyu.segments.compiler import Strategy, candidates_of, members_matching, windows_of
from siyu.segments.models import MemberTag, Segment, SegmentMember, Tag
from siyu.segments.rules import TagSource
from siyu.segments.scope import owner_actor

FRESH_TABLE = "segment_fresh_members"
fresh = table(FRESH_TABLE, column("id", BigInteger))


@dataclass(frozen=True)
class Difference:
    added: int
    removed: int
    member_count: int


# A probe (one descent of a member's index) costs about as much as aggregating this many
# window rows; measured with bench/segment.py.
PROBE_COST_IN_ROWS = 16


def estimated_rows(session: Session, statement: Select[Any]) -> float:
    """The planner's estimate of the statement's rows (EXPLAIN, nothing executed)."""
    connection = session.connection()
    compiled = statement.compile(
        dialect=connection.dialect, compile_kwargs={"render_postcompile": True}
    )
    plan = connection.exec_driver_sql(
        f"EXPLAIN (FORMAT JSON) {compiled}", compiled.params
    ).scalar_one()
    return float(plan[0]["Plan"]["Plan Rows"])


def choose_strategy(
    session: Session, node: rules.Node, *, brand_id: int, owner: Any, now: datetime
) -> Strategy:
    """Probe when the rule's member-local conditions leave few enough candidates that counting
    each one's events or orders costs less than aggregating the whole windows; aggregate
    otherwise (also when there is nothing to count, or no candidates to narrow it)."""
    if not any(rules.is_windowed_count(c) for c in rules.conditions_of(node)):
        return Strategy.AGGREGATE
    candidates = candidates_of(node, brand_id=brand_id, now=now, scope=owner)
    if candidates is None:
        return Strategy.AGGREGATE
    probes = estimated_rows(session, candidates)
    window_rows = sum(
        estimated_rows(session, w) for w in windows_of(node, brand_id=brand_id, now=now)
    )
    return Strategy.PROBE if probes * PROBE_COST_IN_ROWS <= window_rows else Strategy.AGGREGATE


def matching_statement(
    session: Session,
    node: rules.Node,
    *,
    brand_id: int,
    owner: Any,
    now: datetime,
    strategy: Strategy | None = None,
) -> Select[int]:
    """The member ids ``node`` selects now within ``owner``'s scope (an Actor), evaluated
    with ``strategy`` (by default the one ``choose_strategy`` estimates cheaper)."""
    if strategy is None:
        strategy = choose_strategy(session, node, brand_id=brand_id, owner=owner, now=now)
    return members_matching(node, brand_id=brand_id, now=now, scope=owner, strategy=strategy)


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


# SQLAlchemy reports an INSERT ... SELECT's row count only when asked to keep it.
COUNTED = {"preserve_rowcount": True}


def _drop_fresh(session: Session) -> None:
    session.execute(text(f"DROP TABLE IF EXISTS {FRESH_TABLE}"))


def _compute_fresh(session: Session, statement: Select[int]) -> int:
    """The statement's member ids into a temporary table (CREATE TABLE AS, which, unlike
    INSERT ... SELECT, may use parallel workers); returns how many."""
    _drop_fresh(session)
    count = _rowcount(
        session.execute(statement.into(FRESH_TABLE, temporary=True), execution_options=COUNTED)
    )
    # Temporary tables are never auto-analysed; without statistics the planner would guess.
    session.execute(text(f"ANALYZE {FRESH_TABLE}"))
    return count


def _fresh_members(
    session: Session, row: Segment | Tag, rule: dict[str, Any], now: datetime
) -> int:
    """The members ``rule`` selects now within the scope ``row`` was made in, into the
    temporary table; returns how many."""
    statement = matching_statement(
        session,
        rules.parse_rule(rule).node,
        brand_id=row.brand_id,
        owner=owner_actor(row, row.brand_id),
        now=now,
    )
    return _compute_fresh(session, statement)


def refresh_segment_members(session: Session, segment: Segment, now: datetime) -> Difference:
    """Recompute ``segment``'s materialised membership and stamp it (member_count,
    last_refreshed_at). The caller holds the segment's lock and records the event."""
    count = _fresh_members(session, segment, segment.rule, now)
    current = and_(
        SegmentMember.brand_id == segment.brand_id, SegmentMember.segment_id == segment.id
    )
    removed = _rowcount(
        session.execute(
            delete(SegmentMember).where(
                current, ~exists().where(fresh.c.id == SegmentMember.member_id)
            )
        )
    )
    added = _rowcount(
        session.execute(
            insert(SegmentMember).from_select(
                ["brand_id", "segment_id", "member_id"],
                select(literal(segment.brand_id), literal(segment.id), fresh.c.id).where(
                    ~exists().where(current, SegmentMember.member_id == fresh.c.id)
                ),
            ),
            execution_options=COUNTED,
        )
    )
    _drop_fresh(session)
    segment.member_count = count
    segment.last_refreshed_at = now
    session.flush()
    return Difference(added=added, removed=removed, member_count=count)


def recompute_rule_tag_members(session: Session, tag: Tag, now: datetime) -> Difference:
    """Make the rule tag's holders exactly the members its rule selects now (source 'rule')
    and stamp ``last_refreshed_at``. The caller holds the tag's lock and records the event."""
    assert tag.rule is not None
    count = _fresh_members(session, tag, tag.rule, now)
    current = and_(MemberTag.brand_id == tag.brand_id, MemberTag.tag_id == tag.id)
    removed = _rowcount(
        session.execute(
            delete(MemberTag).where(current, ~exists().where(fresh.c.id == MemberTag.member_id))
        )
    )
    added = _rowcount(
        session.execute(
            insert(MemberTag).from_select(
                ["brand_id", "member_id", "tag_id", "source", "tagged_at"],
                select(
                    literal(tag.brand_id),
                    fresh.c.id,
                    literal(tag.id),
                    literal(TagSource.RULE.value),
                    literal(now),
                ).where(~exists().where(current, MemberTag.member_id == fresh.c.id)),
            ),
            execution_options=COUNTED,
        )
    )
    _drop_fresh(session)
    tag.last_refreshed_at = now
    session.flush()
    return Difference(added=added, removed=removed, member_count=count)


def count_matching(session: Session, statement: Select[int]) -> int:
    return int(session.scalar(select(func.count()).select_from(statement.subquery())) or 0)
