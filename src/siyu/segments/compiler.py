"""Compiling a segment rule (siyu.segments.rules) into one SQL statement over ``member``.

``members_matching`` gives ``SELECT id`` of the brand's active members in the owner's scope
that match the rule, in one statement: profile conditions are predicates on member columns,
everything else a semi-join (``EXISTS``):

- tags: ``EXISTS`` on member_tag, the tag id looked up by code once (an InitPlan);
- purchases: ``EXISTS`` on paid online order lines (through ``consumer.member_id``) or offline
  (POS) order lines; categories include their subcategories (a recursive CTE);
- windowed counts and sums (at least n events, orders or spend in the last N days) in one of
  two strategies (``Strategy``): ``aggregate`` groups the whole window once (``GROUP BY
  member_id HAVING ...``) and hash-joins it, a cost that follows the window's size; ``probe``
  first narrows the members with the rule's member-local conjuncts (tier, tags, stage, store,
  ...; in a subquery the planner keeps apart, ``OFFSET 0``) and then counts each candidate's own
  rows through its index (``EXISTS (... OFFSET n-1)`` reads no further than the n-th event),
  a cost that follows the number of candidates. siyu.segments.membership picks one from the
  planner's estimates. A single event (``at_least`` 1) is a plain ``EXISTS`` either way.

Every predicate is two-valued (a NULL column makes it false, never unknown), so ``not``
means exactly "the other members". Relative windows are computed from ``now``, passed by the
caller, so an evaluation is repeatable.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    exists,
    extract,
    func,
    literal,
    not_,
    or_,
    select,
    true,
    union_all,
)

from siyu.access.rules import Actor
from siyu.catalog.models import Category, Product
from siyu.consumers.models import Consumer
from siyu.core.clock import SHANGHAI
from siyu.members.models import Member
from siyu.members.service import member_scope
from siyu.offline.models import OfflineOrder, OfflineOrderLine
from siyu.orders.models import Order, OrderLine
from siyu.org.models import Store
from siyu.segments import conditions, rules
from siyu.segments.models import MemberTag, Tag
from siyu.touchpoints.models import Touchpoint
from siyu.tracking.models import TrackingEvent

member = Member.__table__
member_tag = MemberTag.__table__
tag = Tag.__table__
consumer = Consumer.__table__
sales_order = Order.__table__
sales_order_line = OrderLine.__table__

tracking_event = TrackingEvent.__table__
offline_order = OfflineOrder.__table__
offline_order_line = OfflineOrderLine.__table__

PAID_STATUSES = ("paid", "partially_refunded")
KNOWN_GENDERS = ("male", "female")


class Strategy(StrEnum):
    """How windowed counts are evaluated: ``aggregate`` groups the whole window once and
    hash-joins it; ``probe`` counts per candidate member through the member's index, after the
    member-local conditions have narrowed the candidates."""

    AGGREGATE = "aggregate"
    PROBE = "probe"


@dataclass
class _Context:
    brand_id: int
    now: datetime
    strategy: Strategy = Strategy.AGGREGATE
    # The member id the conditions are about: member.id, or a candidate's id (probe plans).
    subject: Any = None
    names: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        if self.subject is None:
            self.subject = member.c.id

    def since(self, days: int) -> datetime:
        return self.now - timedelta(days=days)


def member_condition(
    node: rules.Node,
    *,
    brand_id: int,
    now: datetime,
    strategy: Strategy = Strategy.AGGREGATE,
) -> ColumnElement[bool]:
    """The rule as a two-valued condition on ``member`` (brand and scope not included)."""
    return _compile(node, _Context(brand_id, now, strategy))


def _in_scope(brand_id: int, scope: Actor) -> list[ColumnElement[bool]]:
    return [member.c.brand_id == brand_id, member.c.status == "active", member_scope(scope)]


def members_matching(
    node: rules.Node,
    *,
    brand_id: int,
    now: datetime,
    scope: Actor,
    strategy: Strategy = Strategy.AGGREGATE,
) -> Select[int]:
    """``SELECT`` the ids of the brand's active members in ``scope`` matching the rule.

    With the probe strategy and a rule that is a conjunction of member-local conditions and
    others, the member-local ones are evaluated first in a subquery the planner may not
    flatten (``OFFSET 0``), and the others probe only those candidates."""
    parts = rules.conjuncts(node)
    local = [p for p in parts if rules.is_member_local(p)]
    other = [p for p in parts if not rules.is_member_local(p)]
    if strategy is Strategy.PROBE and local and other:
        first = _Context(brand_id, now)
        candidates = (
            select(member.c.id.label("id"))
            .where(*_in_scope(brand_id, scope), *(_compile(p, first) for p in local))
            .offset(0)
            .subquery("candidates")
        )
        ctx = _Context(brand_id, now, strategy, subject=candidates.c.id, names=first.names)
        return select(candidates.c.id).where(*(_compile(p, ctx) for p in other))
    return select(member.c.id).where(
        *_in_scope(brand_id, scope),
        member_condition(node, brand_id=brand_id, now=now, strategy=strategy),
    )


def candidates_of(
    node: rules.Node, *, brand_id: int, now: datetime, scope: Actor
) -> Select[int] | None:
    """The members the rule's member-local conjuncts select (what a probe plan would probe),
    or None when the rule has no such conjunct or nothing else."""
    parts = rules.conjuncts(node)
    local = [p for p in parts if rules.is_member_local(p)]
    if not local or len(local) == len(parts):
        return None
    ctx = _Context(brand_id, now)
    return select(member.c.id).where(
        *_in_scope(brand_id, scope), *(_compile(p, ctx) for p in local)
    )


def windows_of(node: rules.Node, *, brand_id: int, now: datetime) -> list[Select[Any]]:
    """The rows every windowed count of the rule would aggregate (what an aggregate plan
    scans), for estimating the two strategies."""
    ctx = _Context(brand_id, now)
    windows: list[Select[Any]] = []
    for condition in rules.conditions_of(node):
        if isinstance(condition, conditions.Events) and condition.at_least > 1:
            windows.append(select(tracking_event.c.member_id).where(*_event_window(condition, ctx)))
        elif (
            isinstance(condition, conditions.Spend | conditions.OrderCount)
            and condition.within_days
        ):
            windows.append(select(_purchases_in_window(ctx, condition.within_days)))
    return windows


def _compile(node: rules.Node, ctx: _Context) -> ColumnElement[bool]:
    if isinstance(node, rules.AllOf):
        return and_(*(_compile(c, ctx) for c in node.children))
    if isinstance(node, rules.AnyOf):
        return or_(*(_compile(c, ctx) for c in node.children))
    if isinstance(node, rules.NotOf):
        return not_(_compile(node.child, ctx))
    compiled: ColumnElement[bool] = _CONDITIONS[type(node)](node, ctx)
    return compiled


# ---------------------------------------------------------------- profile


def _in(column_: Any, values: list[Any]) -> ColumnElement[bool]:
    """``column IN values``, false (not unknown) when the column is NULL."""
    return and_(column_.is_not(None), column_.in_(values))


def _gender(c: conditions.GenderIs, ctx: _Context) -> ColumnElement[bool]:
    known = [v for v in c.values if v in KNOWN_GENDERS]
    parts = [_in(member.c.gender, known)] if known else []
    if "unknown" in c.values:
        parts.append(or_(member.c.gender.is_(None), member.c.gender.not_in(KNOWN_GENDERS)))
    return or_(*parts)


def _birthday_month(c: conditions.BirthdayMonthIs, ctx: _Context) -> ColumnElement[bool]:
    return _in(extract("month", member.c.birthday), list(c.values))


def _shanghai_midnight(day: Any) -> datetime:
    return datetime.combine(day, time(0), SHANGHAI)


def _joined_at(c: conditions.JoinedAt, ctx: _Context) -> ColumnElement[bool]:
    joined = member.c.joined_at
    if c.present is False:
        return joined.is_(None)
    parts: list[ColumnElement[bool]] = [joined.is_not(None)]
    if c.within_days is not None:
        parts.append(joined >= ctx.since(c.within_days))
    if c.after is not None:
        parts.append(joined >= _shanghai_midnight(c.after))
    if c.before is not None:
        parts.append(joined < _shanghai_midnight(c.before))
    return and_(*parts)


def _display_name(c: conditions.DisplayNamePresent, ctx: _Context) -> ColumnElement[bool]:
    present = and_(member.c.display_name.is_not(None), func.btrim(member.c.display_name) != "")
    return present if c.present else not_(present)


def _phone(c: conditions.PhonePresent, ctx: _Context) -> ColumnElement[bool]:
    return member.c.phone.is_not(None) if c.present else member.c.phone.is_(None)


def _tier(c: conditions.TierIs, ctx: _Context) -> ColumnElement[bool]:
    codes = [v for v in c.values if v is not None]
    parts = [_in(member.c.tier_code, codes)] if codes else []
    if None in c.values:
        parts.append(member.c.tier_code.is_(None))
    return or_(*parts)


def _tag(c: conditions.HasTag, ctx: _Context) -> ColumnElement[bool]:
    tag_id = (
        select(tag.c.id).where(tag.c.brand_id == ctx.brand_id, tag.c.code == c.code)
    ).scalar_subquery()
    tagged = exists().where(
        member_tag.c.brand_id == ctx.brand_id,
        member_tag.c.tag_id == tag_id,
        member_tag.c.member_id == ctx.subject,
    )
    return tagged if c.has is not None else not_(tagged)


def _lifecycle(c: conditions.LifecycleStageIs, ctx: _Context) -> ColumnElement[bool]:
    return member.c.lifecycle_stage.in_(list(c.values))


def _source_touchpoint(c: conditions.SourceTouchpointIs, ctx: _Context) -> ColumnElement[bool]:
    return _in(member.c.source_touchpoint_id, list(c.values))


def _source_touchpoint_kind(
    c: conditions.SourceTouchpointKindIs, ctx: _Context
) -> ColumnElement[bool]:
    touchpoints = select(Touchpoint.id).where(
        Touchpoint.brand_id == ctx.brand_id, Touchpoint.kind.in_(list(c.values))
    )
    return and_(
        member.c.source_touchpoint_id.is_not(None),
        member.c.source_touchpoint_id.in_(touchpoints),
    )


def _source_store(c: conditions.SourceStoreIs, ctx: _Context) -> ColumnElement[bool]:
    return _in(member.c.source_store_id, list(c.values))


def _home_store(c: conditions.HomeStoreIs, ctx: _Context) -> ColumnElement[bool]:
    return _in(member.c.home_store_id, list(c.values))


def _region(c: conditions.RegionIs, ctx: _Context) -> ColumnElement[bool]:
    stores = select(Store.id).where(
        Store.brand_id == ctx.brand_id, Store.region_id.in_(list(c.values))
    )
    return and_(member.c.home_store_id.is_not(None), member.c.home_store_id.in_(stores))


# ---------------------------------------------------------------- purchases


def _products_of(c: conditions.Bought, ctx: _Context) -> Any:
    """The product id, or the ids of the category's products (subcategories included)."""
    if c.product is not None:
        return [c.product]
    tree = (
        select(Category.id)
        .where(Category.brand_id == ctx.brand_id, Category.id == c.category)
        .cte(f"category_tree_{next(ctx.names)}", recursive=True)
    )
    tree = tree.union_all(
        select(Category.id).where(
            Category.brand_id == ctx.brand_id, Category.parent_id == tree.c.id
        )
    )
    return select(Product.id).where(
        Product.brand_id == ctx.brand_id, Product.category_id.in_(select(tree.c.id))
    )


