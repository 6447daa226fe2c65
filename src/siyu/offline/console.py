"""Console page of offline data (通数据): upload a POS member or sales export with its column
mapping, see the latest imports, and the private-domain share of the last 30 days.

A thin adapter over ``siyu.offline`` (as ``siyu.offline.api``): a refused file shows every bad
line and its reason.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from siyu.access.rules import Permission
from siyu.access.service import SessionContext
from siyu.catalog.rules import format_price_yuan
from siyu.core.clock import SHANGHAI, utc_now
from siyu.core.csvfile import ImportRejected
from siyu.core.errors import PermissionDenied, SiyuError
from siyu.offline import rules, service
from siyu.offline.api import run_import
from siyu.offline.schemas import PosImportOut
from siyu.web.csrf import ConsoleForm
from siyu.web.deps import ConsoleContext, Uow
from siyu.web.templating import render

router = APIRouter()

ERRORS_SHOWN = 200
SHARE_DAYS = 30
KIND_LABELS = {"pos_members": "POS members 会员", "pos_orders": "POS orders 销售小票"}
FIELD_NOTES = {
    "pos_members": "pos_member_number and/or phone, name, gender, birthday, store_code, joined_at",
    "pos_orders": "order_number, store_code, placed_at, sku_code, quantity, amount_yuan or "
    "amount_fen (required); pos_member_number, phone, order_total",
}
MAPPING_EXAMPLES = {
    "pos_members": '{"会员卡号": "pos_member_number", "手机号": "phone", "姓名": "name", '
    '"门店编码": "store_code", "入会时间": "joined_at"}',
    "pos_orders": '{"小票号": "order_number", "门店编码": "store_code", "销售时间": "placed_at", '
    '"会员卡号": "pos_member_number", "商品编码": "sku_code", "数量": "quantity", '
    '"金额": "amount_yuan"}',
}


def _yuan(fen: int) -> str:
    return ("-" if fen < 0 else "") + "¥" + format_price_yuan(abs(fen))


def _page(
    request: Request,
    session: Session,
    ctx: SessionContext,
    *,
    kind: str | None = None,
    result: PosImportOut | None = None,
    rejected: ImportRejected | None = None,
    error: str | None = None,
    mapping: str = "",
    status_code: int = 200,
) -> Response:
    may_import = rules.may_import_pos(ctx.actor)
    may_report = ctx.actor.can(Permission.REPORT_READ)
    if not may_import and not may_report:
        raise PermissionDenied(
            "This page needs the 'import:run' or 'report:read' permission.",
            extra={"permission": Permission.IMPORT_RUN.value},
        )
    context: dict[str, Any] = {
        "ctx": ctx,
        "may_import": may_import,
        "kind": kind,
        "kind_labels": KIND_LABELS,
        "field_notes": FIELD_NOTES,
        "examples": MAPPING_EXAMPLES,
        "mapping": mapping,
        "result": result,
        "error": error,
        "rejected_errors": rejected.errors[:ERRORS_SHOWN] if rejected else [],
        "rejected_more": max(0, len(rejected.errors) - ERRORS_SHOWN) if rejected else 0,
        "rejected_message": rejected.message if rejected else None,
        "imports": service.list_imports(session, ctx.actor) if may_import else [],
        "share": None,
        "yuan": _yuan,
    }
    if may_report:
        today = utc_now().astimezone(SHANGHAI).date()
        context["share"] = service.private_domain_share(
            session,
            ctx.actor,
            date_from=today - timedelta(days=SHARE_DAYS - 1),
            date_to=today + timedelta(days=1),
        )
    return render(request, "offline/offline.html", context, status_code=status_code)


@router.get("/offline", response_class=HTMLResponse)
def offline_page(request: Request, session: Uow, ctx: ConsoleContext) -> Response:
    return _page(request, session, ctx)


def _upload(
    request: Request,
    session: Session,
    ctx: SessionContext,
    kind: str,
    file: UploadFile,
    mapping: str | None,
    dry_run: bool,
) -> Response:
    try:
        result = run_import(session, ctx.actor, kind, file, mapping, dry_run)
    except ImportRejected as rejected:
        session.rollback()
        return _page(
            request,
            session,
            ctx,
            kind=kind,
            rejected=rejected,
            mapping=mapping or "",
            status_code=422,
        )
    except SiyuError as error:
        session.rollback()
        return _page(
            request,
            session,
            ctx,
            kind=kind,
            error=error.message,
            mapping=mapping or "",
            status_code=error.status,
        )
    return _page(request, session, ctx, kind=kind, result=result, mapping=mapping or "")


UploadField = Annotated[UploadFile, File()]
MappingField = Annotated[str | None, Form(max_length=10_000)]
DryRunField = Annotated[bool, Form()]


@router.post("/offline/pos-members", response_class=HTMLResponse)
def upload_members(
    request: Request,
    session: Uow,
    ctx: ConsoleForm,
    file: UploadField,
    mapping: MappingField = None,
    dry_run: DryRunField = False,
) -> Response:
    return _upload(request, session, ctx, "pos_members", file, mapping, dry_run)


@router.post("/offline/pos-orders", response_class=HTMLResponse)
def upload_orders(
    request: Request,
    session: Uow,
    ctx: ConsoleForm,
    file: UploadField,
    mapping: MappingField = None,
    dry_run: DryRunField = False,
) -> Response:
    return _upload(request, session, ctx, "pos_orders", file, mapping, dry_run)
