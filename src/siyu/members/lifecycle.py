"""Lifecycle stages of members (prospect → new → first purchase → repeat → loyal → dormant →
churned): the brand's thresholds, evaluating one member, and the daily set-based refresh.

The stage itself is decided by ``siyu.members.rules.lifecycle_stage``; the refresh's SQL states
the same conditions set-wise (tests hold the two together). Every change of stage records
``MemberLifecycleChanged`` in the caller's transaction; none of these functions commits.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Integer,
    and_,
    bindparam,
    cast,
    func,
    not_,
    select,
    update,
)
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased

from siyu.access.rules import Actor, Permission
from siyu.audit.service import record_creation, record_update
from siyu.core.clock import utc_now
from siyu.core.snapshot import row_snapshot
from siyu.members import events, rules
from siyu.members.errors import InvalidLifecyclePolicy
from siyu.members.models import LifecyclePolicy, Member
from siyu.members.rules import DEFAULT_POLICY, LifecycleStage
from siyu.outbox.service import record_event


def _policy_row(session: Session, brand_id: int) -> LifecyclePolicy | None:
    return session.scalar(select(LifecyclePolicy).where(LifecyclePolicy.brand_id == brand_id))


def _thresholds(row: LifecyclePolicy | None) -> rules.LifecyclePolicy:
    if row is None:
        return DEFAULT_POLICY
    return rules.LifecyclePolicy(**{name: getattr(row, name) for name in rules.POLICY_FIELDS})


def policy_of(session: Session, brand_id: int) -> rules.LifecyclePolicy:
    """The brand's thresholds, or the defaults while it has set none. No locks."""
    return _thresholds(_policy_row(session, brand_id))


def evaluate_lifecycle(
    session: Session,
    member: Member,
    *,
    now: datetime | None = None,
    policy: rules.LifecyclePolicy | None = None,
) -> bool:
    """Put ``member`` in the stage its facts say; True when the stage changed.

    The caller should hold the member's row lock (siyu.members.locks) when the facts may
    change concurrently. Side effects: MemberLifecycleChanged when the stage changes. Merged
    members are left alone.
    """
    if member.status != "active":
        return False
    now = now or utc_now()
    stage = rules.lifecycle_stage(
        joined=member.joined_at is not None,
        order_count=member.order_count,
        total_spent_fen=member.total_spent_fen,
        last_order_at=member.last_order_at,
        now=now,
        policy=policy or policy_of(session, member.brand_id),
    )
    if stage.value == member.lifecycle_stage:
        return False
    before = member.lifecycle_stage
    member.lifecycle_stage = stage.value
    member.lifecycle_changed_at = now
    session.flush()
    record_event(
        session,
        member.brand_id,
        events.MemberLifecycleChanged(member_id=member.id, from_stage=before, to_stage=stage.value),
    )
    return True


# ---------------------------------------------------------------- the brand's policy


@dataclass(frozen=True)
class PolicyView:
    """The thresholds in force; ``customized`` false while the brand uses the defaults."""

    policy: rules.LifecyclePolicy
    customized: bool


def get_lifecycle_policy(session: Session, actor: Actor) -> PolicyView:
    actor.require(Permission.MEMBER_READ)
    row = _policy_row(session, actor.brand_id)
    return PolicyView(_thresholds(row), row is not None)


def set_lifecycle_policy(
    session: Session, actor: Actor, policy: rules.LifecyclePolicy
) -> PolicyView:
    """Replace the brand's thresholds (loyalty:write: HQ). Raises PermissionDenied,
    InvalidLifecyclePolicy (the first inconsistent field; nothing written). Side effects:
    audit entry, LifecyclePolicyChanged. Stages follow at the next daily refresh or purchase.
    """
    actor.require(Permission.LOYALTY_WRITE)
    problems = rules.policy_problems(policy)
    if problems:
        field, reason = problems[0]
        raise InvalidLifecyclePolicy(f"{field}: {reason}.", field=field)
    row = session.scalar(
        select(LifecyclePolicy).where(LifecyclePolicy.brand_id == actor.brand_id).with_for_update()
    )
    values = asdict(policy)
    if row is None:
        row = LifecyclePolicy(brand_id=actor.brand_id, **values)
        session.add(row)
        session.flush()
        record_creation(session, actor, object_type="lifecycle_policy", row=row)
        changes = values
    else:
        before = row_snapshot(row)
        for name, value in values.items():
            setattr(row, name, value)
        session.flush()
        changes = record_update(
            session, actor, object_type="lifecycle_policy", row=row, before=before
        )
    if changes:
        record_event(
            session,
            actor.brand_id,
            events.LifecyclePolicyChanged(
                lifecycle_policy_id=row.id, changes={k: int(v) for k, v in changes.items()}
            ),
        )
    return PolicyView(policy, True)


