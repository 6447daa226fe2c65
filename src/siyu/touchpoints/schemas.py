"""Input and output shapes of touchpoints, their kinds and scene resolution."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from siyu.org.schemas import Code, Name
from siyu.touchpoints.rules import Carrier

KindCode = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=48, pattern=r"^[a-z][a-z0-9_]*$"
    ),
]
Campaign = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
CostFen = Annotated[int, Field(ge=0, le=10**12, description="Cost in fen (分), optional")]


class TouchpointKindCreate(BaseModel):
    code: KindCode
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    carrier: Carrier


class TouchpointKindOut(BaseModel):
    code: str
    name: str
    carrier: Carrier
    carrier_label: str
    built_in: bool


class TouchpointCreate(BaseModel):
    """A touchpoint needs at least one placement: a store, a region, a guide or a campaign."""

    code: Code
    name: Name
    kind: KindCode
    store_id: int | None = None
    region_id: int | None = None
    staff_id: int | None = Field(default=None, description="A guide (staff with role guide)")
    campaign: Campaign | None = None
    cost_fen: CostFen | None = None
    active: bool = True


class TouchpointUpdate(BaseModel):
    name: Name | None = None
    kind: KindCode | None = None
    campaign: Campaign | None = None
    cost_fen: CostFen | None = None
    active: bool | None = None


class TouchpointCodeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    scene_key: str
    wecom_state: str


class TouchpointOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    code: str
    name: str
    kind: str
    store_id: int | None
    region_id: int | None
    staff_id: int | None
    campaign: str | None
    cost_fen: int | None
    active: bool
    codes: list[TouchpointCodeOut]
    created_at: datetime
    updated_at: datetime


class SceneOut(BaseModel):
    """What the mini-program learns at launch from a scene key; ``known`` false for any key
    the brand never issued (an unknown source, never an error)."""

    scene_key: str
    known: bool
    touchpoint_id: int | None = None
    kind: str | None = None
    carrier: str | None = None
    store_id: int | None = None
    region_id: int | None = None
    guide_staff_id: int | None = None
    campaign: str | None = None
    active: bool | None = None


class StoreCodesRequest(BaseModel):
    kind: KindCode = Field(description="e.g. shelf_code, counter_code, receipt_code, poster")
    store_ids: list[int] | None = Field(
        default=None, max_length=5000, description="Default: every store in your scope"
    )
    campaign: Campaign | None = None
