"""Attribution: the brand's model settings, each order's touchpoint credit, each member's
acquisition touchpoint.

The arithmetic lives in ``siyu.attribution.rules`` (pure); this module loads the touches,
applies the rules and stores the result. Re-attributing a whole brand is set-based SQL in
``siyu.attribution.recompute``. No function here commits.

Touches of an order: the scans and visits of the order's member (``consumer.member_id``) that
named a touchpoint, within the lookback window before the order was placed, oldest first (ties
by event id), then the order's own ``touchpoint_id`` at its placing time. An order of a
consumer without a member has only its own touchpoint. Touchpoint ids that name no touchpoint
of the brand (the order's touchpoint is client-supplied) are ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, insert, or_, select, text
from sqlalchemy.orm import Session

from siyu.access.rules import Actor, Permission
from siyu.attribution import events, rules
from siyu.attribution.errors import InvalidAttributionSettings, TouchesStillLoading
from siyu.attribution.locks import lock_order_credits, lock_settings
from siyu.attribution.models import AttributionSetting, OrderTouchpointCredit
from siyu.attribution.schemas import AttributionSettingsIn, AttributionSettingsOut
from siyu.attribution.sources import (
    TOUCH_KINDS,
    anonymous_visitor,
    events_still_loading,
    tracking_event,
)
from siyu.audit.service import record_creation, record_update
from siyu.consumers.models import Consumer
from siyu.core.clock import utc_now
from siyu.core.errors import PermissionDenied
from siyu.core.snapshot import row_snapshot
from siyu.jobs.deferral import defer_job_unless_waiting
from siyu.members.models import Member
from siyu.orders.models import Order
from siyu.outbox.service import record_event
from siyu.touchpoints.models import Touchpoint

RECOMPUTE_TASK = "siyu:recompute_attribution"
RECOMPUTE_QUEUE = "attribution"


def recompute_lock(brand_id: int) -> str:
    """The procrastinate lock (and queueing lock) of a brand's recompute job."""
    return f"attribution:{brand_id}"


# ---------------------------------------------------------------- settings


def _as_rules(row: AttributionSetting | None) -> rules.ModelSettings:
    if row is None:
        return rules.ModelSettings()
    return rules.ModelSettings(
        model=rules.AttributionModel(row.model),
        lookback_days=row.lookback_days,
        position_first_percent=row.position_first_percent,
        position_middle_percent=row.position_middle_percent,
        position_last_percent=row.position_last_percent,
        half_life_days=row.half_life_days,
    )


def _settings_row(session: Session, brand_id: int) -> AttributionSetting | None:
    return session.scalar(select(AttributionSetting).where(AttributionSetting.brand_id == brand_id))


def brand_settings(session: Session, brand_id: int) -> rules.ModelSettings:
    """The brand's model settings (siyu's defaults when it never chose). No locks."""
    return _as_rules(_settings_row(session, brand_id))


def recompute_pending(session: Session, brand_id: int) -> bool:
    """Whether a recompute job of the brand is queued or running."""
    return bool(
        session.scalar(
            text(
                "SELECT EXISTS (SELECT 1 FROM procrastinate_jobs WHERE task_name = :task"
                " AND lock = :lock AND status IN ('todo', 'doing'))"
            ),
            {"task": RECOMPUTE_TASK, "lock": recompute_lock(brand_id)},
        )
    )


def _view(
    session: Session, brand_id: int, row: AttributionSetting | None
) -> AttributionSettingsOut:
    settings = _as_rules(row)
    return AttributionSettingsOut(
        model=settings.model,
        model_label=rules.MODEL_LABELS[settings.model],
        lookback_days=settings.lookback_days,
        position_first_percent=settings.position_first_percent,
        position_middle_percent=settings.position_middle_percent,
        position_last_percent=settings.position_last_percent,
        half_life_days=settings.half_life_days,
        customized=row is not None,
        updated_at=row.updated_at if row is not None else None,
        recompute_pending=recompute_pending(session, brand_id),
    )


def get_settings(session: Session, actor: Actor) -> AttributionSettingsOut:
    """The brand's settings, for whoever may change them or read reports. Raises
    PermissionDenied otherwise."""
    if not (actor.can(Permission.ATTRIBUTION_WRITE) or actor.can(Permission.REPORT_READ)):
        raise PermissionDenied(
            "Reading the attribution model needs the 'attribution:write' or 'report:read'"
            " permission.",
            extra={"permission": Permission.REPORT_READ.value},
        )
    return _view(session, actor.brand_id, _settings_row(session, actor.brand_id))


