"""HTTP API of access: who am I, and API tokens."""

from __future__ import annotations

from fastapi import APIRouter, status

from siyu.access import service
from siyu.access.models import ApiToken
from siyu.access.schemas import ApiTokenCreate, ApiTokenIssuedOut, ApiTokenOut, WhoAmI
from siyu.web.deps import CurrentToken, Uow

router = APIRouter(tags=["access"])


def token_out(row: ApiToken) -> ApiTokenOut:
    return ApiTokenOut(
        id=row.id,
        name=row.name,
        kind=row.kind,
        staff_id=row.staff_id,
        token_prefix=row.token_prefix,
        scopes=list(row.scopes),
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


@router.get("/me", response_model=WhoAmI)
def who_am_i(context: CurrentToken) -> WhoAmI:
    actor = context.actor
    return WhoAmI(
        brand_id=actor.brand_id,
        brand_slug=context.brand.slug,
        kind=actor.kind.value,
        label=actor.label,
        role=actor.role.value if actor.role else None,
        scope=actor.scope.value,
        staff_id=actor.staff_id,
        region_id=actor.region_id,
        store_id=actor.store_id,
        franchisee_id=actor.franchisee_id,
        permissions=sorted(p.value for p in actor.permissions),
    )


@router.get("/tokens", response_model=list[ApiTokenOut])
def list_tokens(session: Uow, context: CurrentToken) -> list[ApiTokenOut]:
    return [token_out(t) for t in service.list_tokens(session, context.actor)]


@router.post("/tokens", response_model=ApiTokenIssuedOut, status_code=status.HTTP_201_CREATED)
def issue_token(data: ApiTokenCreate, session: Uow, context: CurrentToken) -> ApiTokenIssuedOut:
    row, plain = service.issue_token(session, context.actor, data)
    return ApiTokenIssuedOut(**token_out(row).model_dump(), token=plain)


@router.delete("/tokens/{token_id}", response_model=ApiTokenOut)
def revoke_token(token_id: int, session: Uow, context: CurrentToken) -> ApiTokenOut:
    return token_out(service.revoke_token(session, context.actor, token_id))
