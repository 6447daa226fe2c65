"""HTTP API of touchpoints: the registry, codes and bulk code runs (staff), scene resolution
(storefront).

Images: a link QR is a QR of ``https://mp.example/launch?scene=KEY``; a mini-program code comes
from WeChat (``getwxacodeunlimit``, the sandbox by default) once and is kept; see
``siyu.touchpoints.codes``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from siyu.core.pagination import MAX_PAGE_SIZE, Page
from siyu.touchpoints import codes, rules, runs, service
from siyu.touchpoints.models import StoreCodeRun, TouchpointCode
from siyu.touchpoints.rules import BUILT_IN_BY_CODE, CARRIER_LABELS, Carrier, CodeImage, Medium
from siyu.touchpoints.schemas import (
    SceneOut,
    StoreCodeRunOut,
    StoreCodesRequest,
    TouchpointCodeCreate,
    TouchpointCodeOut,
    TouchpointCodeUpdate,
    TouchpointCreate,
    TouchpointKindCreate,
    TouchpointKindOut,
    TouchpointOut,
    TouchpointUpdate,
)
from siyu.web.deps import CurrentActor, CurrentConsumer, Uow

router = APIRouter(tags=["touchpoints"])
storefront_router = APIRouter(prefix="/storefront", tags=["storefront"])


RUNS = "/touchpoints/store-codes/runs"
Responses = dict[int | str, dict[str, Any]]
PNG: Responses = {200: {"content": {"image/png": {}}}}
SVG: Responses = {200: {"content": {"image/svg+xml": {}}}}
ZIP: Responses = {200: {"content": {"application/zip": {}}}}


def code_out(code: TouchpointCode) -> TouchpointCodeOut:
    medium = Medium(code.medium)
    return TouchpointCodeOut(
        id=code.id,
        label=code.label,
        medium=medium,
        active=code.active,
        scene_key=code.scene_key,
        wecom_state=code.wecom_state,
        page=code.page,
        parameter=rules.medium_parameter(medium, code.scene_key, code.wecom_state, code.page),
        created_at=code.created_at,
    )


def run_out(run: StoreCodeRun, archive_path: str = "/api" + RUNS) -> StoreCodeRunOut:
    """``archive_path``: where this adapter serves a run's ZIP (the console has its own)."""
    ready = run.status == runs.SUCCEEDED and run.archive_bytes is not None
    return StoreCodeRunOut(
        id=run.id,
        status=run.status,
        kind=run.kind,
        campaign=run.campaign,
        medium=Medium(run.medium),
        page=run.page,
        stores_done=run.stores_done,
        stores_total=run.stores_total,
        error=run.error,
        archive_url=f"{archive_path}/{run.id}/archive" if ready else None,
        archive_bytes=run.archive_bytes,
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
    )


def _png(image: CodeImage) -> Response:
    return Response(image.png, media_type="image/png")


def _svg(image: CodeImage) -> Response:
    return Response(image.svg_document(), media_type="image/svg+xml")


