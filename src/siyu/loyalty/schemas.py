"""Input and output shapes of tiers, the points policy, the points ledger and the member's
loyalty summary (read by the member 360)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from siyu.core.pagination import Page

TierCode = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$"
    ),
]
TierName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class TierIn(BaseModel):
    code: TierCode
    name: TierName
    min_growth_value: Annotated[int, Field(ge=0, le=10**12)]
    points_multiplier_permille: Annotated[
        int, Field(ge=0, le=100_000, description="1000 = ×1, 1500 = ×1.5")
    ] = 1000
    sort: Annotated[int, Field(ge=0, le=1000)]


class TierSetIn(BaseModel):
    """The whole ladder, replacing the brand's: unique codes, thresholds ascending with
    ``sort``, the first at growth value 0."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "tiers": [
                        {"code": "silver", "name": "银卡", "min_growth_value": 0, "sort": 1},
                        {
                            "code": "gold",
                            "name": "金卡",
                            "min_growth_value": 1000,
                            "points_multiplier_permille": 1500,
                            "sort": 2,
                        },
                    ]
                }
            ]
        }
    )

    tiers: list[TierIn] = Field(max_length=20)


class TierOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    code: str
    name: str
    min_growth_value: int
    points_multiplier_permille: int
    sort: int


class TierSetOut(BaseModel):
    tiers: list[TierOut]
    members_retiered: int = Field(
        default=0, description="Members whose tier changed with this ladder (on replace)"
    )


class PointsPolicyIn(BaseModel):
    points_per_yuan: Annotated[int, Field(ge=0, le=10_000)] = 1
    expiry_months: Annotated[int, Field(ge=1, le=120)] = 12
    redeem_points_per_yuan: Annotated[
        int, Field(ge=1, le=1_000_000, description="Points worth ¥1 at checkout")
    ] = 100
    max_redeem_permille: Annotated[
        int, Field(ge=0, le=1000, description="Points pay at most this share of the goods")
    ] = 500
    enabled: bool = True


class PointsPolicyOut(PointsPolicyIn):
    pass


class PointsEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    kind: str
    delta: int
    shortfall: int
    balance_after: int
    cause_type: str
    cause_id: int
    order_id: int | None
    occurred_at: datetime
    expires_at: datetime | None
    note: str | None


class PointsLedgerOut(Page[PointsEntryOut]):
    """A page of the member's ledger (newest first) and the balance now."""

    member_id: int
    points_balance: int


class PointsAdjustmentIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"delta": 500, "reason": "Goodwill for a late delivery"}]}
    )

    delta: Annotated[int, Field(ge=-(10**9), le=10**9, description="Points to add (or remove)")]
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class PointsAdjustmentOut(BaseModel):
    adjustment_id: int
    member_id: int
    delta: int
    reason: str
    entry: PointsEntryOut
    points_balance: int


class MemberLoyalty(BaseModel):
    """A member's tier and points at a glance (the member 360, the storefront)."""

    member_id: int
    tier_code: str | None
    tier_name: str | None
    growth_value: int
    next_tier_code: str | None = Field(description="The next tier up, if any")
    growth_to_next_tier: int | None
    points_balance: int
    points_expiring_soon: int = Field(description="Points whose lots expire within 30 days")
    next_expiry_at: datetime | None = Field(description="When the earliest open lot expires")
    recent_entries: list[PointsEntryOut] = Field(description="The last 20 ledger rows")


class StorefrontPoints(BaseModel):
    """The consumer's own points; ``member`` false (and zeros) for a consumer who is no
    member yet."""

    member: bool
    loyalty: MemberLoyalty | None
    redeem_points_per_yuan: int
    max_redeem_permille: int
    enabled: bool
