"""Input and output shapes of attribution settings and the touchpoint report."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, Field

from siyu.attribution.rules import AttributionModel

Percent = Annotated[int, Field(ge=0, le=100)]


class AttributionSettingsIn(BaseModel):
    """The brand's model. Position-based percentages must add up to 100."""

    model: AttributionModel
    lookback_days: Annotated[int, Field(ge=1, le=365)] = 30
    position_first_percent: Percent = 40
    position_middle_percent: Percent = 20
    position_last_percent: Percent = 40
    half_life_days: Annotated[int, Field(ge=1, le=365, description="Time decay")] = 7


class AttributionSettingsOut(BaseModel):
    model: AttributionModel
    model_label: str
    lookback_days: int
    position_first_percent: int
    position_middle_percent: int
    position_last_percent: int
    half_life_days: int
    customized: bool = Field(description="False while the brand uses siyu's defaults")
    updated_at: datetime | None
    recompute_pending: bool = Field(
        description="A re-attribution of every paid order is queued or running"
    )


class ReportGrouping(StrEnum):
    TOUCHPOINT = "touchpoint"
    KIND = "kind"
    STORE = "store"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


PERIOD_GROUPINGS = frozenset({ReportGrouping.DAY, ReportGrouping.WEEK, ReportGrouping.MONTH})


class TouchpointReportRow(BaseModel):
    """One group's figures. ``attributed`` false is the unknown-source row: scans of unknown
    scene keys, visits without a touchpoint, members who joined from an unknown source and
    unattributed order credit."""

    attributed: bool
    label: str
    touchpoint_id: int | None = None
    touchpoint_code: str | None = None
    kind: str | None = None
    store_id: int | None = None
    period_start: date | None = None
    scans: int
    visitors: int
    new_members: int
    orders: int = Field(description="Orders credited (any share); fully refunded ones excluded")
    credited_orders: float = Field(description="Sum of shares: permille / 1000")
    gmv_fen: int = Field(description="Credited paid amount net of refunds")
    cost_fen: int | None = Field(description="Touchpoint cost; none for period rows")
    roi: float | None = Field(description="(GMV - cost) / cost; none without a cost")


class TouchpointReport(BaseModel):
    period_start: date
    period_end: date = Field(description="Excluded")
    group_by: ReportGrouping
    model: AttributionModel
    rows: list[TouchpointReportRow]
    total_rows: int
    limit: int
    offset: int
    totals: TouchpointReportRow
