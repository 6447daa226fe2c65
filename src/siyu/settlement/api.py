"""HTTP API of franchise settlement: rules, runs, statements (JSON and CSV) and store ledgers."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query, status
from fastapi.responses import Response

from siyu.core.pagination import MAX_PAGE_SIZE, Page
from siyu.settlement import service
from siyu.settlement.schemas import (
    LedgerEntryOut,
    SettlementRuleIn,
    SettlementRuleOut,
    SettlementRunIn,
    SettlementRunOut,
    StatementOut,
)
from siyu.web.deps import CurrentActor, Uow

router = APIRouter(tags=["settlement"])

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]
Offset = Annotated[int, Query(ge=0)]
CSV_TYPE = "text/csv; charset=utf-8"


@router.get("/settlement-rules/default", response_model=SettlementRuleOut)
def get_default_rule(session: Uow, actor: CurrentActor) -> SettlementRuleOut:
    """The brand default rule: applies to every franchisee without a rule of their own."""
    return service.get_settlement_rule(session, actor, None)


@router.put("/settlement-rules/default", response_model=SettlementRuleOut)
def set_default_rule(
    data: SettlementRuleIn, session: Uow, actor: CurrentActor
) -> SettlementRuleOut:
    """Set the brand default rule (HQ: ``settlement:write``)."""
    return service.set_settlement_rule(session, actor, None, data)


@router.get("/franchisees/{franchisee_id}/settlement-rule", response_model=SettlementRuleOut)
def get_franchisee_rule(franchisee_id: int, session: Uow, actor: CurrentActor) -> SettlementRuleOut:
    """The rule that applies to the franchisee: theirs (``source: franchisee``) or the brand
    default (``source: brand_default``)."""
    return service.get_settlement_rule(session, actor, franchisee_id)


@router.put("/franchisees/{franchisee_id}/settlement-rule", response_model=SettlementRuleOut)
def set_franchisee_rule(
    franchisee_id: int, data: SettlementRuleIn, session: Uow, actor: CurrentActor
) -> SettlementRuleOut:
    """Set the franchisee's own rule (HQ: ``settlement:write``): a commission in basis points
    of net sales (sales − refunds), rounded half up to the fen, plus a fixed fee per
    statement."""
    return service.set_settlement_rule(session, actor, franchisee_id, data)


@router.post(
    "/settlement-runs", response_model=SettlementRunOut, status_code=status.HTTP_201_CREATED
)
def run_settlement(data: SettlementRunIn, session: Uow, actor: CurrentActor) -> SettlementRunOut:
    """Settle a period that has ended (HQ): ``[period_start, period_end)`` in Asia/Shanghai
    dates, one statement per franchisee. One run per period; overlapping periods are refused
    (409 ``settlement_period_overlaps``), as are periods not yet ended (422
    ``invalid_settlement_period``)."""
    run = service.run_settlement(
        session, actor, period_start=data.period_start, period_end=data.period_end
    )
    return service.run_out(session, actor, run)


@router.get("/settlement-runs", response_model=Page[SettlementRunOut])
def list_runs(
    session: Uow, actor: CurrentActor, limit: Limit = 50, offset: Offset = 0
) -> Page[SettlementRunOut]:
    items, total = service.list_settlement_runs(session, actor, limit=limit, offset=offset)
    return Page[SettlementRunOut](items=items, total=total, limit=limit, offset=offset)


@router.get("/settlement-statements", response_model=Page[StatementOut])
def list_statements(
    session: Uow,
    actor: CurrentActor,
    run_id: int | None = None,
    franchisee_id: int | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[StatementOut]:
    """Statements in scope: a franchisee owner sees theirs, a region manager those of the
    franchisees with stores in the region, HQ all."""
    items, total = service.list_statements(
        session, actor, run_id=run_id, franchisee_id=franchisee_id, limit=limit, offset=offset
    )
    return Page[StatementOut](items=items, total=total, limit=limit, offset=offset)


def _csv_response(statement: StatementOut) -> Response:
    filename = (
        f"statement-{statement.franchisee_code}-{statement.period_start.isoformat()}"
        f"-{statement.id}.csv"
    )
    return Response(
        service.statement_csv(statement),
        media_type=CSV_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


# Registered before "/settlement-statements/{statement_id}", which would also match "12.csv".
@router.get(
    "/settlement-statements/{statement_id}.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "The statement as CSV"}},
)
def get_statement_csv(statement_id: int, session: Uow, actor: CurrentActor) -> Response:
    """The statement as CSV: a row per store, then a TOTAL row (amounts in fen)."""
    return _csv_response(service.get_statement(session, actor, statement_id))


@router.get(
    "/settlement-statements/{statement_id}",
    response_model=StatementOut,
    responses={200: {"content": {"text/csv": {}}}},
)
def get_statement(
    statement_id: int,
    session: Uow,
    actor: CurrentActor,
    format: Literal["json", "csv"] = "json",
) -> StatementOut | Response:
    """One statement with its per-store lines; ``?format=csv`` for the CSV export."""
    statement = service.get_statement(session, actor, statement_id)
    if format == "csv":
        return _csv_response(statement)
    return statement


@router.get("/stores/{store_id}/ledger", response_model=Page[LedgerEntryOut])
def store_ledger(
    store_id: int,
    session: Uow,
    actor: CurrentActor,
    date_from: Annotated[
        date | None, Query(alias="from", description="First day (Asia/Shanghai), included")
    ] = None,
    date_to: Annotated[
        date | None, Query(alias="to", description="Day after the last (Asia/Shanghai), excluded")
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[LedgerEntryOut]:
    """The store's ledger: a sale (+), refund (−) or fulfilment (0) entry per order fact."""
    rows, total = service.store_ledger(
        session,
        actor,
        store_id,
        date_from=date_from,
        date_to=date_to,
        limit=limit,
        offset=offset,
    )
    return Page[LedgerEntryOut](
        items=[LedgerEntryOut.model_validate(r) for r in rows],
        total=total,
        limit=limit,
        offset=offset,
    )
