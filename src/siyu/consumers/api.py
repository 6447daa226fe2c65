"""Storefront API of consumers: mini-program login, who am I, and the address book.

These endpoints serve the mall's mini program: they take a consumer token
(``Authorization: Bearer siyuc_...``) from POST /api/storefront/login, never a staff token.
"""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from siyu.consumers import service
from siyu.consumers.schemas import (
    AddressCreate,
    AddressOut,
    AddressUpdate,
    ConsumerOut,
    StorefrontLogin,
    StorefrontLoginOut,
    address_out,
    consumer_out,
)
from siyu.payments.service import get_mini_program_auth
from siyu.web.deps import CurrentConsumer, Uow

router = APIRouter(prefix="/storefront", tags=["storefront"])


@router.post("/login", response_model=StorefrontLoginOut)
def log_in(data: StorefrontLogin, session: Uow) -> StorefrontLoginOut:
    """Exchange a ``wx.login`` code for a consumer token (valid 30 days). No token needed.
    Every consumer has a member; ``scene_key`` (the code scanned) makes a prospect join with
    that touchpoint as its source (扫码即会员); an unknown key is never an error.
    Refusals: 404 brand_not_found, 401 invalid_login_code / login_code_used, 429
    wechat_rate_limited, 502 wechat_unavailable."""
    consumer_session, token, consumer, created = service.log_in_consumer(
        session,
        brand_slug=data.brand,
        code=data.code,
        gateway=get_mini_program_auth(),
        scene_key=data.scene_key,
        anonymous_id=data.anonymous_id,
    )
    return StorefrontLoginOut(
        token=token,
        expires_at=consumer_session.expires_at,
        created=created,
        consumer=consumer_out(consumer),
    )


@router.get("/me", response_model=ConsumerOut)
def who_am_i(context: CurrentConsumer) -> ConsumerOut:
    return consumer_out(context.consumer)


@router.get("/addresses", response_model=list[AddressOut])
def list_addresses(session: Uow, context: CurrentConsumer) -> list[AddressOut]:
    return [address_out(a) for a in service.list_addresses(session, context)]


@router.post("/addresses", response_model=AddressOut, status_code=status.HTTP_201_CREATED)
def add_address(data: AddressCreate, session: Uow, context: CurrentConsumer) -> AddressOut:
    return address_out(service.add_address(session, context, data))


@router.patch("/addresses/{address_id}", response_model=AddressOut)
def change_address(
    address_id: int, data: AddressUpdate, session: Uow, context: CurrentConsumer
) -> AddressOut:
    return address_out(service.change_address(session, context, address_id, data))


@router.delete("/addresses/{address_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_address(address_id: int, session: Uow, context: CurrentConsumer) -> Response:
    service.remove_address(session, context, address_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