def defer_recompute(session: Session, brand_id: int) -> bool:
    """Queue the brand's recompute job in the caller's transaction (it exists only if they
    commit) unless one is already waiting to start, which will read the newest settings
    anyway. Jobs of one brand never run at once (procrastinate ``lock``). Returns whether a
    job was queued."""
    key = recompute_lock(brand_id)
    queued = defer_job_unless_waiting(
        session,
        RECOMPUTE_TASK,
        {"brand_id": int(brand_id)},
        queue=RECOMPUTE_QUEUE,
        queueing_lock=key,
        lock=key,
    )
    return queued is not None


def change_settings(
    session: Session, actor: Actor, data: AttributionSettingsIn
) -> AttributionSettingsOut:
    """Set the brand's model. Locks the settings row. When the change can alter credits
    (``rules.affects_credits``) it records AttributionModelChanged and queues the recompute of
    every paid order (``defer_recompute``). Audited. Raises PermissionDenied,
    InvalidAttributionSettings (position percentages not adding up to 100)."""
    actor.require(Permission.ATTRIBUTION_WRITE)
    problem = rules.check_position_percentages(
        data.position_first_percent, data.position_middle_percent, data.position_last_percent
    )
    if problem is not None:
        raise InvalidAttributionSettings(problem, field="position_first_percent")
    row = lock_settings(session, actor.brand_id)
    before = _as_rules(row)
    created = row is None
    if row is None:
        row = AttributionSetting(brand_id=actor.brand_id)
        session.add(row)
    snapshot = row_snapshot(row) if not created else {}
    row.model = data.model.value
    row.lookback_days = data.lookback_days
    row.position_first_percent = data.position_first_percent
    row.position_middle_percent = data.position_middle_percent
    row.position_last_percent = data.position_last_percent
    row.half_life_days = data.half_life_days
    session.flush()
    if created:
        record_creation(session, actor, object_type="attribution_setting", row=row)
    else:
        record_update(session, actor, object_type="attribution_setting", row=row, before=snapshot)
    after = _as_rules(row)
    if rules.affects_credits(before, after):
        record_event(
            session,
            actor.brand_id,
            events.AttributionModelChanged(
                attribution_setting_id=row.id,
                model=after.model.value,
                lookback_days=after.lookback_days,
                previous_model=before.model.value,
                previous_lookback_days=before.lookback_days,
            ),
        )
        defer_recompute(session, actor.brand_id)
    session.flush()
    session.refresh(row)
    return _view(session, actor.brand_id, row)


# ---------------------------------------------------------------- touches


def _existing_touchpoints(session: Session, brand_id: int, ids: set[int]) -> set[int]:
    if not ids:
        return set()
    return set(
        session.scalars(
            select(Touchpoint.id).where(Touchpoint.brand_id == brand_id, Touchpoint.id.in_(ids))
        )
    )


def member_touches(
    session: Session,
    brand_id: int,
    *,
    member_id: int | None,
    anonymous_ids: Sequence[str] = (),
    until: datetime,
    settings: rules.ModelSettings,
) -> list[rules.Touch]:
    """The person's scans and visits naming a touchpoint within the lookback window ending at
    ``until``, oldest first (ties by event id). ``anonymous_ids`` adds events not yet stitched
    to the member. No locks."""
    who = []
    if member_id is not None:
        who.append(tracking_event.c.member_id == member_id)
    if anonymous_ids:
        who.append(tracking_event.c.anonymous_id.in_(list(anonymous_ids)))
    if not who:
        return []
    rows = session.execute(
        select(tracking_event.c.touchpoint_id, tracking_event.c.occurred_at)
        .join(
            Touchpoint,
            (Touchpoint.brand_id == tracking_event.c.brand_id)
            & (Touchpoint.id == tracking_event.c.touchpoint_id),
        )
        .where(
            tracking_event.c.brand_id == brand_id,
            or_(*who),
            tracking_event.c.kind.in_(TOUCH_KINDS),
            tracking_event.c.occurred_at.between(until - settings.lookback, until),
        )
        .order_by(tracking_event.c.occurred_at, tracking_event.c.id)
    ).all()
    return [rules.Touch(touchpoint_id, at) for touchpoint_id, at in rows]


def order_touches(
    session: Session, order: Order, member_id: int | None, settings: rules.ModelSettings
) -> list[rules.Touch]:
    """The touches of ``order`` (see the module doc)."""
    touches = member_touches(
        session, order.brand_id, member_id=member_id, until=order.placed_at, settings=settings
    )
    own = order.touchpoint_id
    if own is not None and _existing_touchpoints(session, order.brand_id, {own}):
        touches.append(rules.Touch(own, order.placed_at))
    return touches


# ---------------------------------------------------------------- order credit


