"""Input and output shapes of consumers (storefront API)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from siyu.consumers.models import Address, Consumer
from siyu.core.masking import mask_phone

Slug = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
LoginCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\+?[0-9][0-9 -]{4,30}$")]
Recipient = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Place = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
District = Annotated[str, StringConstraints(strip_whitespace=True, max_length=50)]
Detail = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]


AnonymousId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
# Scene keys are at most 32 characters; a longer or malformed one is an unknown source, not an
# error, so only absurd lengths are refused.
SceneKey = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]


class StorefrontLogin(BaseModel):
    brand: Slug
    code: LoginCode
    scene_key: SceneKey | None = Field(
        default=None, description="The scene key of the code scanned to open the mini program"
    )
    anonymous_id: AnonymousId | None = Field(
        default=None, description="The visitor id used for tracking before the login"
    )


class ConsumerOut(BaseModel):
    id: int
    nickname: str | None
    phone: str | None
    avatar_url: str | None
    status: str
    created_at: datetime


class StorefrontLoginOut(BaseModel):
    token: str
    expires_at: datetime
    created: bool
    consumer: ConsumerOut


class AddressCreate(BaseModel):
    recipient: Recipient
    phone: Phone
    province: Place
    city: Place
    district: District = ""
    detail: Detail
    is_default: bool = False


class AddressUpdate(BaseModel):
    recipient: Recipient | None = None
    phone: Phone | None = None
    province: Place | None = None
    city: Place | None = None
    district: District | None = None
    detail: Detail | None = None
    is_default: bool | None = None


class AddressOut(BaseModel):
    id: int
    recipient: str
    phone: str
    province: str
    city: str
    district: str
    detail: str
    is_default: bool
    created_at: datetime
    updated_at: datetime


def consumer_out(consumer: Consumer) -> ConsumerOut:
    return ConsumerOut(
        id=consumer.id,
        nickname=consumer.nickname,
        phone=mask_phone(consumer.phone),
        avatar_url=consumer.avatar_url,
        status=consumer.status,
        created_at=consumer.created_at,
    )


def address_out(address: Address) -> AddressOut:
    """Phones are masked: the full number is used only to ship."""
    return AddressOut(
        id=address.id,
        recipient=address.recipient,
        phone=mask_phone(address.phone) or "",
        province=address.province,
        city=address.city,
        district=address.district,
        detail=address.detail,
        is_default=address.is_default,
        created_at=address.created_at,
        updated_at=address.updated_at,
    )
