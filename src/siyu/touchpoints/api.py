"""HTTP API of touchpoints: the registry and codes (staff), scene resolution (storefront).

QR images: in the sandbox the code's content is ``https://mp.example/launch?scene=KEY``; live
mode would fetch a mini-program code from WeChat (``getwxacodeunlimit``) through the WeChat
adapter, which this slice does not implement.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from siyu.core.pagination import MAX_PAGE_SIZE, Page
from siyu.touchpoints import rules, service
from siyu.touchpoints.rules import BUILT_IN_BY_CODE, CARRIER_LABELS, Carrier
from siyu.touchpoints.schemas import (
    SceneOut,
    StoreCodesRequest,
    TouchpointCodeOut,
    TouchpointCreate,
    TouchpointKindCreate,
    TouchpointKindOut,
    TouchpointOut,
    TouchpointUpdate,
)
from siyu.web.deps import CurrentActor, CurrentConsumer, Uow

router = APIRouter(tags=["touchpoints"])
storefront_router = APIRouter(prefix="/storefront", tags=["storefront"])


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
        codes=[TouchpointCodeOut.model_validate(c) for c in view.codes],
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


@router.get("/touchpoints/{touchpoint_id}", response_model=TouchpointOut)
def get_touchpoint(touchpoint_id: int, session: Uow, actor: CurrentActor) -> TouchpointOut:
    return _out(service.get_touchpoint(session, actor, touchpoint_id))


@router.patch("/touchpoints/{touchpoint_id}", response_model=TouchpointOut)
def update_touchpoint(
    touchpoint_id: int, data: TouchpointUpdate, session: Uow, actor: CurrentActor
) -> TouchpointOut:
    return _out(service.update_touchpoint(session, actor, touchpoint_id, data))


@router.get(
    "/touchpoints/{touchpoint_id}/code.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
)
def touchpoint_code_png(touchpoint_id: int, session: Uow, actor: CurrentActor) -> Response:
    """The touchpoint's code as a PNG (sandbox: a QR of the launch URL with the scene key)."""
    return Response(service.code_png(session, actor, touchpoint_id), media_type="image/png")


@router.get(
    "/touchpoints/{touchpoint_id}/code.svg",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}}},
)
def touchpoint_code_svg(touchpoint_id: int, session: Uow, actor: CurrentActor) -> Response:
    """The touchpoint's code as an SVG (sandbox: a QR of the launch URL with the scene key)."""
    return Response(service.code_svg(session, actor, touchpoint_id), media_type="image/svg+xml")


@router.post(
    "/touchpoints/store-codes",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}}},
)
def store_codes(data: StoreCodesRequest, session: Uow, actor: CurrentActor) -> Response:
    """布码 in bulk: one code of a kind per store (every store in scope, or ``store_ids``), as a
    ZIP ready to print (a sheet per store with its name, the bare PNG codes, an index CSV).
    Stores that already have such a touchpoint keep theirs; a second run prints the same."""
    printed = service.store_codes(
        session, actor, kind=data.kind, store_ids=data.store_ids, campaign=data.campaign
    )
    return Response(
        rules.codes_zip(printed),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="codes-{data.kind}.zip"'},
    )


@storefront_router.get("/scenes/{scene_key}", response_model=SceneOut)
def resolve_scene(scene_key: str, session: Uow, consumer: CurrentConsumer) -> SceneOut:
    """The touchpoint a mini-program scene key names, for the consumer's brand. A key the
    brand never issued answers ``{"known": false}``: an unknown source, never an error."""
    found = service.resolve_scene(session, consumer.brand.id, scene_key)
    tp = found.touchpoint
    if tp is None:
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
        active=tp.active,
    )
