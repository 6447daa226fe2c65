"""HTTP API of offline data: POS file imports (multipart upload with a column mapping) and the
private-domain share report."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, UploadFile
from sqlalchemy.orm import Session

from siyu.access.rules import Actor
from siyu.offline import service
from siyu.offline.imports import (
    MAX_FILE_BYTES,
    PosImportReport,
    check_file_size,
    parse_mapping,
    require_pos_import,
)
from siyu.offline.member_imports import import_pos_members
from siyu.offline.order_imports import import_pos_orders
from siyu.offline.schemas import PosImportOut, PrivateDomainShareOut
from siyu.web.deps import CurrentActor, Uow

router = APIRouter(tags=["offline"])

CsvFile = Annotated[
    UploadFile, File(description="The POS export as CSV, UTF-8 (Excel's 'CSV UTF-8' is fine)")
]
MappingField = Annotated[
    str | None,
    Form(
        description='JSON object {"file column": "field", ...}; a field left out is read from '
        "a column of its own name",
        examples=['{"会员卡号": "pos_member_number", "手机号": "phone"}'],
    ),
]
DryRunField = Annotated[bool, Form(description="Check the file and write nothing")]


def read_upload(upload: UploadFile) -> bytes:
    """The uploaded file's bytes; PosFileTooLarge past the limit (read no further)."""
    data = upload.file.read(MAX_FILE_BYTES + 1)
    check_file_size(len(data))
    return data


def report_out(report: PosImportReport, dry_run: bool) -> PosImportOut:
    return PosImportOut(
        kind=report.kind,
        import_id=None if dry_run else report.import_id,
        rows=report.rows,
        created=report.created,
        updated=report.updated,
        unchanged=report.unchanged,
        lines=report.lines,
        member_orders=report.member_orders,
        anonymous_orders=report.anonymous_orders,
        unknown_sku_lines=report.unknown_sku_lines,
        dry_run=dry_run,
    )


def run_import(
    session: Session,
    actor: Actor,
    kind: str,
    upload: UploadFile,
    mapping: str | None,
    dry_run: bool,
) -> PosImportOut:
    """Import (or, with ``dry_run``, check and roll back) an uploaded POS file of ``kind``."""
    require_pos_import(actor)
    columns = parse_mapping(mapping)
    data = read_upload(upload)
    importer = import_pos_members if kind == "pos_members" else import_pos_orders
    report = importer(session, actor, data, mapping=columns, file_name=upload.filename)
    if dry_run:
        session.rollback()
    return report_out(report, dry_run)


@router.post("/imports/pos-members", response_model=PosImportOut)
def import_members(
    session: Uow,
    actor: CurrentActor,
    file: CsvFile,
    mapping: MappingField = None,
    dry_run: DryRunField = False,
) -> PosImportOut:
    """Import a POS member export: fields pos_member_number and/or phone (one at least), name,
    gender, birthday, store_code, joined_at. Members are matched by POS member number, then
    phone; new ones join with join channel ``pos``. All-or-nothing: a bad row answers 422
    ``import_rejected`` with every bad line and its reason; importing again changes nothing.
    Needs ``import:run``, or ``order:write`` for a franchisee owner or store manager (rows
    for other stores are bad rows)."""
    return run_import(session, actor, "pos_members", file, mapping, dry_run)


@router.post("/imports/pos-orders", response_model=PosImportOut)
def import_orders(
    session: Uow,
    actor: CurrentActor,
    file: CsvFile,
    mapping: MappingField = None,
    dry_run: DryRunField = False,
) -> PosImportOut:
    """Import a POS sales export, one line per row: order_number, store_code, placed_at,
    sku_code, quantity, amount_yuan or amount_fen (required), pos_member_number, phone,
    order_total. Returns are lines with negative quantity and amount. Receipts are deduplicated
    by order number, so importing again changes nothing. All-or-nothing like the member import;
    the same permissions."""
    return run_import(session, actor, "pos_orders", file, mapping, dry_run)


@router.get("/reports/private-domain-share", response_model=PrivateDomainShareOut)
def private_domain_share(
    session: Uow,
    actor: CurrentActor,
    date_from: Annotated[date, Query(alias="from", description="First day (Asia/Shanghai)")],
    date_to: Annotated[
        date, Query(alias="to", description="Day after the last (Asia/Shanghai), excluded")
    ],
    store_id: int | None = None,
    region_id: int | None = None,
    by_day: bool = False,
) -> PrivateDomainShareOut:
    """Private-domain share (私域 GMV 占比) = online GMV (paid mall and cloud-store orders, net
    of refunds) / all GMV (online + offline POS orders, net of returns), for the stores in
    your scope, one store or one region. Money in fen; the share as a 4-decimal string and in
    permille. Needs ``report:read``."""
    return service.private_domain_share(
        session,
        actor,
        date_from=date_from,
        date_to=date_to,
        store_id=store_id,
        region_id=region_id,
        by_day=by_day,
    )
