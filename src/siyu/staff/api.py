"""HTTP API of staff."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from siyu.access.rules import Role
from siyu.core.pagination import MAX_PAGE_SIZE, Page
from siyu.staff import service
from siyu.staff.schemas import PasswordSet, StaffCreate, StaffOut, StaffUpdate, staff_out
from siyu.web.deps import CurrentActor, Uow

router = APIRouter(tags=["staff"])


@router.get("/staff", response_model=Page[StaffOut])
def list_staff(
    session: Uow,
    actor: CurrentActor,
    store_id: int | None = None,
    role: Role | None = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[StaffOut]:
    rows, total = service.list_staff(
        session, actor, store_id=store_id, role=role, search=q, limit=limit, offset=offset
    )
    return Page[StaffOut](
        items=[staff_out(r) for r in rows], total=total, limit=limit, offset=offset
    )


@router.post("/staff", response_model=StaffOut, status_code=status.HTTP_201_CREATED)
def hire_staff(data: StaffCreate, session: Uow, actor: CurrentActor) -> StaffOut:
    return staff_out(service.hire_staff(session, actor, data))


@router.get("/staff/{staff_id}", response_model=StaffOut)
def get_staff(staff_id: int, session: Uow, actor: CurrentActor) -> StaffOut:
    return staff_out(service.get_staff(session, actor, staff_id))


@router.patch("/staff/{staff_id}", response_model=StaffOut)
def change_staff(staff_id: int, data: StaffUpdate, session: Uow, actor: CurrentActor) -> StaffOut:
    return staff_out(service.change_staff(session, actor, staff_id, data))


@router.put("/staff/{staff_id}/password", status_code=status.HTTP_204_NO_CONTENT)
def set_password(staff_id: int, data: PasswordSet, session: Uow, actor: CurrentActor) -> Response:
    service.set_password(session, actor, staff_id, data.password)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