# ---------------------------------------------------------------- the daily refresh


def _threshold(column: InstrumentedAttribute[int], default: int) -> ColumnElement[int]:
    return func.coalesce(column, default)


def refresh_lifecycle_stages(
    session: Session, *, now: datetime | None = None, brand_id: int | None = None
) -> dict[str, int]:
    """Move every active buying member whose stage is out of date to the stage the rules give
    (idleness makes members dormant, then churned; changed thresholds move the others), for
    one brand or all. One ``UPDATE … RETURNING`` per target stage, each locking the rows it
    changes; how many members moved, by stage. Side effects: MemberLifecycleChanged per
    member moved. Members without orders are left to their events (joining, refunds).
    """
    now = now or utc_now()
    moment: BindParameter[datetime] = bindparam("now", now)
    candidate = aliased(Member)
    policy = aliased(LifecyclePolicy)

    def days_ago(column: InstrumentedAttribute[int], default: int) -> ColumnElement[datetime]:
        interval = func.make_interval(0, 0, 0, cast(_threshold(column, default), Integer))
        return moment - interval

    dormant_cutoff = days_ago(policy.dormant_after_days, DEFAULT_POLICY.dormant_after_days)
    churned_cutoff = days_ago(policy.churned_after_days, DEFAULT_POLICY.churned_after_days)
    recent = candidate.last_order_at > dormant_cutoff
    loyal = and_(
        candidate.order_count
        >= _threshold(policy.loyal_min_orders, DEFAULT_POLICY.loyal_min_orders),
        candidate.total_spent_fen
        >= _threshold(policy.loyal_min_spent_fen, DEFAULT_POLICY.loyal_min_spent_fen),
    )
    repeat = candidate.order_count >= _threshold(
        policy.repeat_min_orders, DEFAULT_POLICY.repeat_min_orders
    )
    # The same order of tests as rules.lifecycle_stage, stated as disjoint conditions.
    conditions: dict[LifecycleStage, ColumnElement[bool]] = {
        LifecycleStage.CHURNED: candidate.last_order_at <= churned_cutoff,
        LifecycleStage.DORMANT: and_(
            candidate.last_order_at <= dormant_cutoff, candidate.last_order_at > churned_cutoff
        ),
        LifecycleStage.LOYAL: and_(recent, loyal),
        LifecycleStage.REPEAT: and_(recent, repeat, not_(loyal)),
        LifecycleStage.FIRST_PURCHASE: and_(recent, not_(repeat), not_(loyal)),
    }
    moved: dict[str, int] = {}
    for stage, condition in conditions.items():
        scope = [
            candidate.status == "active",
            candidate.order_count > 0,
            candidate.last_order_at.is_not(None),
            candidate.lifecycle_stage != stage.value,
            condition,
        ]
        if brand_id is not None:
            scope.append(candidate.brand_id == brand_id)
        stale = (
            select(
                candidate.brand_id,
                candidate.id,
                candidate.lifecycle_stage.label("from_stage"),
            )
            .outerjoin(policy, policy.brand_id == candidate.brand_id)
            .where(*scope)
            .with_for_update(of=candidate)
            .subquery()
        )
        rows = session.execute(
            update(Member)
            .where(Member.brand_id == stale.c.brand_id, Member.id == stale.c.id)
            .values(lifecycle_stage=stage.value, lifecycle_changed_at=now)
            .returning(Member.brand_id, Member.id, stale.c.from_stage),
            execution_options={"synchronize_session": False},
        ).all()
        for row_brand_id, member_id, from_stage in rows:
            record_event(
                session,
                row_brand_id,
                events.MemberLifecycleChanged(
                    member_id=member_id, from_stage=from_stage, to_stage=stage.value
                ),
            )
        moved[stage.value] = len(rows)
    return moved