def _online_orders(ctx: _Context, within_days: int | None) -> list[ColumnElement[bool]]:
    """Join conditions and filters of the member's paid online orders (in the window)."""
    conditions = [
        consumer.c.brand_id == ctx.brand_id,
        sales_order.c.brand_id == ctx.brand_id,
        sales_order.c.consumer_id == consumer.c.id,
        sales_order.c.payment_status.in_(PAID_STATUSES),
    ]
    if within_days is not None:
        conditions.append(sales_order.c.paid_at >= ctx.since(within_days))
    return conditions


def _offline_orders(ctx: _Context, within_days: int | None) -> list[ColumnElement[bool]]:
    conditions = [
        offline_order.c.brand_id == ctx.brand_id,
        offline_order.c.refunded_fen < offline_order.c.total_fen,
    ]
    if within_days is not None:
        conditions.append(offline_order.c.placed_at >= ctx.since(within_days))
    return conditions


def _bought(c: conditions.Bought, ctx: _Context) -> ColumnElement[bool]:
    products = _products_of(c, ctx)
    online = exists().where(
        *_online_orders(ctx, c.within_days),
        consumer.c.member_id == ctx.subject,
        sales_order_line.c.brand_id == ctx.brand_id,
        sales_order_line.c.order_id == sales_order.c.id,
        sales_order_line.c.refunded_quantity < sales_order_line.c.quantity,
        sales_order_line.c.product_id.in_(products),
    )
    offline = exists().where(
        *_offline_orders(ctx, c.within_days),
        offline_order.c.member_id == ctx.subject,
        offline_order_line.c.brand_id == ctx.brand_id,
        offline_order_line.c.offline_order_id == offline_order.c.id,
        offline_order_line.c.quantity > 0,
        offline_order_line.c.product_id.in_(products),
    )
    return or_(online, offline)


