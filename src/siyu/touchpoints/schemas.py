"""Input and output shapes of touchpoints, their kinds and codes, bulk code runs and scene
resolution."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from siyu.org.schemas import Code, Name
from siyu.touchpoints.rules import PAGE_MAX_LENGTH, PAGE_PATTERN, Carrier, Medium

KindCode = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=48, pattern=r"^[a-z][a-z0-9_]*$"
    ),
]
Campaign = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
CostFen = Annotated[int, Field(ge=0, le=10**12, description="Cost in fen (分), optional")]
Page = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=PAGE_MAX_LENGTH, pattern=PAGE_PATTERN
    ),
    Field(description="Mini-program page, e.g. pages/store/index (no leading /, no query)"),
]
CodeLabel = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
MEDIUM_HELP = (
    "link_qr (普通二维码), mini_program_code (小程序码), official_account_qr (公众号带参二维码) "
    "or wecom_contact_way (企业微信联系我)"
)


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
    medium: Medium = Field(default=Medium.LINK_QR, description="Of the first code: " + MEDIUM_HELP)
    page: Page | None = Field(default=None, description="Of a first mini-program code")


class TouchpointUpdate(BaseModel):
    name: Name | None = None
    kind: KindCode | None = None
    campaign: Campaign | None = None
    cost_fen: CostFen | None = None
    active: bool | None = None


class TouchpointCodeCreate(BaseModel):
    """Another code of the touchpoint: per print batch, shelf or medium."""

    label: CodeLabel
    medium: Medium = Field(default=Medium.LINK_QR, description=MEDIUM_HELP)
    page: Page | None = Field(default=None, description="Mini-program codes only; default home")


class TouchpointCodeUpdate(BaseModel):
    label: CodeLabel | None = None
    active: bool | None = Field(default=None, description="A deactivated code still resolves")
    page: Page | None = None


class TouchpointCodeOut(BaseModel):
    """``parameter`` is what the code carries, as its platform names it: the link QR's URL,
    the mini-program ``page?scene=``, the official account's ``scene_str``, WeCom's
    ``state``."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    label: str
    medium: Medium
    active: bool
    scene_key: str
    wecom_state: str
    page: str | None
    parameter: str
    created_at: datetime


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
    code_id: int | None = None
    medium: Medium | None = None


class StoreCodesRequest(BaseModel):
    """One code of ``kind`` per store: the stores in your scope, narrowed to ``store_ids``
    and/or ``region_id``; placed at ``campaign`` if given; printed as ``medium``."""

    kind: KindCode = Field(description="e.g. shelf_code, counter_code, receipt_code, poster")
    store_ids: list[int] | None = Field(
        default=None, max_length=5000, description="Default: every store in your scope"
    )
    region_id: int | None = Field(default=None, description="Only the stores of this region")
    campaign: Campaign | None = None
    medium: Medium = Field(default=Medium.LINK_QR, description=MEDIUM_HELP)
    page: Page | None = Field(default=None, description="Mini-program codes only; default home")


class StoreCodeRunOut(BaseModel):
    """A bulk 布码 run: ``status`` queued, running, succeeded or failed; progress in stores;
    ``archive_url`` (the ZIP) once it succeeded."""

    id: int
    status: str
    kind: str
    campaign: str | None
    medium: Medium
    page: str | None
    stores_done: int
    stores_total: int
    error: str | None
    archive_url: str | None
    archive_bytes: int | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
