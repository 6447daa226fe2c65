"""Pure rules of members: lifecycle stages, what a merge keeps, and how identifiers are shown.

No I/O: the services load the facts (a member's purchase summary, the brand's thresholds) and
ask these functions. Tested without the database.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import date, datetime, timedelta
from enum import StrEnum

from siyu.core.masking import mask_phone


class LifecycleStage(StrEnum):
    PROSPECT = "prospect"
    NEW = "new"
    FIRST_PURCHASE = "first_purchase"
    REPEAT = "repeat"
    LOYAL = "loyal"
    DORMANT = "dormant"
    CHURNED = "churned"


STAGE_LABELS: dict[LifecycleStage, str] = {
    LifecycleStage.PROSPECT: "Prospect 潜客",
    LifecycleStage.NEW: "New member 新会员",
    LifecycleStage.FIRST_PURCHASE: "First purchase 首购",
    LifecycleStage.REPEAT: "Repeat 复购",
    LifecycleStage.LOYAL: "Loyal 忠诚",
    LifecycleStage.DORMANT: "Dormant 沉睡",
    LifecycleStage.CHURNED: "Churned 流失",
}


@dataclass(frozen=True)
class LifecyclePolicy:
    """A brand's thresholds. Orders count net of fully refunded ones; idleness is measured
    from the last order."""

    repeat_min_orders: int = 2
    loyal_min_orders: int = 5
    loyal_min_spent_fen: int = 200_000
    dormant_after_days: int = 90
    churned_after_days: int = 180


DEFAULT_POLICY = LifecyclePolicy()
POLICY_FIELDS = tuple(f.name for f in fields(LifecyclePolicy))


def policy_problems(policy: LifecyclePolicy) -> list[tuple[str, str]]:
    """(field, reason) for every threshold that makes the stages inconsistent; empty if sound."""
    problems: list[tuple[str, str]] = []
    if policy.repeat_min_orders < 2:
        problems.append(("repeat_min_orders", "a repeat customer has at least 2 orders"))
    if policy.loyal_min_orders < policy.repeat_min_orders:
        problems.append(("loyal_min_orders", "loyal needs at least as many orders as repeat"))
    if policy.loyal_min_spent_fen < 0:
        problems.append(("loyal_min_spent_fen", "spend cannot be negative"))
    if policy.dormant_after_days < 1:
        problems.append(("dormant_after_days", "a member goes dormant after at least 1 day"))
    if policy.churned_after_days <= policy.dormant_after_days:
        problems.append(("churned_after_days", "churned must come after dormant"))
    return problems


def lifecycle_stage(
    *,
    joined: bool,
    order_count: int,
    total_spent_fen: int,
    last_order_at: datetime | None,
    now: datetime,
    policy: LifecyclePolicy = DEFAULT_POLICY,
) -> LifecycleStage:
    """The stage a member is in.

    Without a (non-refunded) order: ``new`` once joined, else ``prospect``. With orders, a
    member who has not ordered for ``churned_after_days`` is ``churned``, for
    ``dormant_after_days`` ``dormant``; otherwise ``loyal`` (enough orders *and* spend),
    ``repeat`` (enough orders) or ``first_purchase``. Buying makes the stage whatever the
    orders say, so a purchase wakes a dormant or churned member. Buying without joining still
    counts as buying: ``joined_at`` says whether the person is a member, the stage how they buy.
    """
    if order_count <= 0 or last_order_at is None:
        return LifecycleStage.NEW if joined else LifecycleStage.PROSPECT
    idle = now - last_order_at
    if idle >= timedelta(days=policy.churned_after_days):
        return LifecycleStage.CHURNED
    if idle >= timedelta(days=policy.dormant_after_days):
        return LifecycleStage.DORMANT
    if order_count >= policy.loyal_min_orders and total_spent_fen >= policy.loyal_min_spent_fen:
        return LifecycleStage.LOYAL
    if order_count >= policy.repeat_min_orders:
        return LifecycleStage.REPEAT
    return LifecycleStage.FIRST_PURCHASE


# ---------------------------------------------------------------- merging


@dataclass(frozen=True)
class Profile:
    """What a merge combines of two members' rows."""

    phone: str | None = None
    display_name: str | None = None
    gender: str | None = None
    birthday: date | None = None
    joined_at: datetime | None = None
    join_channel: str | None = None
    source_touchpoint_id: int | None = None
    source_store_id: int | None = None
    source_guide_staff_id: int | None = None
    home_store_id: int | None = None
    order_count: int = 0
    total_spent_fen: int = 0
    first_order_at: datetime | None = None
    last_order_at: datetime | None = None
    last_visit_at: datetime | None = None
    tier_code: str | None = None
    growth_value: int = 0
    points_balance: int = 0

    @property
    def has_source(self) -> bool:
        return any(
            value is not None
            for value in (
                self.source_touchpoint_id,
                self.source_store_id,
                self.source_guide_staff_id,
            )
        )