def _purchases_in_window(ctx: _Context, within_days: int) -> Any:
    """(member_id, amount_fen) of every counted order in the window, online and offline."""
    online = select(
        consumer.c.member_id.label("member_id"),
        (sales_order.c.paid_fen - sales_order.c.refunded_fen).label("amount_fen"),
    ).where(*_online_orders(ctx, within_days), consumer.c.member_id.is_not(None))
    offline = select(
        offline_order.c.member_id.label("member_id"),
        (offline_order.c.total_fen - offline_order.c.refunded_fen).label("amount_fen"),
    ).where(*_offline_orders(ctx, within_days), offline_order.c.member_id.is_not(None))
    return union_all(online, offline).subquery(f"purchases_{next(ctx.names)}")


def _window_bounds(
    ctx: _Context,
    within_days: int,
    total_of: Any,
    low: int | None,
    high: int | None,
) -> ColumnElement[bool]:
    """Members whose windowed total (``total_of`` the amounts) lies within [low, high]; a
    member with no purchase in the window counts 0 (so a lower bound of 0 is no bound)."""
    if ctx.strategy is Strategy.PROBE:
        return _probed_bounds(ctx, within_days, total_of, low, high)
    purchases = _purchases_in_window(ctx, within_days)
    aggregate = total_of(purchases.c.amount_fen)

    def having(condition: Any) -> ColumnElement[bool]:
        grouped = (
            select(purchases.c.member_id)
            .group_by(purchases.c.member_id)
            .having(condition)
            .subquery(f"window_{next(ctx.names)}")
        )
        return exists().where(grouped.c.member_id == ctx.subject)

    if low is not None and low > 0:
        bounded = aggregate >= low if high is None else and_(aggregate >= low, aggregate <= high)
        return having(bounded)
    if high is None:
        return true()
    return not_(having(aggregate > high))


