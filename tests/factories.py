"""Factories: build brands, org units, staff and tokens through the real services."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from siyu.access.rules import Actor, Role, system_actor
from siyu.access.schemas import ApiTokenCreate
from siyu.access.service import actor_for_staff, issue_token
from siyu.brands.models import Brand
from siyu.brands.service import create_brand
from siyu.org.models import Franchisee, Ownership, Region, StockLocation, Store
from siyu.org.schemas import FranchiseeCreate, RegionCreate, StoreCreate, WarehouseCreate
from siyu.org.service import create_franchisee, create_region, create_store, create_warehouse
from siyu.staff.models import Staff
from siyu.staff.schemas import StaffCreate
from siyu.staff.service import hire_staff

PASSWORD = "correct-horse-battery"
_serial = itertools.count(1)


def make_brand(session: Session, slug: str | None = None) -> Brand:
    n = next(_serial)
    return create_brand(session, slug=slug or f"brand-{n}", name=f"Brand {n}")


def make_region(session: Session, actor: Actor, code: str | None = None) -> Region:
    code = code or f"R{next(_serial)}"
    return create_region(session, actor, RegionCreate(code=code, name=f"Region {code}"))


def make_franchisee(session: Session, actor: Actor, code: str | None = None) -> Franchisee:
    code = code or f"F{next(_serial)}"
    return create_franchisee(session, actor, FranchiseeCreate(code=code, name=f"Franchisee {code}"))


def make_store(
    session: Session,
    actor: Actor,
    region: Region,
    franchisee: Franchisee | None = None,
    code: str | None = None,
) -> Store:
    code = code or f"S{next(_serial)}"
    return create_store(
        session,
        actor,
        StoreCreate(
            code=code,
            name=f"Store {code}",
            region_id=region.id,
            ownership=Ownership.FRANCHISE if franchisee else Ownership.DIRECT,
            franchisee_id=franchisee.id if franchisee else None,
            opening_hours="10:00-22:00",
        ),
    )


def make_warehouse(session: Session, actor: Actor, code: str | None = None) -> StockLocation:
    code = code or f"W{next(_serial)}"
    return create_warehouse(session, actor, WarehouseCreate(code=code, name=f"Warehouse {code}"))


def make_staff(
    session: Session,
    actor: Actor,
    role: Role,
    *,
    login: str | None = None,
    password: str | None = PASSWORD,
    region: Region | None = None,
    store: Store | None = None,
    franchisee: Franchisee | None = None,
    phone: str | None = None,
) -> Staff:
    n = next(_serial)
    return hire_staff(
        session,
        actor,
        StaffCreate(
            code=f"E{n}",
            name=f"{role.value} {n}",
            role=role,
            login=login or f"{role.value.replace('_', '-')}-{n}",
            password=password,
            region_id=region.id if region else None,
            store_id=store.id if store else None,
            franchisee_id=franchisee.id if franchisee else None,
            phone=phone,
        ),
    )


def token_for(session: Session, staff: Staff, scopes: list[str] | None = None) -> str:
    _, plain = issue_token(
        session, actor_for_staff(staff), ApiTokenCreate(name="test", scopes=scopes)
    )
    return plain


@dataclass
class World:
    """One brand with two regions: region A holds a direct store and a franchised store, region
    B one direct store; a warehouse; one staff member of every role and a token for each."""

    brand: Brand
    system: Actor
    region_a: Region
    region_b: Region
    franchisee: Franchisee
    direct_store: Store
    franchise_store: Store
    other_store: Store
    warehouse: StockLocation
    staff: dict[str, Staff] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


def build_world(session: Session, slug: str | None = None) -> World:
    brand = make_brand(session, slug)
    system = system_actor(brand.id, "test")
    region_a = make_region(session, system)
    region_b = make_region(session, system)
    franchisee = make_franchisee(session, system)
    direct_store = make_store(session, system, region_a)
    franchise_store = make_store(session, system, region_a, franchisee)
    other_store = make_store(session, system, region_b)
    warehouse = make_warehouse(session, system)
    world = World(
        brand,
        system,
        region_a,
        region_b,
        franchisee,
        direct_store,
        franchise_store,
        other_store,
        warehouse,
    )
    world.staff = {
        "brand_admin": make_staff(session, system, Role.BRAND_ADMIN),
        "hq_operator": make_staff(session, system, Role.HQ_OPERATOR),
        "region_manager": make_staff(session, system, Role.REGION_MANAGER, region=region_a),
        "franchisee_owner": make_staff(
            session, system, Role.FRANCHISEE_OWNER, franchisee=franchisee
        ),
        "store_manager": make_staff(session, system, Role.STORE_MANAGER, store=direct_store),
        "guide": make_staff(session, system, Role.GUIDE, store=direct_store, phone="13812345678"),
        "other_guide": make_staff(session, system, Role.GUIDE, store=other_store),
    }
    world.tokens = {who: token_for(session, staff) for who, staff in world.staff.items()}
    _, world.tokens["integration"] = issue_token(
        session, system, ApiTokenCreate(name="erp", kind="integration", scopes=["org:read"])
    )
    session.flush()
    return world
