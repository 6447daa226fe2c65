"""Shapes of login and API-token requests and responses."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints


class ApiTokenCreate(BaseModel):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    kind: Literal["user", "integration"] = "user"
    scopes: list[str] | None = Field(
        default=None,
        description="Permissions the token may use; default: all of the owner's (user tokens). "
        "Integration tokens must list theirs.",
    )
    expires_in_days: Annotated[int, Field(ge=1, le=3650)] | None = None


class ApiTokenOut(BaseModel):
    id: int
    name: str
    kind: str
    staff_id: int | None
    token_prefix: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiTokenIssuedOut(ApiTokenOut):
    token: str = Field(description="Shown once; store it now")


class WhoAmI(BaseModel):
    brand_id: int
    brand_slug: str
    kind: str
    label: str
    role: str | None
    scope: str
    staff_id: int | None
    region_id: int | None
    store_id: int | None
    franchisee_id: int | None
    permissions: list[str]