PROFILE_FIELDS = tuple(f.name for f in fields(Profile))


def phones_conflict(first: str | None, second: str | None) -> bool:
    """Two members with two different phone numbers are two people: never merged."""
    return first is not None and second is not None and first != second


def _earliest(first: datetime | None, second: datetime | None) -> datetime | None:
    present = [moment for moment in (first, second) if moment is not None]
    return min(present) if present else None


def _latest(first: datetime | None, second: datetime | None) -> datetime | None:
    present = [moment for moment in (first, second) if moment is not None]
    return max(present) if present else None


def merged_profile(survivor: Profile, merged: Profile) -> Profile:
    """The survivor's profile after ``merged`` is folded into it.

    Counters (orders, spend, growth, points) add up; first order is the earliest, last order
    and last visit the latest. The earliest joining wins together with its acquisition
    (channel, touchpoint, store, guide); a survivor that never joined and has no source takes
    the other's source. Everything else is the survivor's, or the other's where the survivor
    has nothing (phone included: callers refuse merges with two different phones).
    """
    take_acquisition = (
        merged.joined_at is not None
        and (survivor.joined_at is None or merged.joined_at < survivor.joined_at)
    ) or (
        survivor.joined_at is None
        and merged.joined_at is None
        and not survivor.has_source
        and merged.has_source
    )
    acquisition = merged if take_acquisition else survivor
    return replace(
        survivor,
        phone=survivor.phone or merged.phone,
        display_name=survivor.display_name or merged.display_name,
        gender=survivor.gender or merged.gender,
        birthday=survivor.birthday or merged.birthday,
        joined_at=acquisition.joined_at,
        join_channel=acquisition.join_channel,
        source_touchpoint_id=acquisition.source_touchpoint_id,
        source_store_id=acquisition.source_store_id,
        source_guide_staff_id=acquisition.source_guide_staff_id,
        home_store_id=survivor.home_store_id or merged.home_store_id,
        order_count=survivor.order_count + merged.order_count,
        total_spent_fen=survivor.total_spent_fen + merged.total_spent_fen,
        first_order_at=_earliest(survivor.first_order_at, merged.first_order_at),
        last_order_at=_latest(survivor.last_order_at, merged.last_order_at),
        last_visit_at=_latest(survivor.last_visit_at, merged.last_visit_at),
        tier_code=survivor.tier_code or merged.tier_code,
        growth_value=survivor.growth_value + merged.growth_value,
        points_balance=survivor.points_balance + merged.points_balance,
    )


def oldest(member_ids: set[int]) -> int:
    """Which of several members sharing identifiers survives: the oldest (ids only grow)."""
    return min(member_ids)


# ---------------------------------------------------------------- showing identifiers


def mask_identifier(kind: str, value: str) -> str:
    """An identifier as staff see it: phones as 138****1234, others keep 3 characters at each
    end (``oAb…xyz``), short ones nothing at all."""
    if kind == "phone":
        return mask_phone(value) or ""
    if len(value) <= 8:
        return "*" * len(value)
    return f"{value[:3]}…{value[-3:]}"
