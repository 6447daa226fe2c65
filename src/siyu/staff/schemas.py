"""Input and output shapes of the staff domain."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from siyu.access.rules import Role
from siyu.core.masking import mask_phone
from siyu.org.schemas import Code, Name, Phone
from siyu.staff.models import Staff

Login = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        to_lower=True,
        min_length=2,
        max_length=64,
        pattern=r"^[a-z0-9][a-z0-9_.@-]*$",
    ),
]
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=200, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
]
Password = Annotated[str, StringConstraints(min_length=10, max_length=200)]


class StaffCreate(BaseModel):
    code: Code = Field(description="Employee number, unique within the brand")
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    role: Role
    phone: Phone | None = None
    email: Email | None = None
    login: Login | None = Field(default=None, description="Console login name")
    password: Password | None = Field(default=None, description="At least 10 characters")
    region_id: int | None = None
    store_id: int | None = None
    franchisee_id: int | None = None


class StaffUpdate(BaseModel):
    """Only the fields sent are changed. Moving a person changes role and place together."""

    name: Name | None = None
    role: Role | None = None
    phone: Phone | None = None
    email: Email | None = None
    login: Login | None = None
    region_id: int | None = None
    store_id: int | None = None
    franchisee_id: int | None = None
    active: bool | None = None


class PasswordSet(BaseModel):
    password: Password


class StaffOut(BaseModel):
    id: int
    code: str
    name: str
    role: Role
    phone: str | None = Field(description="Masked: 138****1234")
    email: str | None
    login: str | None
    region_id: int | None
    store_id: int | None
    franchisee_id: int | None
    active: bool
    has_password: bool
    last_login_at: datetime | None
    created_at: datetime
    updated_at: datetime


def staff_out(row: Staff) -> StaffOut:
    return StaffOut(
        id=row.id,
        code=row.code,
        name=row.name,
        role=Role(row.role),
        phone=mask_phone(row.phone),
        email=row.email,
        login=row.login,
        region_id=row.region_id,
        store_id=row.store_id,
        franchisee_id=row.franchisee_id,
        active=row.status == "active",
        has_password=row.password_hash is not None,
        last_login_at=row.last_login_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
