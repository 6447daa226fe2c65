"""Reading offline data: a member's offline orders (for the member 360), the imports, and the
private-domain share of all GMV.

The imports themselves are in ``member_imports`` and ``order_imports``. Nothing here writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Date, Select, cast, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from siyu.access.rules import Actor, Permission, ScopeKind
from siyu.catalog.models import Product
from siyu.core.clock import SHANGHAI
from siyu.offline import rules
from siyu.offline.errors import InvalidReportPeriod
from siyu.offline.imports import require_pos_import
from siyu.offline.models import OfflineImport, OfflineOrder, OfflineOrderLine
from siyu.offline.schemas import (
    OfflineImportOut,
    OfflineOrderLineOut,
    OfflineOrderOut,
    PrivateDomainShareOut,
    ShareDayOut,
    ShareFigures,
)
from siyu.orders.models import Order
from siyu.org.errors import RegionNotFound, StoreNotFound
from siyu.org.models import Region, Store
from siyu.org.service import region_scope, store_scope
from siyu.settlement.rules import shanghai_midnight

MAX_REPORT_DAYS = 3660
MAX_REPORT_DAYS_BY_DAY = 366


# ---------------------------------------------------------------- the member 360


def member_offline_orders(
    session: Session, brand_id: int, member_id: int, limit: int = 50
) -> list[OfflineOrderOut]:
    """The member's offline orders, newest first, each with its store and lines (two queries).

    No permission check: the caller (the member 360) has already found the member in the
    actor's scope. Merged members' orders are repointed to the survivor by the merge.
    """
    orders = session.execute(
        select(OfflineOrder, Store.code, Store.name)
        .join(
            Store,
            (Store.brand_id == OfflineOrder.brand_id) & (Store.id == OfflineOrder.store_id),
        )
        .where(OfflineOrder.brand_id == brand_id, OfflineOrder.member_id == member_id)
        .order_by(OfflineOrder.placed_at.desc(), OfflineOrder.id.desc())
        .limit(limit)
    ).all()
    lines_of: dict[int, list[OfflineOrderLineOut]] = {order.id: [] for order, _, _ in orders}
    if lines_of:
        lines = session.execute(
            select(OfflineOrderLine, Product.name)
            .outerjoin(
                Product,
                (Product.brand_id == OfflineOrderLine.brand_id)
                & (Product.id == OfflineOrderLine.product_id),
            )
            .where(
                OfflineOrderLine.brand_id == brand_id,
                OfflineOrderLine.offline_order_id.in_(list(lines_of)),
            )
            .order_by(OfflineOrderLine.id)
        ).all()
        for line, product_name in lines:
            lines_of[line.offline_order_id].append(
                OfflineOrderLineOut(
                    sku_code=line.sku_code,
                    sku_id=line.sku_id,
                    product_id=line.product_id,
                    product_name=product_name,
                    quantity=line.quantity,
                    amount_fen=line.amount_fen,
                )
            )
    return [
        OfflineOrderOut(
            id=order.id,
            order_number=order.order_number,
            store_id=order.store_id,
            store_code=store_code,
            store_name=store_name,
            placed_at=order.placed_at,
            total_fen=order.total_fen,
            refunded_fen=order.refunded_fen,
            net_fen=order.total_fen - order.refunded_fen,
            lines=lines_of[order.id],
        )
        for order, store_code, store_name in orders
    ]


# ---------------------------------------------------------------- imports


def list_imports(session: Session, actor: Actor, *, limit: int = 20) -> list[OfflineImportOut]:
    """The latest imports, newest first: HQ sees all of the brand's, others their own."""
    require_pos_import(actor)
    condition = OfflineImport.brand_id == actor.brand_id
    if actor.scope is not ScopeKind.BRAND:
        condition = condition & (OfflineImport.staff_id == actor.staff_id)
    rows = session.scalars(
        select(OfflineImport)
        .where(condition)
        .order_by(OfflineImport.created_at.desc(), OfflineImport.id.desc())
        .limit(limit)
    ).all()
    return [
        OfflineImportOut(
            id=row.id,
            kind=row.kind,
            file_name=row.file_name,
            row_count=row.row_count,
            created_count=row.created_count,
            updated_count=row.updated_count,
            unchanged_count=row.unchanged_count,
            actor_label=row.actor_label,
            created_at=row.created_at,
        )
        for row in rows
    ]


# ---------------------------------------------------------------- the private-domain share


@dataclass(frozen=True)
class _Period:
    first_day: date
    end_day: date

    @property
    def start(self) -> datetime:
        return shanghai_midnight(self.first_day)

    @property
    def end(self) -> datetime:
        return shanghai_midnight(self.end_day)


