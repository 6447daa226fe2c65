"""Franchise settlement: rules, settlement runs, statements and the store ledger.

Every function takes the acting ``Actor`` and the caller's session; none commits. Reading needs
``settlement:read`` and is scoped: HQ sees everything, a region manager the statements of the
franchisees with stores in their region, a franchisee owner only their own statements (and,
in a store's ledger, only the entries posted while the store was theirs). Anything outside the
scope is not found. Changing rules and running settlements needs ``settlement:write`` (HQ);
each writes an audit entry and domain events.

A statement's figures are sums of ledger entries (``siyu.settlement.posting``) booked in the
period, so they reconcile to the orders exactly, to the fen.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, Select, case, func, select
from sqlalchemy.orm import Session

from siyu.access.rules import Actor, Permission, ScopeKind
from siyu.audit.service import record_creation, record_update
from siyu.core.clock import utc_now
from siyu.core.snapshot import row_snapshot
from siyu.org.errors import FranchiseeNotFound, StoreNotFound
from siyu.org.models import Franchisee, Store
from siyu.org.service import franchisee_scope, store_scope
from siyu.outbox.service import record_event
from siyu.settlement import events
from siyu.settlement.errors import (
    InvalidSettlementPeriod,
    SettlementPeriodOverlaps,
    SettlementRuleMissing,
    SettlementRuleNotFound,
    StatementNotFound,
)
from siyu.settlement.locks import lock_ledger_for_settlement, lock_settlement_rules
from siyu.settlement.models import (
    LedgerEntry,
    SettlementRule,
    SettlementRun,
    Statement,
    StatementLine,
)
from siyu.settlement.rules import (
    REFUND,
    SALE,
    Period,
    format_yuan,
    period_problem,
    shanghai_date,
    shanghai_midnight,
    statement_figures,
)
from siyu.settlement.schemas import (
    SettlementRuleIn,
    SettlementRuleOut,
    SettlementRunOut,
    StatementLineOut,
    StatementOut,
)

# ---------------------------------------------------------------- scope


def statement_scope(actor: Actor) -> ColumnElement[bool]:
    """The statements ``actor`` may see (brand condition included)."""
    in_brand = Statement.brand_id == actor.brand_id
    if actor.scope is ScopeKind.BRAND:
        return in_brand
    if actor.scope is ScopeKind.FRANCHISEE:
        return in_brand & (Statement.franchisee_id == actor.franchisee_id)
    return in_brand & Statement.franchisee_id.in_(
        select(Franchisee.id).where(franchisee_scope(actor))
    )


def _visible_franchisee(session: Session, actor: Actor, franchisee_id: int) -> Franchisee:
    row = session.scalar(
        select(Franchisee).where(franchisee_scope(actor), Franchisee.id == franchisee_id)
    )
    if row is None:
        raise FranchiseeNotFound(f"Franchisee {franchisee_id} was not found.")
    return row


# ---------------------------------------------------------------- rules


def _rule_row(session: Session, brand_id: int, franchisee_id: int | None) -> SettlementRule | None:
    owner = (
        SettlementRule.franchisee_id.is_(None)
        if franchisee_id is None
        else SettlementRule.franchisee_id == franchisee_id
    )
    return session.scalars(
        select(SettlementRule)
        .where(SettlementRule.brand_id == brand_id, owner)
        .order_by(SettlementRule.id)
    ).first()


def _rule_out(rule: SettlementRule, franchisee_id: int | None) -> SettlementRuleOut:
    return SettlementRuleOut(
        franchisee_id=franchisee_id,
        commission_bps=rule.commission_bps,
        fixed_fee_fen=rule.fixed_fee_fen,
        source="brand_default" if rule.franchisee_id is None else "franchisee",
        updated_at=rule.updated_at,
    )


def get_settlement_rule(
    session: Session, actor: Actor, franchisee_id: int | None
) -> SettlementRuleOut:
    """The rule that applies to a franchisee (theirs, else the brand default), or the brand
    default when ``franchisee_id`` is None. Needs ``settlement:read``. Raises
    FranchiseeNotFound, SettlementRuleNotFound."""
    actor.require(Permission.SETTLEMENT_READ)
    if franchisee_id is not None:
        _visible_franchisee(session, actor, franchisee_id)
        own = _rule_row(session, actor.brand_id, franchisee_id)
        if own is not None:
            return _rule_out(own, franchisee_id)
    default = _rule_row(session, actor.brand_id, None)
    if default is None:
        raise SettlementRuleNotFound("No settlement rule applies yet.")
    return _rule_out(default, franchisee_id)


def set_settlement_rule(
    session: Session, actor: Actor, franchisee_id: int | None, data: SettlementRuleIn
) -> SettlementRuleOut:
    """Set a franchisee's own rule, or the brand default when ``franchisee_id`` is None.
    Applies to runs made from now on; statements already issued keep their figures. Needs
    ``settlement:write``. Takes the rule lock. Audits and records ``SettlementRuleSet``.
    Raises FranchiseeNotFound."""
    actor.require(Permission.SETTLEMENT_WRITE)
    if franchisee_id is not None:
        _visible_franchisee(session, actor, franchisee_id)
    lock_settlement_rules(session, actor.brand_id)
    rule = _rule_row(session, actor.brand_id, franchisee_id)
    if rule is None:
        rule = SettlementRule(
            brand_id=actor.brand_id,
            franchisee_id=franchisee_id,
            commission_bps=data.commission_bps,
            fixed_fee_fen=data.fixed_fee_fen,
        )
        session.add(rule)
        session.flush()
        record_creation(session, actor, object_type="settlement_rule", row=rule)
        changed = True
    else:
        before = row_snapshot(rule)
        rule.commission_bps = data.commission_bps
        rule.fixed_fee_fen = data.fixed_fee_fen
        changed = bool(
            record_update(session, actor, object_type="settlement_rule", row=rule, before=before)
        )
        session.flush()
    if changed:
        record_event(
            session,
            actor.brand_id,
            events.SettlementRuleSet(
                settlement_rule_id=rule.id,
                franchisee_id=franchisee_id,
                commission_bps=rule.commission_bps,
                fixed_fee_fen=rule.fixed_fee_fen,
            ),
        )
    session.refresh(rule)
    return _rule_out(rule, franchisee_id)


# ---------------------------------------------------------------- settlement runs


@dataclass(frozen=True)
class _StoreSums:
    sales_fen: int = 0
    refunds_fen: int = 0
    order_count: int = 0
    entry_count: int = 0


def _period_sums(
    session: Session, brand_id: int, period: Period
) -> dict[int, dict[int, _StoreSums]]:
    """Ledger sums of franchise stores in the period: franchisee -> store -> sums."""
    sales = func.coalesce(func.sum(case((LedgerEntry.kind == SALE, LedgerEntry.amount_fen))), 0)
    refunds = func.coalesce(
        func.sum(case((LedgerEntry.kind == REFUND, -LedgerEntry.amount_fen))), 0
    )
    orders = func.count().filter(LedgerEntry.kind == SALE)
    rows = session.execute(
        select(
            LedgerEntry.franchisee_id, LedgerEntry.store_id, sales, refunds, orders, func.count()
        )
        .where(
            LedgerEntry.brand_id == brand_id,
            LedgerEntry.franchisee_id.is_not(None),
            LedgerEntry.occurred_at >= period.start,
            LedgerEntry.occurred_at < period.end,
        )
        .group_by(LedgerEntry.franchisee_id, LedgerEntry.store_id)
    ).all()
    result: dict[int, dict[int, _StoreSums]] = {}
    for franchisee_id, store_id, sale_sum, refund_sum, order_count, entry_count in rows:
        result.setdefault(franchisee_id, {})[store_id] = _StoreSums(
            int(sale_sum), int(refund_sum), int(order_count), int(entry_count)
        )
    return result


def run_settlement(
    session: Session,
    actor: Actor,
    *,
    period_start: date,
    period_end: date,
    now: datetime | None = None,
) -> SettlementRun:
    """Settle a period ``[period_start, period_end)`` (Asia/Shanghai dates) for the brand: one
    statement per franchisee with ledger entries in the period or stores now, one line per
    store, commission and fee by the rule that applies (the franchisee's, else the brand
    default). Needs ``settlement:write``. Takes the ledger lock exclusive (postings in flight
    commit first; later ones are booked after the period). Audits the run and each statement,
    records ``StatementIssued`` for each and ``SettlementRunCompleted``.

    Raises InvalidSettlementPeriod (field ``period_end``: not after the start, or not ended
    yet at ``now``), SettlementPeriodOverlaps (field ``period_start``), SettlementRuleMissing
    (field ``franchisee_id``)."""
    actor.require(Permission.SETTLEMENT_WRITE)
    period = Period(period_start, period_end)
    problem = period_problem(period, now or utc_now())
    if problem is not None:
        field, message = problem
        raise InvalidSettlementPeriod(message, field=field)
    lock_ledger_for_settlement(session, actor.brand_id)
    clash = session.scalars(
        select(SettlementRun)
        .where(
            SettlementRun.brand_id == actor.brand_id,
            SettlementRun.period_start < period.end,
            SettlementRun.period_end > period.start,
        )
        .order_by(SettlementRun.period_start)
    ).first()
    if clash is not None:
        raise SettlementPeriodOverlaps(
            f"The period overlaps the settled period {shanghai_date(clash.period_start)} to "
            f"{shanghai_date(clash.period_end)} (run {clash.id}).",
            field="period_start",
            extra={"run_id": clash.id},
        )
    sums = _period_sums(session, actor.brand_id, period)
    for franchisee_id, store_id in session.execute(
        select(Store.franchisee_id, Store.id).where(
            Store.brand_id == actor.brand_id, Store.franchisee_id.is_not(None)
        )
    ):
        if franchisee_id is not None:
            sums.setdefault(franchisee_id, {}).setdefault(store_id, _StoreSums())
    rules = _rules_for(session, actor.brand_id, sorted(sums))
    run = SettlementRun(
        brand_id=actor.brand_id,
        period_start=period.start,
        period_end=period.end,
        created_by=actor.label[:200],
    )
    session.add(run)
    session.flush()
    record_creation(session, actor, object_type="settlement_run", row=run)
    for franchisee_id in sorted(sums):
        _issue_statement(session, actor, run, period, franchisee_id, sums[franchisee_id], rules)
    record_event(
        session,
        actor.brand_id,
        events.SettlementRunCompleted(
            settlement_run_id=run.id,
            period_start=period.start_day.isoformat(),
            period_end=period.end_day.isoformat(),
            statement_count=len(sums),
        ),
    )
    return run


def _rules_for(
    session: Session, brand_id: int, franchisee_ids: Sequence[int]
) -> dict[int, SettlementRule]:
    rows = session.scalars(
        select(SettlementRule)
        .where(SettlementRule.brand_id == brand_id)
        .order_by(SettlementRule.id.desc())
    ).all()
    default = next((r for r in rows if r.franchisee_id is None), None)
    own = {r.franchisee_id: r for r in rows if r.franchisee_id is not None}
    result: dict[int, SettlementRule] = {}
    missing: list[int] = []
    for franchisee_id in franchisee_ids:
        rule = own.get(franchisee_id, default)
        if rule is None:
            missing.append(franchisee_id)
        else:
            result[franchisee_id] = rule
    if missing:
        codes = session.scalars(
            select(Franchisee.code)
            .where(Franchisee.brand_id == brand_id, Franchisee.id.in_(missing))
            .order_by(Franchisee.code)
        ).all()
        raise SettlementRuleMissing(
            f"No settlement rule applies to franchisee(s) {', '.join(codes)}: set a brand "
            "default or a rule for each.",
            field="franchisee_id",
            extra={"franchisee_ids": missing},
        )
    return result


def _issue_statement(
    session: Session,
    actor: Actor,
    run: SettlementRun,
    period: Period,
    franchisee_id: int,
    stores: dict[int, _StoreSums],
    rules: dict[int, SettlementRule],
) -> Statement:
    rule = rules[franchisee_id]
    figures = statement_figures(
        sales_fen=sum(s.sales_fen for s in stores.values()),
        refunds_fen=sum(s.refunds_fen for s in stores.values()),
        commission_bps=rule.commission_bps,
        fixed_fee_fen=rule.fixed_fee_fen,
    )
    statement = Statement(
        brand_id=actor.brand_id,
        run_id=run.id,
        franchisee_id=franchisee_id,
        sales_fen=figures.sales_fen,
        refunds_fen=figures.refunds_fen,
        net_sales_fen=figures.net_sales_fen,
        commission_fen=figures.commission_fen,
        fees_fen=figures.fees_fen,
        net_payable_fen=figures.net_payable_fen,
        order_count=sum(s.order_count for s in stores.values()),
        entry_count=sum(s.entry_count for s in stores.values()),
    )
    session.add(statement)
    session.flush()
    session.add_all(
        StatementLine(
            brand_id=actor.brand_id,
            statement_id=statement.id,
            store_id=store_id,
            sales_fen=sums.sales_fen,
            refunds_fen=sums.refunds_fen,
            order_count=sums.order_count,
        )
        for store_id, sums in sorted(stores.items())
    )
    record_creation(session, actor, object_type="settlement_statement", row=statement)
    record_event(
        session,
        actor.brand_id,
        events.StatementIssued(
            statement_id=statement.id,
            settlement_run_id=run.id,
            franchisee_id=franchisee_id,
            period_start=period.start_day.isoformat(),
            period_end=period.end_day.isoformat(),
            sales_fen=figures.sales_fen,
            refunds_fen=figures.refunds_fen,
            commission_fen=figures.commission_fen,
            fees_fen=figures.fees_fen,
            net_payable_fen=figures.net_payable_fen,
        ),
    )
    return statement


def _run_out(run: SettlementRun, statement_count: int) -> SettlementRunOut:
    return SettlementRunOut(
        id=run.id,
        period_start=shanghai_date(run.period_start),
        period_end=shanghai_date(run.period_end),
        period_start_at=run.period_start,
        period_end_at=run.period_end,
        created_by=run.created_by,
        created_at=run.created_at,
        statement_count=statement_count,
    )


def list_settlement_runs(
    session: Session, actor: Actor, *, limit: int = 50, offset: int = 0
) -> tuple[list[SettlementRunOut], int]:
    """Runs with statements the actor may see (HQ: every run), newest period first, with the
    number of those statements. Needs ``settlement:read``."""
    actor.require(Permission.SETTLEMENT_READ)
    visible = (
        select(Statement.run_id, func.count().label("statements"))
        .where(statement_scope(actor))
        .group_by(Statement.run_id)
        .subquery()
    )
    statements = func.coalesce(visible.c.statements, 0)
    query = (
        select(SettlementRun, statements)
        .outerjoin(visible, visible.c.run_id == SettlementRun.id)
        .where(SettlementRun.brand_id == actor.brand_id)
    )
    if actor.scope is not ScopeKind.BRAND:
        query = query.where(visible.c.run_id.is_not(None))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.execute(
        query.order_by(SettlementRun.period_start.desc(), SettlementRun.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return [_run_out(run, int(count)) for run, count in rows], total


def run_out(session: Session, actor: Actor, run: SettlementRun) -> SettlementRunOut:
    """A run as the actor sees it (statement count within scope)."""
    count = session.scalar(
        select(func.count())
        .select_from(Statement)
        .where(statement_scope(actor), Statement.run_id == run.id)
    )
    return _run_out(run, count or 0)


# ---------------------------------------------------------------- statements


def _statement_out(
    statement: Statement,
    run: SettlementRun,
    franchisee: Franchisee,
    lines: list[StatementLineOut] | None = None,
) -> StatementOut:
    return StatementOut(
        id=statement.id,
        run_id=statement.run_id,
        franchisee_id=statement.franchisee_id,
        franchisee_code=franchisee.code,
        franchisee_name=franchisee.name,
        period_start=shanghai_date(run.period_start),
        period_end=shanghai_date(run.period_end),
        sales_fen=statement.sales_fen,
        refunds_fen=statement.refunds_fen,
        net_sales_fen=statement.net_sales_fen,
        commission_fen=statement.commission_fen,
        fees_fen=statement.fees_fen,
        net_payable_fen=statement.net_payable_fen,
        order_count=statement.order_count,
        entry_count=statement.entry_count,
        created_at=statement.created_at,
        lines=lines,
    )


def _statements_query(actor: Actor) -> Select[Statement, SettlementRun, Franchisee]:
    return (
        select(Statement, SettlementRun, Franchisee)
        .join(
            SettlementRun,
            (SettlementRun.brand_id == Statement.brand_id) & (SettlementRun.id == Statement.run_id),
        )
        .join(
            Franchisee,
            (Franchisee.brand_id == Statement.brand_id)
            & (Franchisee.id == Statement.franchisee_id),
        )
        .where(statement_scope(actor))
    )


def list_statements(
    session: Session,
    actor: Actor,
    *,
    run_id: int | None = None,
    franchisee_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[StatementOut], int]:
    """Statements the actor may see, newest period first (lines left out). Needs
    ``settlement:read``."""
    actor.require(Permission.SETTLEMENT_READ)
    query = _statements_query(actor)
    if run_id is not None:
        query = query.where(Statement.run_id == run_id)
    if franchisee_id is not None:
        query = query.where(Statement.franchisee_id == franchisee_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.execute(
        query.order_by(SettlementRun.period_start.desc(), Franchisee.code, Statement.id)
        .limit(limit)
        .offset(offset)
    ).all()
    return [_statement_out(s, run, f) for s, run, f in rows], total


def get_statement(session: Session, actor: Actor, statement_id: int) -> StatementOut:
    """One statement with its per-store lines. Needs ``settlement:read``. Raises
    StatementNotFound (also outside the actor's scope)."""
    actor.require(Permission.SETTLEMENT_READ)
    row = session.execute(
        _statements_query(actor).where(Statement.id == statement_id)
    ).one_or_none()
    if row is None:
        raise StatementNotFound(f"Statement {statement_id} was not found.")
    statement, run, franchisee = row
    lines = [
        StatementLineOut(
            store_id=line.store_id,
            store_code=store.code,
            store_name=store.name,
            sales_fen=line.sales_fen,
            refunds_fen=line.refunds_fen,
            net_sales_fen=line.sales_fen - line.refunds_fen,
            order_count=line.order_count,
        )
        for line, store in session.execute(
            select(StatementLine, Store)
            .join(
                Store,
                (Store.brand_id == StatementLine.brand_id) & (Store.id == StatementLine.store_id),
            )
            .where(
                StatementLine.brand_id == actor.brand_id,
                StatementLine.statement_id == statement.id,
            )
            .order_by(Store.code)
        )
    ]
    return _statement_out(statement, run, franchisee, lines)


CSV_HEADER = (
    "franchisee_code",
    "period_start",
    "period_end",
    "store_code",
    "store_name",
    "sales_fen",
    "refunds_fen",
    "net_sales_fen",
    "commission_fen",
    "fees_fen",
    "net_payable_fen",
    "order_count",
    "net_payable_yuan",
)


def statement_csv(statement: StatementOut) -> str:
    """The statement as CSV: one row per store line, then a ``TOTAL`` row with the
    commission, fees and net payable. Amounts in fen (exact) and the total in yuan."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    period = (statement.period_start.isoformat(), statement.period_end.isoformat())
    for line in statement.lines or []:
        writer.writerow(
            (
                statement.franchisee_code,
                *period,
                line.store_code,
                line.store_name,
                line.sales_fen,
                line.refunds_fen,
                line.net_sales_fen,
                "",
                "",
                "",
                line.order_count,
                "",
            )
        )
    writer.writerow(
        (
            statement.franchisee_code,
            *period,
            "TOTAL",
            statement.franchisee_name,
            statement.sales_fen,
            statement.refunds_fen,
            statement.net_sales_fen,
            statement.commission_fen,
            statement.fees_fen,
            statement.net_payable_fen,
            statement.order_count,
            format_yuan(statement.net_payable_fen, grouping=False),
        )
    )
    return out.getvalue()


# ---------------------------------------------------------------- the store ledger


def store_ledger(
    session: Session,
    actor: Actor,
    store_id: int,
    *,
    date_from: date | None = None,
    date_to: date | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[Sequence[LedgerEntry], int]:
    """A store's ledger entries booked in ``[date_from, date_to)`` (Asia/Shanghai dates, both
    optional), newest first. Needs ``settlement:read`` and the store in scope; a franchisee
    owner sees only the entries posted while the store was theirs. Raises StoreNotFound."""
    actor.require(Permission.SETTLEMENT_READ)
    store = session.scalar(select(Store.id).where(store_scope(actor), Store.id == store_id))
    if store is None:
        raise StoreNotFound(f"Store {store_id} was not found.")
    conditions: list[ColumnElement[bool]] = [
        LedgerEntry.brand_id == actor.brand_id,
        LedgerEntry.store_id == store_id,
    ]
    if actor.scope is ScopeKind.FRANCHISEE:
        conditions.append(LedgerEntry.franchisee_id == actor.franchisee_id)
    if date_from is not None:
        conditions.append(LedgerEntry.occurred_at >= shanghai_midnight(date_from))
    if date_to is not None:
        conditions.append(LedgerEntry.occurred_at < shanghai_midnight(date_to))
    total = session.scalar(select(func.count()).select_from(LedgerEntry).where(*conditions)) or 0
    rows = session.scalars(
        select(LedgerEntry)
        .where(*conditions)
        .order_by(LedgerEntry.occurred_at.desc(), LedgerEntry.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return rows, total