def _probed_bounds(
    ctx: _Context, within_days: int, total_of: Any, low: int | None, high: int | None
) -> ColumnElement[bool]:
    """[low, high] bounds on the member's own windowed total, online plus offline (two
    correlated subqueries read through the members' order indexes)."""
    online = select(
        func.coalesce(total_of(sales_order.c.paid_fen - sales_order.c.refunded_fen), 0)
    ).where(*_online_orders(ctx, within_days), consumer.c.member_id == ctx.subject)
    offline = select(
        func.coalesce(total_of(offline_order.c.total_fen - offline_order.c.refunded_fen), 0)
    ).where(*_offline_orders(ctx, within_days), offline_order.c.member_id == ctx.subject)
    total = online.scalar_subquery() + offline.scalar_subquery()
    parts: list[ColumnElement[bool]] = []
    if low is not None and low > 0:
        parts.append(total >= low)
    if high is not None:
        parts.append(total <= high)
    return and_(true(), *parts)


def _lifetime_bounds(total: Any, low: int | None, high: int | None) -> ColumnElement[bool]:
    """[low, high] bounds on a lifetime summary column of the member row."""
    parts = []
    if low is not None:
        parts.append(total >= low)
    if high is not None:
        parts.append(total <= high)
    return and_(*parts)


