"""The scope a segment or rule tag was made in, and who may see it.

A segment (or rule tag) records its maker's scope when created. Its members are always
computed within that scope (``owner_actor`` stands in for the maker when the scheduled job
recomputes it), and staff see it only when that scope lies inside theirs: HQ sees everything, a
region manager what was made for their region or for a store in it, and so on.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_, select, true

from siyu.access.rules import Actor, ActorKind, ScopeKind
from siyu.org.models import Store
from siyu.org.service import store_scope
from siyu.segments.models import OwnerScope

STORE_LEVEL = (ScopeKind.STORE.value, ScopeKind.SELF.value)


def owner_scope_of(actor: Actor) -> dict[str, Any]:
    """The ``scope_*`` column values recording ``actor``'s scope (and who made the row)."""
    return {
        "scope_kind": actor.scope.value,
        "scope_region_id": actor.region_id if actor.scope is ScopeKind.REGION else None,
        "scope_franchisee_id": (
            actor.franchisee_id if actor.scope is ScopeKind.FRANCHISEE else None
        ),
        "scope_store_id": actor.store_id if actor.scope.value in STORE_LEVEL else None,
        "scope_staff_id": actor.staff_id if actor.scope is ScopeKind.SELF else None,
        "created_by_staff_id": actor.staff_id,
    }


def owner_actor(row: OwnerScope, brand_id: int) -> Actor:
    """An actor with exactly the scope ``row`` was made in (and no permissions): what member
    scope filters are built from when the row is recomputed."""
    return Actor(
        brand_id=brand_id,
        kind=ActorKind.SYSTEM,
        label="segment owner scope",
        permissions=frozenset(),
        scope=ScopeKind(row.scope_kind),
        region_id=row.scope_region_id,
        franchisee_id=row.scope_franchisee_id,
        store_id=row.scope_store_id,
        staff_id=row.scope_staff_id,
    )


def scope_label(row: OwnerScope) -> str:
    """``brand``, ``region:3``, ``franchisee:2``, ``store:7`` or ``guide:12``."""
    match row.scope_kind:
        case "region":
            return f"region:{row.scope_region_id}"
        case "franchisee":
            return f"franchisee:{row.scope_franchisee_id}"
        case "store":
            return f"store:{row.scope_store_id}"
        case "self":
            return f"guide:{row.scope_staff_id}"
    return "brand"


def visible_to(actor: Actor, model: type[OwnerScope]) -> ColumnElement[bool]:
    """Rows of ``model`` (Segment or Tag) whose owner scope lies inside ``actor``'s scope
    (the brand condition is the caller's)."""
    kind: Any = model.scope_kind
    at_store: Any = model.scope_store_id
    if actor.scope is ScopeKind.BRAND:
        return true()
    if actor.scope is ScopeKind.SELF:
        if actor.staff_id is None:
            return false()
        return and_(kind == ScopeKind.SELF.value, model.scope_staff_id == actor.staff_id)
    stores_below = and_(
        kind.in_(STORE_LEVEL), at_store.in_(select(Store.id).where(store_scope(actor)))
    )
    if actor.scope is ScopeKind.REGION:
        own: Any = and_(kind == "region", model.scope_region_id == actor.region_id)
    elif actor.scope is ScopeKind.FRANCHISEE:
        own = and_(kind == "franchisee", model.scope_franchisee_id == actor.franchisee_id)
    else:
        own = false()
    return or_(own, stores_below)
