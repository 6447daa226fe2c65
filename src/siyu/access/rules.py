"""Roles, permissions and scopes: who may do what, and on which part of the organization.

Pure: no I/O. Services load the facts (the actor, the target's region/store/franchisee) and
ask these functions; the answers are the single source of truth for authorization.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum

from siyu.core.errors import InvalidInput, PermissionDenied


class Role(StrEnum):
    BRAND_ADMIN = "brand_admin"
    HQ_OPERATOR = "hq_operator"
    REGION_MANAGER = "region_manager"
    STORE_MANAGER = "store_manager"
    FRANCHISEE_OWNER = "franchisee_owner"
    GUIDE = "guide"


class ScopeKind(StrEnum):
    BRAND = "brand"
    REGION = "region"
    FRANCHISEE = "franchisee"
    STORE = "store"
    SELF = "self"


class Permission(StrEnum):
    ORG_READ = "org:read"
    ORG_WRITE = "org:write"
    STORE_WRITE = "store:write"
    STAFF_READ = "staff:read"
    STAFF_WRITE = "staff:write"
    AUDIT_READ = "audit:read"
    TOKEN_MANAGE = "token:manage"  # noqa: S105 - a permission name
    INTEGRATION_MANAGE = "integration:manage"
    IMPORT_RUN = "import:run"
    STOCK_WRITE = "stock:write"
    # issue 3: the catalog (HQ) and per-store listings (千店千面)
    CATALOG_WRITE = "catalog:write"
    LISTING_WRITE = "listing:write"
    # issue 3: orders of the stores in scope; fulfilment, write-off and after-sales decisions
    ORDER_READ = "order:read"
    ORDER_WRITE = "order:write"
    # issue 3: franchise settlement (statements and ledgers in scope; rules and runs for HQ)
    SETTLEMENT_READ = "settlement:read"
    SETTLEMENT_WRITE = "settlement:write"
    # issue 4: the touchpoint registry and its codes (布码)
    TOUCHPOINT_WRITE = "touchpoint:write"
    # issue 4: members (profiles in scope; a guide sees the members they acquired), merges,
    # unmasked personal data in exports, tiers and points, tags and segments, consent policy,
    # server-side tracking, the attribution model, and touchpoint/member reports
    MEMBER_READ = "member:read"
    MEMBER_WRITE = "member:write"
    MEMBER_MERGE = "member:merge"
    MEMBER_PII = "member:pii"
    LOYALTY_WRITE = "loyalty:write"
    SEGMENT_WRITE = "segment:write"
    CONSENT_WRITE = "consent:write"
    TRACKING_WRITE = "tracking:write"
    ATTRIBUTION_WRITE = "attribution:write"
    REPORT_READ = "report:read"


ROLE_SCOPE: dict[Role, ScopeKind] = {
    Role.BRAND_ADMIN: ScopeKind.BRAND,
    Role.HQ_OPERATOR: ScopeKind.BRAND,
    Role.REGION_MANAGER: ScopeKind.REGION,
    Role.FRANCHISEE_OWNER: ScopeKind.FRANCHISEE,
    Role.STORE_MANAGER: ScopeKind.STORE,
    Role.GUIDE: ScopeKind.SELF,
}

# What a role's place is anchored by: region managers by a region, franchisee owners by a
# franchisee, store managers and guides by a store; HQ roles by nothing.
PLACE_ANCHORS = ("region", "store", "franchisee")
ANCHOR_OF_SCOPE: dict[ScopeKind, str] = {
    ScopeKind.REGION: "region",
    ScopeKind.FRANCHISEE: "franchisee",
    ScopeKind.STORE: "store",
    ScopeKind.SELF: "store",
}


def place_problems(role: Role, given: Collection[str]) -> list[tuple[str, str]]:
    """(anchor, reason) for each anchor that is given but not the role's, or the role's but
    missing. Empty when the role has exactly the anchor its scope needs."""
    needed = ANCHOR_OF_SCOPE.get(ROLE_SCOPE[role])
    problems: list[tuple[str, str]] = []
    for anchor in PLACE_ANCHORS:
        if anchor in given and anchor != needed:
            advice = f"give only {needed}" if needed else "leave region, store and franchisee empty"
            problems.append((anchor, f"a {role.value} is not attached to a {anchor}; {advice}"))
        elif anchor not in given and anchor == needed:
            problems.append((anchor, f"a {role.value} needs a {anchor} code"))
    return problems


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.BRAND_ADMIN: frozenset(Permission),
    Role.HQ_OPERATOR: frozenset(
        {
            Permission.ORG_READ,
            Permission.ORG_WRITE,
            Permission.STORE_WRITE,
            Permission.STAFF_READ,
            Permission.STAFF_WRITE,
            Permission.TOKEN_MANAGE,
            Permission.IMPORT_RUN,
            Permission.CATALOG_WRITE,
            Permission.LISTING_WRITE,
            Permission.STOCK_WRITE,
            Permission.ORDER_READ,
            Permission.ORDER_WRITE,
            Permission.SETTLEMENT_READ,
            Permission.SETTLEMENT_WRITE,
            Permission.TOUCHPOINT_WRITE,
            Permission.MEMBER_READ,
            Permission.MEMBER_WRITE,
            Permission.MEMBER_MERGE,
            Permission.LOYALTY_WRITE,
            Permission.SEGMENT_WRITE,
            Permission.CONSENT_WRITE,
            Permission.TRACKING_WRITE,
            Permission.ATTRIBUTION_WRITE,
            Permission.REPORT_READ,
        }
    ),
    Role.REGION_MANAGER: frozenset(
        {
            Permission.ORG_READ,
            Permission.STORE_WRITE,
            Permission.STAFF_READ,
            Permission.STAFF_WRITE,
            Permission.TOKEN_MANAGE,
            Permission.LISTING_WRITE,
            Permission.STOCK_WRITE,
            Permission.ORDER_READ,
            Permission.ORDER_WRITE,
            Permission.SETTLEMENT_READ,
            Permission.TOUCHPOINT_WRITE,
            Permission.MEMBER_READ,
            Permission.MEMBER_WRITE,
            Permission.SEGMENT_WRITE,
            Permission.REPORT_READ,
        }
    ),
    Role.FRANCHISEE_OWNER: frozenset(
        {
            Permission.ORG_READ,
            Permission.STORE_WRITE,
            Permission.STAFF_READ,
            Permission.STAFF_WRITE,
            Permission.TOKEN_MANAGE,
            Permission.LISTING_WRITE,
            Permission.STOCK_WRITE,
            Permission.ORDER_READ,
            Permission.ORDER_WRITE,
            Permission.SETTLEMENT_READ,
            Permission.MEMBER_READ,
            Permission.REPORT_READ,
        }
    ),
    Role.STORE_MANAGER: frozenset(
        {
            Permission.ORG_READ,
            Permission.STAFF_READ,
            Permission.STAFF_WRITE,
            Permission.TOKEN_MANAGE,
            Permission.LISTING_WRITE,
            Permission.STOCK_WRITE,
            Permission.ORDER_READ,
            Permission.ORDER_WRITE,
            Permission.TOUCHPOINT_WRITE,
            Permission.MEMBER_READ,
            Permission.MEMBER_WRITE,
            Permission.REPORT_READ,
        }
    ),
    Role.GUIDE: frozenset(
        {
            Permission.ORG_READ,
            Permission.STAFF_READ,
            Permission.TOKEN_MANAGE,
            Permission.MEMBER_READ,
            Permission.MEMBER_WRITE,
        }
    ),
}

# Lower is more senior. A manager may only manage roles strictly junior to their own
# (a brand admin may also manage other brand admins).
ROLE_RANK: dict[Role, int] = {
    Role.BRAND_ADMIN: 0,
    Role.HQ_OPERATOR: 1,
    Role.REGION_MANAGER: 2,
    Role.FRANCHISEE_OWNER: 3,
    Role.STORE_MANAGER: 4,
    Role.GUIDE: 5,
}

ROLE_LABELS: dict[Role, str] = {
    Role.BRAND_ADMIN: "Brand admin",
    Role.HQ_OPERATOR: "HQ operator",
    Role.REGION_MANAGER: "Region manager",
    Role.FRANCHISEE_OWNER: "Franchisee owner",
    Role.STORE_MANAGER: "Store manager",
    Role.GUIDE: "Guide",
}


class ActorKind(StrEnum):
    STAFF = "staff"
    INTEGRATION = "integration"
    SYSTEM = "system"


@dataclass(frozen=True)
class Actor:
    """Who is acting, for which brand, with which permissions and over which scope.

    The scope anchor is ``region_id`` for region managers, ``franchisee_id`` for franchisee
    owners and ``store_id`` for store managers and guides.
    """

    brand_id: int
    kind: ActorKind
    label: str
    permissions: frozenset[Permission]
    scope: ScopeKind
    role: Role | None = None
    staff_id: int | None = None
    token_id: int | None = None
    region_id: int | None = None
    store_id: int | None = None
    franchisee_id: int | None = None

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions

    def require(self, permission: Permission) -> None:
        """Raise PermissionDenied (403) unless the actor holds ``permission``."""
        if permission not in self.permissions:
            raise PermissionDenied(
                f"This action needs the '{permission.value}' permission.",
                extra={"permission": permission.value},
            )


def system_actor(brand_id: int, label: str = "system") -> Actor:
    """An actor for CLI imports and jobs run by the operator: the whole brand, all permissions."""
    return Actor(
        brand_id=brand_id,
        kind=ActorKind.SYSTEM,
        label=label,
        permissions=frozenset(Permission),
        scope=ScopeKind.BRAND,
    )


def staff_actor(
    *,
    brand_id: int,
    staff_id: int,
    name: str,
    role: Role,
    region_id: int | None,
    store_id: int | None,
    franchisee_id: int | None,
    token_id: int | None = None,
    token_scopes: frozenset[Permission] | None = None,
) -> Actor:
    """The actor for a staff member; a token's scopes can only narrow the role's permissions."""
    permissions = ROLE_PERMISSIONS[role]
    if token_scopes is not None:
        permissions = permissions & token_scopes
    return Actor(
        brand_id=brand_id,
        kind=ActorKind.STAFF,
        label=name,
        permissions=permissions,
        scope=ROLE_SCOPE[role],
        role=role,
        staff_id=staff_id,
        token_id=token_id,
        region_id=region_id,
        store_id=store_id,
        franchisee_id=franchisee_id,
    )


def integration_actor(
    *, brand_id: int, token_id: int, name: str, scopes: frozenset[Permission]
) -> Actor:
    return Actor(
        brand_id=brand_id,
        kind=ActorKind.INTEGRATION,
        label=f"integration:{name}",
        permissions=scopes,
        scope=ScopeKind.BRAND,
        token_id=token_id,
    )


@dataclass(frozen=True)
class StorePlace:
    """Where a store sits in the organization: what scope checks need to know about it."""

    store_id: int
    region_id: int
    franchisee_id: int | None


def can_see_region(actor: Actor, region_id: int) -> bool:
    if actor.scope is ScopeKind.BRAND:
        return True
    if actor.scope is ScopeKind.REGION:
        return actor.region_id == region_id
    return False


def can_see_store(actor: Actor, place: StorePlace) -> bool:
    if actor.scope is ScopeKind.BRAND:
        return True
    if actor.scope is ScopeKind.REGION:
        return actor.region_id == place.region_id
    if actor.scope is ScopeKind.FRANCHISEE:
        return actor.franchisee_id is not None and actor.franchisee_id == place.franchisee_id
    # store managers and guides see their own store
    return actor.store_id == place.store_id


def can_see_franchisee(actor: Actor, franchisee_id: int) -> bool:
    if actor.scope is ScopeKind.BRAND:
        return True
    if actor.scope is ScopeKind.FRANCHISEE:
        return actor.franchisee_id == franchisee_id
    return False


@dataclass(frozen=True)
class StaffPlace:
    """Where a staff member sits: their id, role and the org unit their scope is anchored to."""

    staff_id: int | None
    role: Role
    region_id: int | None
    franchisee_id: int | None
    store: StorePlace | None


def can_see_staff(actor: Actor, target: StaffPlace) -> bool:
    if actor.staff_id is not None and actor.staff_id == target.staff_id:
        return True
    if actor.scope is ScopeKind.BRAND:
        return True
    if actor.scope is ScopeKind.SELF:
        return False
    if target.store is not None:
        return can_see_store(actor, target.store)
    if actor.scope is ScopeKind.REGION:
        return target.role is Role.REGION_MANAGER and target.region_id == actor.region_id
    if actor.scope is ScopeKind.FRANCHISEE:
        return target.role is Role.FRANCHISEE_OWNER and target.franchisee_id == actor.franchisee_id
    return False


def check_can_manage_staff(actor: Actor, target: StaffPlace) -> None:
    """Raise PermissionDenied unless ``actor`` may create or change a staff member at ``target``.

    The target role must be junior to the actor's (brand admins may manage each other) and the
    target's place must lie inside the actor's scope.
    """
    actor.require(Permission.STAFF_WRITE)
    if actor.kind is not ActorKind.STAFF:
        return
    assert actor.role is not None
    actor_rank = ROLE_RANK[actor.role]
    target_rank = ROLE_RANK[target.role]
    junior = target_rank > actor_rank or actor.role is Role.BRAND_ADMIN
    if not junior:
        raise PermissionDenied(
            f"A {ROLE_LABELS[actor.role].lower()} cannot manage a "
            f"{ROLE_LABELS[target.role].lower()}.",
            field="role",
        )
    if actor.scope is ScopeKind.BRAND:
        return
    inside = target.store is not None and can_see_store(actor, target.store)
    if actor.scope is ScopeKind.REGION and target.store is None:
        inside = target.region_id == actor.region_id
    if not inside:
        raise PermissionDenied("That staff member's place is outside your scope.", field="store")


def parse_scopes(values: list[str]) -> frozenset[Permission]:
    known = {p.value: p for p in Permission}
    unknown = [v for v in values if v not in known]
    if unknown:
        raise InvalidInput(f"Unknown scope(s): {', '.join(unknown)}.", field="scopes")
    return frozenset(known[v] for v in values)
