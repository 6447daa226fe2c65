"""Input and output shapes of the organization domain (API, console and CSV import share them)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Annotated

import orjson
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from siyu.core.masking import mask_phone
from siyu.org.models import Franchisee, LocationKind, Ownership, Store, StoreStatus
from siyu.org.rules import format_opening_hours

Code = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
    ),
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\+?[0-9][0-9 -]{4,30}$")]
OpeningHoursValue = dict[str, list[tuple[str, str]]]


class RegionCreate(BaseModel):
    code: Code
    name: Name


class RegionUpdate(BaseModel):
    name: Name | None = None


class RegionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    code: str
    name: str
    created_at: datetime
    updated_at: datetime


class FranchiseeCreate(BaseModel):
    code: Code
    name: Name
    contact_name: Annotated[str, StringConstraints(max_length=100)] | None = None
    contact_phone: Phone | None = None


class FranchiseeUpdate(BaseModel):
    name: Name | None = None
    contact_name: Annotated[str, StringConstraints(max_length=100)] | None = None
    contact_phone: Phone | None = None


class FranchiseeOut(BaseModel):
    id: int
    code: str
    name: str
    contact_name: str | None
    contact_phone: str | None = Field(description="Masked: 138****1234")
    created_at: datetime
    updated_at: datetime


class StoreCreate(BaseModel):
    code: Code
    name: Name
    region_id: int
    ownership: Ownership = Ownership.DIRECT
    franchisee_id: int | None = None
    address: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""
    latitude: Annotated[Decimal, Field(ge=-90, le=90, decimal_places=6)] | None = None
    longitude: Annotated[Decimal, Field(ge=-180, le=180, decimal_places=6)] | None = None
    opening_hours: OpeningHoursValue | str = Field(
        default_factory=dict,
        description="Either {'mon': [['10:00','22:00']], ...} or text: "
        "'10:00-22:00' or 'mon-fri 10:00-22:00; sat,sun 09:00-23:00'.",
    )
    status: StoreStatus = StoreStatus.OPEN
    phone: Phone | None = None


class StoreUpdate(BaseModel):
    """Only the fields sent are changed."""

    name: Name | None = None
    region_id: int | None = None
    ownership: Ownership | None = None
    franchisee_id: int | None = None
    address: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None
    latitude: Annotated[Decimal, Field(ge=-90, le=90, decimal_places=6)] | None = None
    longitude: Annotated[Decimal, Field(ge=-180, le=180, decimal_places=6)] | None = None
    opening_hours: OpeningHoursValue | str | None = None
    status: StoreStatus | None = None
    phone: Phone | None = None


class StoreOut(BaseModel):
    id: int
    code: str
    name: str
    region_id: int
    ownership: Ownership
    franchisee_id: int | None
    address: str
    latitude: Decimal | None
    longitude: Decimal | None
    opening_hours: dict[str, list[list[str]]]
    opening_hours_text: str
    status: StoreStatus
    phone: str | None = Field(description="Masked: 138****1234")
    created_at: datetime
    updated_at: datetime


class WarehouseCreate(BaseModel):
    code: Code
    name: Name
    region_id: int | None = None
    franchisee_id: int | None = Field(
        default=None, description="Set when the goods in it belong to a franchisee"
    )
    address: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""


class StockLocationUpdate(BaseModel):
    name: Name | None = None
    address: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None
    is_active: bool | None = None


class StockLocationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    code: str
    name: str
    kind: LocationKind
    store_id: int | None
    region_id: int | None
    franchisee_id: int | None
    address: str
    is_active: bool
    created_at: datetime
    updated_at: datetime


def franchisee_out(row: Franchisee) -> FranchiseeOut:
    return FranchiseeOut(
        id=row.id,
        code=row.code,
        name=row.name,
        contact_name=row.contact_name,
        contact_phone=mask_phone(row.contact_phone),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


@lru_cache(maxsize=4096)
def _opening_hours_text(serialized_hours: bytes) -> str:
    return format_opening_hours(orjson.loads(serialized_hours))


def opening_hours_text(hours: dict[str, list[list[str]]]) -> str:
    """``format_opening_hours``, remembered: most stores of a brand share a few schedules."""
    return _opening_hours_text(orjson.dumps(hours))


def store_out(row: Store) -> StoreOut:
    """Built without re-validation: the row's values satisfy the schema by the table's own
    constraints, and a page of 1,000 stores would otherwise spend most of its time here."""
    return StoreOut.model_construct(
        id=row.id,
        code=row.code,
        name=row.name,
        region_id=row.region_id,
        ownership=Ownership(row.ownership),
        franchisee_id=row.franchisee_id,
        address=row.address,
        latitude=row.latitude,
        longitude=row.longitude,
        opening_hours=row.opening_hours,
        opening_hours_text=opening_hours_text(row.opening_hours),
        status=StoreStatus(row.status),
        phone=mask_phone(row.phone),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class StoreLeaf(BaseModel):
    id: int
    code: str
    name: str
    ownership: Ownership
    franchisee_id: int | None
    status: StoreStatus


class RegionBranchOut(BaseModel):
    id: int
    code: str
    name: str
    stores: list[StoreLeaf]


class OrgTreeOut(BaseModel):
    regions: list[RegionBranchOut]
    franchisees: list[FranchiseeOut]
    warehouses: list[StockLocationOut]