def private_domain_share(
    session: Session,
    actor: Actor,
    *,
    date_from: date,
    date_to: date,
    store_id: int | None = None,
    region_id: int | None = None,
    by_day: bool = False,
) -> PrivateDomainShareOut:
    """Online (private-domain) GMV, offline GMV and the share, over ``[date_from, date_to)``
    in Asia/Shanghai days, for the stores in the actor's scope (narrowed to one store or one
    region), optionally per day.

    Online GMV: orders paid in the period (by ``paid_at``), ``paid_fen - refunded_fen``, so a
    refund lowers the GMV of the day the order was paid. Offline GMV: offline orders placed in
    the period, ``total_fen - refunded_fen`` (a return receipt lowers its own day's).
    Needs ``report:read``. Raises InvalidReportPeriod, StoreNotFound or RegionNotFound (a
    store or region outside the scope, as if it did not exist). Reads only; no locks.
    """
    actor.require(Permission.REPORT_READ)
    period = _period(date_from, date_to, by_day)
    stores = _stores(session, actor, store_id, region_id)
    online = _online_gmv(actor.brand_id, stores, period, by_day)
    offline = _offline_gmv(actor.brand_id, stores, period, by_day)
    if not by_day:
        figures = _figures(session.scalar(online) or 0, session.scalar(offline) or 0)
        return PrivateDomainShareOut(
            date_from=date_from,
            date_to=date_to,
            store_id=store_id,
            region_id=region_id,
            **figures.model_dump(),
        )
    online_days: dict[date, int] = {day: fen for day, fen in session.execute(online)}
    offline_days: dict[date, int] = {day: fen for day, fen in session.execute(offline)}
    days = [
        ShareDayOut(
            day=day,
            **_figures(online_days.get(day, 0), offline_days.get(day, 0)).model_dump(),
        )
        for day in _days(period)
    ]
    total = _figures(sum(online_days.values()), sum(offline_days.values()))
    return PrivateDomainShareOut(
        date_from=date_from,
        date_to=date_to,
        store_id=store_id,
        region_id=region_id,
        days=days,
        **total.model_dump(),
    )


def _figures(online_fen: int, offline_fen: int) -> ShareFigures:
    share = rules.private_domain_share(int(online_fen), int(offline_fen))
    return ShareFigures(
        online_gmv_fen=share.online_gmv_fen,
        offline_gmv_fen=share.offline_gmv_fen,
        all_gmv_fen=share.all_gmv_fen,
        share=None if share.share is None else str(share.share),
        share_permille=share.share_permille,
    )


def _period(date_from: date, date_to: date, by_day: bool) -> _Period:
    if date_to <= date_from:
        raise InvalidReportPeriod(
            "'to' is the day after the last day and must come after 'from'.", field="to"
        )
    longest = MAX_REPORT_DAYS_BY_DAY if by_day else MAX_REPORT_DAYS
    if (date_to - date_from).days > longest:
        raise InvalidReportPeriod(
            f"A period is at most {longest} days{' by day' if by_day else ''}.", field="to"
        )
    return _Period(date_from, date_to)


def _days(period: _Period) -> Sequence[date]:
    count = (period.end_day - period.first_day).days
    return [period.first_day + timedelta(days=n) for n in range(count)]


def _stores(
    session: Session, actor: Actor, store_id: int | None, region_id: int | None
) -> Select[int] | None:
    """The stores to count, as a subquery; None means the whole brand (no store condition)."""
    if store_id is not None:
        visible = session.scalar(select(Store.id).where(store_scope(actor), Store.id == store_id))
        if visible is None:
            raise StoreNotFound(f"Store {store_id} was not found.", field="store_id")
    if region_id is not None:
        visible = session.scalar(
            select(Region.id).where(region_scope(actor), Region.id == region_id)
        )
        if visible is None:
            raise RegionNotFound(f"Region {region_id} was not found.", field="region_id")
    if store_id is None and region_id is None and actor.scope is ScopeKind.BRAND:
        return None
    conditions: list[ColumnElement[bool]] = [store_scope(actor)]
    if store_id is not None:
        conditions.append(Store.id == store_id)
    if region_id is not None:
        conditions.append(Store.region_id == region_id)
    return select(Store.id).where(*conditions)


def _online_gmv(
    brand_id: int, stores: Select[int] | None, period: _Period, by_day: bool
) -> Select[Any]:
    return _gmv(
        Order.paid_fen - Order.refunded_fen,
        Order.brand_id == brand_id,
        Order.paid_at,
        Order.selling_store_id,
        stores,
        period,
        by_day,
    )


def _offline_gmv(
    brand_id: int, stores: Select[int] | None, period: _Period, by_day: bool
) -> Select[Any]:
    return _gmv(
        OfflineOrder.total_fen - OfflineOrder.refunded_fen,
        OfflineOrder.brand_id == brand_id,
        OfflineOrder.placed_at,
        OfflineOrder.store_id,
        stores,
        period,
        by_day,
    )


def _gmv(
    net: ColumnElement[int],
    in_brand: ColumnElement[bool],
    moment: InstrumentedAttribute[datetime] | InstrumentedAttribute[datetime | None],
    store: InstrumentedAttribute[int],
    stores: Select[int] | None,
    period: _Period,
    by_day: bool,
) -> Select[Any]:
    """The sum of ``net`` over the rows whose ``moment`` falls in the period (per Shanghai day
    with ``by_day``), at the given stores."""
    amount = func.coalesce(func.sum(net), 0)
    conditions = [in_brand, moment >= period.start, moment < period.end]
    if stores is not None:
        conditions.append(store.in_(stores))
    if not by_day:
        return select(amount).where(*conditions)
    day = cast(func.timezone(SHANGHAI.key, moment), Date)
    per_day: Select[Any] = select(day, amount).where(*conditions).group_by(day)  # type: ignore[assignment]
    return per_day
