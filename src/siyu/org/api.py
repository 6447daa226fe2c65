"""HTTP API of the organization: regions, franchisees, stores, stock locations and the tree."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from siyu.core.pagination import MAX_PAGE_SIZE, Page
from siyu.org import service
from siyu.org.models import LocationKind, StoreStatus
from siyu.org.schemas import (
    FranchiseeCreate,
    FranchiseeOut,
    FranchiseeUpdate,
    OrgTreeOut,
    RegionBranchOut,
    RegionCreate,
    RegionOut,
    RegionUpdate,
    StockLocationOut,
    StockLocationUpdate,
    StoreCreate,
    StoreLeaf,
    StoreOut,
    StoreUpdate,
    WarehouseCreate,
    franchisee_out,
    store_out,
)
from siyu.web.deps import CurrentActor, Uow

router = APIRouter(tags=["organization"])


@router.get("/org/tree", response_model=OrgTreeOut)
def get_org_tree(session: Uow, actor: CurrentActor) -> OrgTreeOut:
    tree = service.org_tree(session, actor)
    return OrgTreeOut(
        regions=[
            RegionBranchOut(
                id=branch.region.id,
                code=branch.region.code,
                name=branch.region.name,
                stores=[StoreLeaf.model_validate(s, from_attributes=True) for s in branch.stores],
            )
            for branch in tree.regions
        ],
        franchisees=[franchisee_out(f) for f in tree.franchisees],
        warehouses=[StockLocationOut.model_validate(w) for w in tree.warehouses],
    )


@router.get("/regions", response_model=list[RegionOut])
def list_regions(session: Uow, actor: CurrentActor) -> list[RegionOut]:
    return [RegionOut.model_validate(r) for r in service.list_regions(session, actor)]


@router.post("/regions", response_model=RegionOut, status_code=status.HTTP_201_CREATED)
def create_region(data: RegionCreate, session: Uow, actor: CurrentActor) -> RegionOut:
    return RegionOut.model_validate(service.create_region(session, actor, data))


@router.get("/regions/{region_id}", response_model=RegionOut)
def get_region(region_id: int, session: Uow, actor: CurrentActor) -> RegionOut:
    return RegionOut.model_validate(service.get_region(session, actor, region_id))


@router.patch("/regions/{region_id}", response_model=RegionOut)
def update_region(
    region_id: int, data: RegionUpdate, session: Uow, actor: CurrentActor
) -> RegionOut:
    return RegionOut.model_validate(service.update_region(session, actor, region_id, data))


@router.get("/franchisees", response_model=list[FranchiseeOut])
def list_franchisees(session: Uow, actor: CurrentActor) -> list[FranchiseeOut]:
    return [franchisee_out(f) for f in service.list_franchisees(session, actor)]


@router.post("/franchisees", response_model=FranchiseeOut, status_code=status.HTTP_201_CREATED)
def create_franchisee(data: FranchiseeCreate, session: Uow, actor: CurrentActor) -> FranchiseeOut:
    return franchisee_out(service.create_franchisee(session, actor, data))


@router.get("/franchisees/{franchisee_id}", response_model=FranchiseeOut)
def get_franchisee(franchisee_id: int, session: Uow, actor: CurrentActor) -> FranchiseeOut:
    return franchisee_out(service.get_franchisee(session, actor, franchisee_id))


@router.patch("/franchisees/{franchisee_id}", response_model=FranchiseeOut)
def update_franchisee(
    franchisee_id: int, data: FranchiseeUpdate, session: Uow, actor: CurrentActor
) -> FranchiseeOut:
    return franchisee_out(service.update_franchisee(session, actor, franchisee_id, data))


@router.get("/stores", response_model=Page[StoreOut])
def list_stores(
    session: Uow,
    actor: CurrentActor,
    region_id: int | None = None,
    franchisee_id: int | None = None,
    status: StoreStatus | None = None,
    q: Annotated[str | None, Query(max_length=100, description="Code or name contains")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[StoreOut]:
    rows, total = service.list_stores(
        session,
        actor,
        region_id=region_id,
        franchisee_id=franchisee_id,
        status=status.value if status else None,
        search=q,
        limit=limit,
        offset=offset,
    )
    return Page[StoreOut](
        items=[store_out(r) for r in rows], total=total, limit=limit, offset=offset
    )


@router.post("/stores", response_model=StoreOut, status_code=status.HTTP_201_CREATED)
def create_store(data: StoreCreate, session: Uow, actor: CurrentActor) -> StoreOut:
    return store_out(service.create_store(session, actor, data))


@router.get("/stores/{store_id}", response_model=StoreOut)
def get_store(store_id: int, session: Uow, actor: CurrentActor) -> StoreOut:
    return store_out(service.get_store(session, actor, store_id))


@router.patch("/stores/{store_id}", response_model=StoreOut)
def update_store(store_id: int, data: StoreUpdate, session: Uow, actor: CurrentActor) -> StoreOut:
    return store_out(service.update_store(session, actor, store_id, data))


@router.get("/stock-locations", response_model=list[StockLocationOut])
def list_stock_locations(
    session: Uow, actor: CurrentActor, kind: LocationKind | None = None
) -> list[StockLocationOut]:
    return [
        StockLocationOut.model_validate(r)
        for r in service.list_stock_locations(session, actor, kind)
    ]


@router.post("/warehouses", response_model=StockLocationOut, status_code=status.HTTP_201_CREATED)
def create_warehouse(data: WarehouseCreate, session: Uow, actor: CurrentActor) -> StockLocationOut:
    return StockLocationOut.model_validate(service.create_warehouse(session, actor, data))


@router.get("/stock-locations/{location_id}", response_model=StockLocationOut)
def get_stock_location(location_id: int, session: Uow, actor: CurrentActor) -> StockLocationOut:
    return StockLocationOut.model_validate(service.get_stock_location(session, actor, location_id))


@router.patch("/stock-locations/{location_id}", response_model=StockLocationOut)
def update_stock_location(
    location_id: int, data: StockLocationUpdate, session: Uow, actor: CurrentActor
) -> StockLocationOut:
    return StockLocationOut.model_validate(
        service.update_stock_location(session, actor, location_id, data)
    )