def _zip(content: bytes, filename: str) -> Response:
    return Response(
        content,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def run_archive_response(run: StoreCodeRun, content: bytes) -> Response:
    """A run's ZIP as a download (here and in the console)."""
    return _zip(content, f"codes-{run.kind}-run{run.id}.zip")


def _out(view: service.TouchpointView) -> TouchpointOut:
    row = view.touchpoint
    return TouchpointOut(
        id=row.id,
        code=row.code,
        name=row.name,
        kind=row.kind,
        store_id=row.store_id,
        region_id=row.region_id,
        staff_id=row.staff_id,
        campaign=row.campaign,
        cost_fen=row.cost_fen,
        active=row.active,
        codes=[code_out(c) for c in view.codes],
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _kind_out(code: str, name: str, carrier: Carrier) -> TouchpointKindOut:
    return TouchpointKindOut(
        code=code,
        name=name,
        carrier=carrier,
        carrier_label=CARRIER_LABELS[carrier],
        built_in=code in BUILT_IN_BY_CODE,
    )


@router.get("/touchpoint-kinds", response_model=list[TouchpointKindOut])
def list_touchpoint_kinds(session: Uow, actor: CurrentActor) -> list[TouchpointKindOut]:
    """Built-in kinds (with Chinese labels) and the brand's own, grouped by carrier."""
    return [_kind_out(k.code, k.label, k.carrier) for k in service.list_kinds(session, actor)]


@router.post(
    "/touchpoint-kinds", response_model=TouchpointKindOut, status_code=status.HTTP_201_CREATED
)
def create_touchpoint_kind(
    data: TouchpointKindCreate, session: Uow, actor: CurrentActor
) -> TouchpointKindOut:
    row = service.create_kind(session, actor, data)
    return _kind_out(row.code, row.name, Carrier(row.carrier))


@router.get("/touchpoints", response_model=Page[TouchpointOut])
def list_touchpoints(
    session: Uow,
    actor: CurrentActor,
    store_id: int | None = None,
    kind: Annotated[str | None, Query(max_length=48)] = None,
    active: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[TouchpointOut]:
    views, total = service.list_touchpoints(
        session, actor, store_id=store_id, kind=kind, active=active, limit=limit, offset=offset
    )
    return Page[TouchpointOut](
        items=[_out(v) for v in views], total=total, limit=limit, offset=offset
    )


@router.post("/touchpoints", response_model=TouchpointOut, status_code=status.HTTP_201_CREATED)
def create_touchpoint(data: TouchpointCreate, session: Uow, actor: CurrentActor) -> TouchpointOut:
    return _out(service.create_touchpoint(session, actor, data))


@router.post("/touchpoints/store-codes", response_class=Response, responses=ZIP)
def store_codes(data: StoreCodesRequest, session: Uow, actor: CurrentActor) -> Response:
    """布码 for up to 100 stores, answered at once: one code of a kind per store (every store
    in scope, or ``store_ids`` / ``region_id``), as a ZIP ready to print (a sheet per store with
    its name, the bare PNG codes, an index CSV). Stores that already have such a touchpoint
    keep theirs; a second call prints the same. More stores: start a run."""
    printed = runs.store_codes(session, actor, data)
    return _zip(rules.codes_zip(printed), f"codes-{data.kind}.zip")


@router.post(RUNS, response_model=StoreCodeRunOut, status_code=status.HTTP_202_ACCEPTED)
def start_store_code_run(
    data: StoreCodesRequest, response: Response, session: Uow, actor: CurrentActor
) -> StoreCodeRunOut:
    """布码 in bulk as a background run (1,000 stores and more): answers at once with the run;
    poll it for progress, then download its ``archive_url`` (the same ZIP as the synchronous
    endpoint)."""
    run = runs.start_run(session, actor, data)
    response.headers["Location"] = f"/api{RUNS}/{run.id}"
    return run_out(run)


@router.get(RUNS, response_model=list[StoreCodeRunOut])
def list_store_code_runs(
    session: Uow, actor: CurrentActor, limit: Annotated[int, Query(ge=1, le=100)] = 20
) -> list[StoreCodeRunOut]:
    """Your runs (HQ: the brand's), newest first."""
    return [run_out(run) for run in runs.list_runs(session, actor, limit=limit)]


@router.get(RUNS + "/{run_id}", response_model=StoreCodeRunOut)
def get_store_code_run(run_id: int, session: Uow, actor: CurrentActor) -> StoreCodeRunOut:
    """Status (queued, running, succeeded, failed), stores done of total, and the ZIP's link."""
    return run_out(runs.get_run(session, actor, run_id))


@router.get(RUNS + "/{run_id}/archive", response_class=Response, responses=ZIP)
def store_code_run_archive(run_id: int, session: Uow, actor: CurrentActor) -> Response:
    """The run's ZIP: 409 archive_not_ready until it succeeded."""
    return run_archive_response(*runs.run_archive(session, actor, run_id))


@router.get("/touchpoints/{touchpoint_id}", response_model=TouchpointOut)
def get_touchpoint(touchpoint_id: int, session: Uow, actor: CurrentActor) -> TouchpointOut:
    return _out(service.get_touchpoint(session, actor, touchpoint_id))


@router.patch("/touchpoints/{touchpoint_id}", response_model=TouchpointOut)
def update_touchpoint(
    touchpoint_id: int, data: TouchpointUpdate, session: Uow, actor: CurrentActor
) -> TouchpointOut:
    return _out(service.update_touchpoint(session, actor, touchpoint_id, data))


@router.get("/touchpoints/{touchpoint_id}/code.png", response_class=Response, responses=PNG)
def touchpoint_code_png(touchpoint_id: int, session: Uow, actor: CurrentActor) -> Response:
    """The touchpoint's default (first) code as a PNG."""
    return _png(codes.code_image(session, actor, touchpoint_id))


@router.get("/touchpoints/{touchpoint_id}/code.svg", response_class=Response, responses=SVG)
def touchpoint_code_svg(touchpoint_id: int, session: Uow, actor: CurrentActor) -> Response:
    """The touchpoint's default (first) code as an SVG."""
    return _svg(codes.code_image(session, actor, touchpoint_id))


@router.get("/touchpoints/{touchpoint_id}/codes", response_model=list[TouchpointCodeOut])
def list_touchpoint_codes(
    touchpoint_id: int, session: Uow, actor: CurrentActor
) -> list[TouchpointCodeOut]:
    """Every code the touchpoint issued, the default first."""
    return [code_out(c) for c in codes.list_codes(session, actor, touchpoint_id)]


@router.post(
    "/touchpoints/{touchpoint_id}/codes",
    response_model=TouchpointCodeOut,
    status_code=status.HTTP_201_CREATED,
)
def issue_touchpoint_code(
    touchpoint_id: int, data: TouchpointCodeCreate, session: Uow, actor: CurrentActor
) -> TouchpointCodeOut:
    """Another code (print batch, shelf, medium) with its own scene key."""
    return code_out(codes.issue_code(session, actor, touchpoint_id, data))


@router.patch("/touchpoints/{touchpoint_id}/codes/{code_id}", response_model=TouchpointCodeOut)
def update_touchpoint_code(
    touchpoint_id: int,
    code_id: int,
    data: TouchpointCodeUpdate,
    session: Uow,
    actor: CurrentActor,
) -> TouchpointCodeOut:
    """Relabel or (de)activate a code; a deactivated code still resolves, as inactive."""
    return code_out(codes.update_code(session, actor, touchpoint_id, code_id, data))


@router.get(
    "/touchpoints/{touchpoint_id}/codes/{code_id}.png", response_class=Response, responses=PNG
)
def touchpoint_code_image_png(
    touchpoint_id: int, code_id: int, session: Uow, actor: CurrentActor
) -> Response:
    return _png(codes.code_image(session, actor, touchpoint_id, code_id))


@router.get(
    "/touchpoints/{touchpoint_id}/codes/{code_id}.svg", response_class=Response, responses=SVG
)
def touchpoint_code_image_svg(
    touchpoint_id: int, code_id: int, session: Uow, actor: CurrentActor
) -> Response:
    """An SVG: vector for codes drawn here, the PNG embedded for a mini-program code."""
    return _svg(codes.code_image(session, actor, touchpoint_id, code_id))


@storefront_router.get("/scenes/{scene_key}", response_model=SceneOut)
def resolve_scene(scene_key: str, session: Uow, consumer: CurrentConsumer) -> SceneOut:
    """The touchpoint a scene key names (any of its codes), for the consumer's brand. A key the
    brand never issued answers ``{"known": false}``: an unknown source, never an error; a
    deactivated code (or touchpoint) answers ``"active": false``."""
    found = service.resolve_scene(session, consumer.brand.id, scene_key)
    tp, code = found.touchpoint, found.code
    if tp is None or code is None:
        return SceneOut(scene_key=scene_key, known=False)
    return SceneOut(
        scene_key=scene_key,
        known=True,
        touchpoint_id=tp.id,
        kind=tp.kind,
        carrier=found.carrier,
        store_id=tp.store_id,
        region_id=tp.region_id,
        guide_staff_id=tp.staff_id,
        campaign=tp.campaign,
        active=found.active,
        code_id=code.id,
        medium=Medium(code.medium),
    )