def credit_order(session: Session, brand_id: int, order_id: int) -> list[rules.Credit]:
    """Replace the order's credits with those of the brand's current model (idempotent: the
    same data gives the same rows). An order never paid gets none. The amount credited is the
    paid amount net of refunds, so a refund scales the credits down. Takes the order's
    attribution locks (``locks.lock_order_credits``). Raises TouchesStillLoading while
    tracking events accepted before the payment wait for the loader (the outbox retries)."""
    lock_order_credits(session, brand_id, order_id)
    order = session.scalar(select(Order).where(Order.brand_id == brand_id, Order.id == order_id))
    session.execute(
        delete(OrderTouchpointCredit).where(
            OrderTouchpointCredit.brand_id == brand_id, OrderTouchpointCredit.order_id == order_id
        )
    )
    if order is None or order.paid_at is None:
        return []
    if events_still_loading(session, brand_id, order.paid_at):
        raise TouchesStillLoading(
            f"Tracking events accepted before order {order_id} was paid are still loading."
        )
    settings = brand_settings(session, brand_id)
    member_id = session.scalar(
        select(Consumer.member_id).where(
            Consumer.brand_id == brand_id, Consumer.id == order.consumer_id
        )
    )
    credits = rules.attribute(
        settings,
        order.placed_at,
        order.paid_fen - order.refunded_fen,
        order_touches(session, order, member_id, settings),
    )
    computed_at = utc_now()
    session.execute(
        insert(OrderTouchpointCredit),
        [
            {
                "brand_id": brand_id,
                "order_id": order_id,
                "touchpoint_id": credit.touchpoint_id,
                "credit_permille": credit.credit_permille,
                "credited_fen": credit.credited_fen,
                "model": settings.model.value,
                "paid_at": order.paid_at,
                "computed_at": computed_at,
            }
            for credit in credits
        ],
    )
    return credits


def order_credits(session: Session, brand_id: int, order_id: int) -> list[OrderTouchpointCredit]:
    """The stored credits of one order, oldest touchpoint id first (NULL last). No locks."""
    return list(
        session.scalars(
            select(OrderTouchpointCredit)
            .where(
                OrderTouchpointCredit.brand_id == brand_id,
                OrderTouchpointCredit.order_id == order_id,
            )
            .order_by(OrderTouchpointCredit.touchpoint_id.nulls_last())
        )
    )


# ---------------------------------------------------------------- acquisition


def attribute_acquisition(
    session: Session, brand_id: int, member_id: int, *, anonymous_ids: Sequence[str] = ()
) -> int | None:
    """Give a joined member without a source their last touch before joining as their
    acquisition touchpoint, and that touchpoint's store and guide (and home store) where the
    member has none. Touches: the member's events and those of their anonymous ids (the ones
    given and the ones tracking linked to them) within the lookback window. A member who has a
    source, has not joined, was merged or has no such touch is left alone (an unknown
    source). Locks the member row. Side effects: MemberAcquisitionAttributed. Returns the
    touchpoint given, if any. Raises TouchesStillLoading while tracking events accepted before
    the join wait for the loader (the outbox retries)."""

    def unsourced(locked: bool) -> Member | None:
        statement = select(Member).where(
            Member.brand_id == brand_id,
            Member.id == member_id,
            Member.status == "active",
            Member.joined_at.is_not(None),
            Member.source_touchpoint_id.is_(None),
        )
        if locked:
            statement = statement.with_for_update().execution_options(populate_existing=True)
        return session.scalar(statement)

    # Most logins are of members who have a source: look before taking the row lock.
    if unsourced(locked=False) is None:
        return None
    member = unsourced(locked=True)
    if member is None or member.joined_at is None:
        return None
    if events_still_loading(session, brand_id, member.joined_at):
        raise TouchesStillLoading(
            f"Tracking events accepted before member {member_id} joined are still loading."
        )
    settings = brand_settings(session, brand_id)
    linked = session.scalars(
        select(anonymous_visitor.c.anonymous_id).where(
            anonymous_visitor.c.brand_id == brand_id, anonymous_visitor.c.member_id == member_id
        )
    ).all()
    touches = member_touches(
        session,
        brand_id,
        member_id=member_id,
        anonymous_ids=sorted({*anonymous_ids, *linked}),
        until=member.joined_at,
        settings=settings,
    )
    touchpoint_id = rules.acquisition_touchpoint(settings, member.joined_at, touches)
    if touchpoint_id is None:
        return None
    touchpoint = session.get(Touchpoint, (brand_id, touchpoint_id))
    assert touchpoint is not None
    member.source_touchpoint_id = touchpoint_id
    if member.source_store_id is None:
        member.source_store_id = touchpoint.store_id
    if member.source_guide_staff_id is None:
        member.source_guide_staff_id = touchpoint.staff_id
    if member.home_store_id is None:
        member.home_store_id = touchpoint.store_id
    session.flush()
    record_event(
        session,
        brand_id,
        events.MemberAcquisitionAttributed(member_id=member_id, source_touchpoint_id=touchpoint_id),
    )
    return touchpoint_id
