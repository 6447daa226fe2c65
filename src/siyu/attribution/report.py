"""The touchpoint report: scans, visitors, new members, orders, GMV, cost and ROI per touchpoint,
kind, store or period (day, week, month in Asia/Shanghai).

Figures of a period ``[period_start, period_end)`` (Asia/Shanghai dates):

- scans: tracking events of kind ``scan`` that occurred in the period;
- visitors: distinct visitors (the member, else the anonymous id, else the consumer) with a
  ``visit`` event in the period;
- new members: active members who joined in the period, by ``member.source_touchpoint_id``;
- orders, credited orders and GMV: the credits (``order_touchpoint_credit``) of orders paid in
  the period: GMV is the credited amount net of refunds; ``orders`` counts the orders a group
  has any share of (so under a multi-touch model the groups add up to more than the orders),
  ``credited_orders`` sums the shares (permille / 1000); fully refunded orders count in neither;
- cost: the touchpoints' ``cost_fen`` (summed for a kind or a store; none for period rows, a
  cost is not spread over time); ROI ``(GMV - cost) / cost``, none without a cost.

Facts naming no touchpoint (an unknown scene key, a visit without a touchpoint, a member from
an unknown source, unattributed order credit) form the row with ``attributed`` false.

Scope follows touchpoints (``siyu.touchpoints.service.touchpoint_scope``): a touchpoint's facts
are shown to whoever sees the touchpoint; facts without one to whoever sees the store they
happened at (the event's store, the member's home store, the order's selling store). Reads
only; needs ``report:read``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Date,
    Select,
    Text,
    and_,
    case,
    cast,
    distinct,
    func,
    literal_column,
    or_,
    select,
    true,
    tuple_,
)
from sqlalchemy.orm import Session

from siyu.access.rules import Actor, Permission, ScopeKind
from siyu.attribution.errors import InvalidReportPeriod
from siyu.attribution.models import OrderTouchpointCredit
from siyu.attribution.schemas import (
    PERIOD_GROUPINGS,
    ReportGrouping,
    TouchpointReport,
    TouchpointReportRow,
)
from siyu.attribution.service import brand_settings
from siyu.attribution.sources import SCAN, VISIT, tracking_event
from siyu.core.clock import SHANGHAI, utc_now
from siyu.members.models import Member
from siyu.orders.models import Order
from siyu.org.errors import StoreNotFound
from siyu.org.models import Store
from siyu.org.service import store_scope
from siyu.settlement.rules import shanghai_midnight
from siyu.touchpoints.errors import TouchpointNotFound
from siyu.touchpoints.models import Touchpoint, TouchpointKind
from siyu.touchpoints.rules import BUILT_IN_BY_CODE
from siyu.touchpoints.service import touchpoint_scope

MAX_PERIOD_DAYS = 366
DEFAULT_PERIOD_DAYS = 30
UNKNOWN_LABEL = "Unknown source 未知来源"
NO_STORE_LABEL = "No store (region or campaign) 无门店"


@dataclass(frozen=True)
class ReportQuery:
    period_start: date
    period_end: date
    group_by: ReportGrouping = ReportGrouping.TOUCHPOINT
    store_id: int | None = None
    kind: str | None = None
    touchpoint_id: int | None = None
    limit: int = 200
    offset: int = 0


def default_period(today: date | None = None) -> tuple[date, date]:
    """The last 30 days up to today included (Asia/Shanghai)."""
    today = today or utc_now().astimezone(SHANGHAI).date()
    return today - timedelta(days=DEFAULT_PERIOD_DAYS - 1), today + timedelta(days=1)


@dataclass
class _Figures:
    scans: int = 0
    visitors: int = 0
    new_members: int = 0
    orders: int = 0
    credited_permille: int = 0
    gmv_fen: int = 0


class _Grouping:
    """The group key and the scope/filter conditions of one kind of fact."""

    def __init__(self, actor: Actor, query: ReportQuery) -> None:
        self.actor = actor
        self.query = query
        self.start = shanghai_midnight(query.period_start)
        self.end = shanghai_midnight(query.period_end)
        self.visible_stores = select(Store.id).where(store_scope(actor))

    def key(self, at: Any) -> Any:
        match self.query.group_by:
            case ReportGrouping.TOUCHPOINT:
                return Touchpoint.id
            case ReportGrouping.KIND:
                return Touchpoint.kind
            case ReportGrouping.STORE:
                return Touchpoint.store_id
        unit: ColumnElement[str] = literal_column(f"'{self.query.group_by.value}'")
        local = func.timezone(literal_column("'Asia/Shanghai'"), at)
        return cast(func.date_trunc(unit, local), Date)

    def conditions(self, fact_store: Any) -> list[ColumnElement[bool]]:
        known = Touchpoint.id.is_not(None)
        unknown_visible: ColumnElement[bool] = (
            true() if self.actor.scope is ScopeKind.BRAND else fact_store.in_(self.visible_stores)
        )
        conditions = [or_(and_(known, touchpoint_scope(self.actor)), and_(~known, unknown_visible))]
        query = self.query
        if query.touchpoint_id is not None:
            conditions.append(Touchpoint.id == query.touchpoint_id)
        if query.kind is not None:
            conditions.append(Touchpoint.kind == query.kind)
        if query.store_id is not None:
            conditions.append(
                or_(
                    Touchpoint.store_id == query.store_id,
                    and_(~known, fact_store == query.store_id),
                )
            )
        return conditions

    def grouped(
        self,
        figures: Sequence[Any],
        *,
        source: Any,
        touchpoint_column: Any,
        at: Any,
        fact_store: Any,
        where: Sequence[ColumnElement[bool]],
        joins: Sequence[tuple[Any, ColumnElement[bool]]] = (),
    ) -> Select[Any]:
        key = self.key(at)
        attributed = Touchpoint.id.is_not(None)
        statement = select(
            key.label("key"),
            attributed.label("attributed"),
            func.grouping(key, attributed).label("is_total"),
            *figures,
        ).select_from(source)
        for target, on in joins:
            statement = statement.join(target, on)
        brand_id = self.actor.brand_id
        statement = statement.outerjoin(
            Touchpoint, (Touchpoint.brand_id == brand_id) & (Touchpoint.id == touchpoint_column)
        )
        return statement.where(
            *where, at >= self.start, at < self.end, *self.conditions(fact_store)
        ).group_by(func.grouping_sets(tuple_(key, attributed), tuple_()))


def _check_query(session: Session, actor: Actor, query: ReportQuery) -> None:
    if query.period_end <= query.period_start:
        raise InvalidReportPeriod("The period must end after it starts.", field="period_end")
    if (query.period_end - query.period_start).days > MAX_PERIOD_DAYS:
        raise InvalidReportPeriod(
            f"A report covers at most {MAX_PERIOD_DAYS} days.", field="period_end"
        )
    if query.store_id is not None:
        visible = session.scalar(
            select(Store.id).where(store_scope(actor), Store.id == query.store_id)
        )
        if visible is None:
            raise StoreNotFound(f"Store {query.store_id} was not found.", field="store_id")
    if query.touchpoint_id is not None:
        visible = session.scalar(
            select(Touchpoint.id).where(
                touchpoint_scope(actor), Touchpoint.id == query.touchpoint_id
            )
        )
        if visible is None:
            raise TouchpointNotFound(
                f"Touchpoint {query.touchpoint_id} was not found.", field="touchpoint_id"
            )


def _collect(
    session: Session,
    statement: Select[Any],
    figures: dict[tuple[bool, Any], _Figures],
    totals: _Figures,
) -> None:
    """Add the statement's figures to their groups, and its total row's to ``totals``."""
    for row in session.execute(statement).mappings():
        values = {k: v for k, v in row.items() if k not in {"key", "attributed", "is_total"}}
        target = (
            totals
            if row["is_total"]
            else figures.setdefault((bool(row["attributed"]), row["key"]), _Figures())
        )
        for name, value in values.items():
            setattr(target, name, getattr(target, name) + int(value or 0))


def _roi(gmv_fen: int, cost_fen: int | None) -> float | None:
    if not cost_fen:
        return None
    return round((gmv_fen - cost_fen) / cost_fen, 4)


def _kind_labels(session: Session, brand_id: int) -> dict[str, str]:
    labels = {code: kind.label for code, kind in BUILT_IN_BY_CODE.items()}
    for code, name in session.execute(
        select(TouchpointKind.code, TouchpointKind.name).where(TouchpointKind.brand_id == brand_id)
    ):
        labels[code] = name
    return labels


def touchpoint_report(session: Session, actor: Actor, query: ReportQuery) -> TouchpointReport:
    """The report (see the module doc). Raises PermissionDenied, InvalidReportPeriod,
    StoreNotFound / TouchpointNotFound (a filter outside the actor's scope)."""
    actor.require(Permission.REPORT_READ)
    _check_query(session, actor, query)
    grouping = _Grouping(actor, query)
    brand_id = actor.brand_id
    figures: dict[tuple[bool, Any], _Figures] = {}
    totals = _Figures()

    visitor = func.coalesce(
        "m" + cast(tracking_event.c.member_id, Text),
        "a" + tracking_event.c.anonymous_id,
        "c" + cast(tracking_event.c.consumer_id, Text),
    )
    events = grouping.grouped(
        [
            func.count().filter(tracking_event.c.kind == SCAN).label("scans"),
            func.count(distinct(visitor)).filter(tracking_event.c.kind == VISIT).label("visitors"),
        ],
        source=tracking_event,
        touchpoint_column=tracking_event.c.touchpoint_id,
        at=tracking_event.c.occurred_at,
        fact_store=tracking_event.c.store_id,
        where=[tracking_event.c.brand_id == brand_id, tracking_event.c.kind.in_((SCAN, VISIT))],
    )
    _collect(session, events, figures, totals)

    members = grouping.grouped(
        [func.count().label("new_members")],
        source=Member,
        touchpoint_column=Member.source_touchpoint_id,
        at=Member.joined_at,
        fact_store=Member.home_store_id,
        where=[Member.brand_id == brand_id, Member.status == "active"],
    )
    _collect(session, members, figures, totals)

    counted = and_(OrderTouchpointCredit.credit_permille > 0, Order.payment_status != "refunded")
    credits = grouping.grouped(
        [
            func.count(distinct(OrderTouchpointCredit.order_id)).filter(counted).label("orders"),
            func.coalesce(
                func.sum(
                    case(
                        (Order.payment_status != "refunded", OrderTouchpointCredit.credit_permille),
                        else_=0,
                    )
                ),
                0,
            ).label("credited_permille"),
            func.coalesce(func.sum(OrderTouchpointCredit.credited_fen), 0).label("gmv_fen"),
        ],
        source=OrderTouchpointCredit,
        touchpoint_column=OrderTouchpointCredit.touchpoint_id,
        at=OrderTouchpointCredit.paid_at,
        fact_store=Order.selling_store_id,
        where=[OrderTouchpointCredit.brand_id == brand_id],
        joins=[
            (
                Order,
                (Order.brand_id == OrderTouchpointCredit.brand_id)
                & (Order.id == OrderTouchpointCredit.order_id),
            )
        ],
    )
    _collect(session, credits, figures, totals)

    return _assemble(session, actor, query, figures, totals)


def _visible_touchpoints(session: Session, actor: Actor, query: ReportQuery) -> list[Touchpoint]:
    conditions = [touchpoint_scope(actor)]
    if query.touchpoint_id is not None:
        conditions.append(Touchpoint.id == query.touchpoint_id)
    if query.kind is not None:
        conditions.append(Touchpoint.kind == query.kind)
    if query.store_id is not None:
        conditions.append(Touchpoint.store_id == query.store_id)
    return list(session.scalars(select(Touchpoint).where(*conditions).order_by(Touchpoint.code)))


def _assemble(
    session: Session,
    actor: Actor,
    query: ReportQuery,
    figures: dict[tuple[bool, Any], _Figures],
    totals: _Figures,
) -> TouchpointReport:
    touchpoints = _visible_touchpoints(session, actor, query)
    by_id = {touchpoint.id: touchpoint for touchpoint in touchpoints}
    periodic = query.group_by in PERIOD_GROUPINGS
    costs: dict[Any, int | None] = {}
    if not periodic:
        for touchpoint in touchpoints:
            key = {
                ReportGrouping.TOUCHPOINT: touchpoint.id,
                ReportGrouping.KIND: touchpoint.kind,
                ReportGrouping.STORE: touchpoint.store_id,
            }[query.group_by]
            figures.setdefault((True, key), _Figures())
            if touchpoint.cost_fen is not None:
                costs[key] = (costs.get(key) or 0) + touchpoint.cost_fen
            else:
                costs.setdefault(key, None)
        if query.touchpoint_id is None and query.kind is None:
            figures.setdefault((False, None), _Figures())
    kind_labels = _kind_labels(session, actor.brand_id)
    store_names = {
        store_id: name
        for store_id, name in session.execute(
            select(Store.id, Store.name).where(store_scope(actor))
        )
    }

    def row(attributed: bool, key: Any, found: _Figures) -> TouchpointReportRow:
        cost = costs.get(key) if attributed and not periodic else None
        details: dict[str, Any] = {}
        label = UNKNOWN_LABEL
        if periodic:
            details["period_start"] = key
            label = f"{key.isoformat()} · {'attributed' if attributed else UNKNOWN_LABEL}"
        elif attributed and query.group_by is ReportGrouping.TOUCHPOINT:
            touchpoint = by_id.get(key)
            label = f"{touchpoint.code} · {touchpoint.name}" if touchpoint else str(key)
            details = {
                "touchpoint_id": key,
                "touchpoint_code": touchpoint.code if touchpoint else None,
                "kind": touchpoint.kind if touchpoint else None,
                "store_id": touchpoint.store_id if touchpoint else None,
            }
        elif attributed and query.group_by is ReportGrouping.KIND:
            label = kind_labels.get(key, key)
            details = {"kind": key}
        elif attributed:
            label = store_names.get(key, str(key)) if key is not None else NO_STORE_LABEL
            details = {"store_id": key}
        return TouchpointReportRow(
            attributed=attributed,
            label=label,
            scans=found.scans,
            visitors=found.visitors,
            new_members=found.new_members,
            orders=found.orders,
            credited_orders=found.credited_permille / 1000,
            gmv_fen=found.gmv_fen,
            cost_fen=cost,
            roi=_roi(found.gmv_fen, cost),
            **details,
        )

    rows = [row(attributed, key, found) for (attributed, key), found in figures.items()]
    if periodic:
        rows.sort(key=lambda r: (r.period_start or date.min, not r.attributed))
    else:
        rows.sort(key=lambda r: (not r.attributed, -r.gmv_fen, -r.scans, r.label))
    total_cost = sum(t.cost_fen for t in touchpoints if t.cost_fen is not None)
    has_cost = any(t.cost_fen is not None for t in touchpoints)
    attributed_gmv = sum(r.gmv_fen for r in rows if r.attributed)
    totals_row = TouchpointReportRow(
        attributed=True,
        label="Total 合计",
        scans=totals.scans,
        visitors=totals.visitors,
        new_members=totals.new_members,
        orders=totals.orders,
        credited_orders=totals.credited_permille / 1000,
        gmv_fen=totals.gmv_fen,
        cost_fen=total_cost if has_cost else None,
        roi=_roi(attributed_gmv, total_cost if has_cost else None),
    )
    return TouchpointReport(
        period_start=query.period_start,
        period_end=query.period_end,
        group_by=query.group_by,
        model=brand_settings(session, actor.brand_id).model,
        rows=rows[query.offset : query.offset + query.limit],
        total_rows=len(rows),
        limit=query.limit,
        offset=query.offset,
        totals=totals_row,
    )