def _spend(c: conditions.Spend, ctx: _Context) -> ColumnElement[bool]:
    if c.within_days is None:
        return _lifetime_bounds(member.c.total_spent_fen, c.at_least_fen, c.at_most_fen)
    return _window_bounds(ctx, c.within_days, func.sum, c.at_least_fen, c.at_most_fen)


def _orders(c: conditions.OrderCount, ctx: _Context) -> ColumnElement[bool]:
    if c.within_days is None:
        return _lifetime_bounds(member.c.order_count, c.at_least, c.at_most)
    return _window_bounds(ctx, c.within_days, lambda _: func.count(), c.at_least, c.at_most)


def _last_order(c: conditions.LastOrder, ctx: _Context) -> ColumnElement[bool]:
    last = member.c.last_order_at
    parts: list[ColumnElement[bool]] = [last.is_not(None)]
    if c.within_days is not None:
        parts.append(last >= ctx.since(c.within_days))
    if c.more_than_days_ago is not None:
        parts.append(last < ctx.since(c.more_than_days_ago))
    return and_(*parts)


# ---------------------------------------------------------------- events


def _event_window(c: conditions.Events, ctx: _Context) -> list[ColumnElement[bool]]:
    event = tracking_event.c
    window = [
        event.brand_id == ctx.brand_id,
        event.kind == c.kind,
        event.occurred_at >= ctx.since(c.within_days),
    ]
    if c.name is not None:
        window.append(event.name == c.name)
    return window


def _events(c: conditions.Events, ctx: _Context) -> ColumnElement[bool]:
    event = tracking_event.c
    window = _event_window(c, ctx)
    if c.at_least == 1:
        return exists().where(*window, event.member_id == ctx.subject)
    if ctx.strategy is Strategy.PROBE:
        # the n-th event exists: the member's index is read no further than that
        nth = (
            select(literal(1))
            .where(*window, event.member_id == ctx.subject)
            .offset(c.at_least - 1)
            .limit(1)
        )
        return exists(nth)
    counted = (
        select(event.member_id)
        .where(*window, event.member_id.is_not(None))
        .group_by(event.member_id)
        .having(func.count() >= literal(c.at_least))
        .subquery(f"events_{next(ctx.names)}")
    )
    return exists().where(counted.c.member_id == ctx.subject)


_CONDITIONS: dict[type[conditions.Condition], Any] = {
    conditions.GenderIs: _gender,
    conditions.BirthdayMonthIs: _birthday_month,
    conditions.JoinedAt: _joined_at,
    conditions.DisplayNamePresent: _display_name,
    conditions.PhonePresent: _phone,
    conditions.TierIs: _tier,
    conditions.HasTag: _tag,
    conditions.LifecycleStageIs: _lifecycle,
    conditions.SourceTouchpointIs: _source_touchpoint,
    conditions.SourceTouchpointKindIs: _source_touchpoint_kind,
    conditions.SourceStoreIs: _source_store,
    conditions.HomeStoreIs: _home_store,
    conditions.RegionIs: _region,
    conditions.Bought: _bought,
    conditions.Spend: _spend,
    conditions.OrderCount: _orders,
    conditions.LastOrder: _last_order,
    conditions.Events: _events,
}
