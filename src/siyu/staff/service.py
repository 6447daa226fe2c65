"""Staff: hiring, changing, disabling and reading people within the actor's scope.

Authorization: reading needs ``staff:read`` and returns only people in scope (everyone sees
themself); changing needs ``staff:write`` and ``access.rules.check_can_manage_staff`` on both
the person's current and new place. Every change is audited and published; none commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.orm import Session

from siyu.access.models import ApiToken, ConsoleSession
from siyu.access.passwords import hash_password
from siyu.access.rules import (
    Actor,
    Permission,
    Role,
    ScopeKind,
    StaffPlace,
    StorePlace,
    check_can_manage_staff,
    place_problems,
)
from siyu.audit.service import record_change, record_update
from siyu.core.clock import utc_now
from siyu.core.errors import PermissionDenied
from siyu.core.snapshot import row_snapshot
from siyu.core.text import contains_pattern
from siyu.org.errors import FranchiseeNotFound, RegionNotFound, StoreNotFound
from siyu.org.models import Franchisee, Region, Store
from siyu.org.service import store_scope
from siyu.outbox.service import record_event
from siyu.staff import events
from siyu.staff.errors import (
    DuplicateLogin,
    DuplicateStaffCode,
    InvalidStaffPlace,
    StaffNotFound,
)
from siyu.staff.locks import lock_staff
from siyu.staff.models import Staff
from siyu.staff.schemas import StaffCreate, StaffUpdate


def staff_scope(actor: Actor) -> ColumnElement[bool]:
    """The SQL condition for the staff ``actor`` may see (brand condition included)."""
    in_brand = Staff.brand_id == actor.brand_id
    myself = Staff.id == actor.staff_id
    peers: ColumnElement[bool]
    match actor.scope:
        case ScopeKind.BRAND:
            return in_brand
        case ScopeKind.SELF:
            return in_brand & myself
        case ScopeKind.REGION:
            peers = (Staff.role == Role.REGION_MANAGER.value) & (Staff.region_id == actor.region_id)
        case ScopeKind.FRANCHISEE:
            peers = (Staff.role == Role.FRANCHISEE_OWNER.value) & (
                Staff.franchisee_id == actor.franchisee_id
            )
        case _:
            peers = myself
    in_stores = Staff.store_id.in_(select(Store.id).where(store_scope(actor)))
    return in_brand & or_(in_stores, peers, myself)


def list_staff(
    session: Session,
    actor: Actor,
    *,
    store_id: int | None = None,
    role: Role | None = None,
    search: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[Sequence[Staff], int]:
    actor.require(Permission.STAFF_READ)
    conditions: list[ColumnElement[bool]] = [staff_scope(actor)]
    if store_id is not None:
        conditions.append(Staff.store_id == store_id)
    if role is not None:
        conditions.append(Staff.role == role.value)
    if search:
        pattern = contains_pattern(search)
        conditions.append(
            or_(Staff.code.ilike(pattern), Staff.name.ilike(pattern), Staff.login.ilike(pattern))
        )
    total = session.scalar(select(func.count()).select_from(Staff).where(*conditions)) or 0
    rows = session.scalars(
        select(Staff).where(*conditions).order_by(Staff.code).limit(limit).offset(offset)
    ).all()
    return rows, total


def get_staff(session: Session, actor: Actor, staff_id: int) -> Staff:
    if actor.staff_id != staff_id:
        actor.require(Permission.STAFF_READ)
    row = session.scalar(select(Staff).where(staff_scope(actor), Staff.id == staff_id))
    if row is None:
        raise StaffNotFound(f"Staff member {staff_id} was not found.")
    return row


def resolve_place(
    session: Session,
    brand_id: int,
    role: Role,
    region_id: int | None,
    store_id: int | None,
    franchisee_id: int | None,
) -> StaffPlace:
    """Check that the role has exactly the anchor its scope needs, and that it exists.

    Raises InvalidStaffPlace, RegionNotFound, StoreNotFound or FranchiseeNotFound.
    """
    given = {"region_id": region_id, "store_id": store_id, "franchisee_id": franchisee_id}
    problems = place_problems(
        role, {name.removesuffix("_id") for name, value in given.items() if value is not None}
    )
    if problems:
        anchor, reason = problems[0]
        raise InvalidStaffPlace(reason[0].upper() + reason[1:] + ".", field=f"{anchor}_id")
    store_place = None
    if store_id is not None:
        store = session.execute(
            select(Store.id, Store.region_id, Store.franchisee_id).where(
                Store.brand_id == brand_id, Store.id == store_id
            )
        ).one_or_none()
        if store is None:
            raise StoreNotFound(f"Store {store_id} was not found.", field="store_id")
        store_place = StorePlace(store.id, store.region_id, store.franchisee_id)
    if (
        region_id is not None
        and session.scalar(
            select(Region.id).where(Region.brand_id == brand_id, Region.id == region_id)
        )
        is None
    ):
        raise RegionNotFound(f"Region {region_id} was not found.", field="region_id")
    if (
        franchisee_id is not None
        and session.scalar(
            select(Franchisee.id).where(
                Franchisee.brand_id == brand_id, Franchisee.id == franchisee_id
            )
        )
        is None
    ):
        raise FranchiseeNotFound(
            f"Franchisee {franchisee_id} was not found.", field="franchisee_id"
        )
    return StaffPlace(
        staff_id=None,
        role=role,
        region_id=region_id,
        franchisee_id=franchisee_id,
        store=store_place,
    )


def _current_place(session: Session, row: Staff) -> StaffPlace:
    place = resolve_place(
        session, row.brand_id, Role(row.role), row.region_id, row.store_id, row.franchisee_id
    )
    return StaffPlace(row.id, place.role, place.region_id, place.franchisee_id, place.store)


def _check_unique(
    session: Session, brand_id: int, code: str | None, login: str | None, exclude_id: int | None
) -> None:
    others = Staff.id != exclude_id if exclude_id is not None else Staff.id.is_not(None)
    if code is not None and session.scalar(
        select(Staff.id).where(Staff.brand_id == brand_id, Staff.code == code, others)
    ):
        raise DuplicateStaffCode(f"A staff member with code '{code}' already exists.", field="code")
    if login is not None and session.scalar(
        select(Staff.id).where(Staff.brand_id == brand_id, Staff.login == login, others)
    ):
        raise DuplicateLogin(f"The login '{login}' is taken.", field="login")


def hire_staff(session: Session, actor: Actor, data: StaffCreate) -> Staff:
    """Create a staff member. Raises PermissionDenied, InvalidStaffPlace, DuplicateStaffCode,
    DuplicateLogin and the not-found errors of the place."""
    place = resolve_place(
        session, actor.brand_id, data.role, data.region_id, data.store_id, data.franchisee_id
    )
    check_can_manage_staff(actor, place)
    _check_unique(session, actor.brand_id, data.code, data.login, None)
    values = data.model_dump(exclude={"password"})
    values["role"] = data.role.value
    row = Staff(
        brand_id=actor.brand_id,
        password_hash=hash_password(data.password) if data.password else None,
        **values,
    )
    session.add(row)
    session.flush()
    publish_staff_hired(session, actor, row)
    return row


def publish_staff_hired(session: Session, actor: Actor, row: Staff) -> None:
    """Audit entry (``staff.hire``) and StaffHired event for a flushed new staff member."""
    record_change(
        session,
        actor,
        action="staff.hire",
        object_type="staff",
        object_id=row.id,
        before=None,
        after=row_snapshot(row),
    )
    record_event(
        session,
        actor.brand_id,
        events.StaffHired(
            staff_id=row.id,
            code=row.code,
            role=row.role,
            region_id=row.region_id,
            store_id=row.store_id,
            franchisee_id=row.franchisee_id,
        ),
    )


def publish_staff_changed(
    session: Session, actor: Actor, row: Staff, before: dict[str, Any]
) -> dict[str, Any]:
    """Audit entry and StaffChanged event for what changed since ``before``; returns it."""
    changes = record_update(session, actor, object_type="staff", row=row, before=before)
    if changes:
        record_event(session, actor.brand_id, events.StaffChanged(staff_id=row.id, changes=changes))
    return changes


def change_staff(session: Session, actor: Actor, staff_id: int, data: StaffUpdate) -> Staff:
    """Change the fields sent. Locks the staff row. Disabling someone revokes their console
    sessions and API tokens in the same transaction. Nobody changes their own role, place or
    active flag."""
    get_staff(session, actor, staff_id)
    row = lock_staff(session, actor.brand_id, staff_id)
    assert row is not None
    sent = data.model_dump(exclude_unset=True)
    sensitive = {"role", "region_id", "store_id", "franchisee_id", "active"} & sent.keys()
    if actor.staff_id == staff_id and sensitive:
        raise PermissionDenied(
            "You cannot change your own role, place or access.", field=sorted(sensitive)[0]
        )
    check_can_manage_staff(actor, _current_place(session, row))
    if {"role", "region_id", "store_id", "franchisee_id"} & sent.keys():
        role = Role(sent.get("role") or row.role)
        if "role" in sent and not {"region_id", "store_id", "franchisee_id"} & sent.keys():
            raise InvalidStaffPlace(
                "Changing a role needs the new place too (region_id, store_id or franchisee_id"
                " as the role requires, or none for HQ roles).",
                field="role",
            )
        anchors: dict[str, Any] = {
            "region_id": sent.get("region_id"),
            "store_id": sent.get("store_id"),
            "franchisee_id": sent.get("franchisee_id"),
        }
        if "role" not in sent:
            for name in anchors:
                if name not in sent:
                    anchors[name] = getattr(row, name)
        new_place = resolve_place(session, actor.brand_id, role, **anchors)
        check_can_manage_staff(actor, new_place)
        sent.update(anchors, role=role.value)
    _check_unique(session, actor.brand_id, None, sent.get("login"), row.id)
    before = row_snapshot(row)
    if "active" in sent:
        active = sent.pop("active")
        if active is not None:
            row.status = "active" if active else "disabled"
            if not active:
                revoke_credentials(session, actor.brand_id, row.id)
    for key, value in sent.items():
        if value is not None or key in {"region_id", "store_id", "franchisee_id", "phone", "email"}:
            setattr(row, key, value)
    publish_staff_changed(session, actor, row, before)
    return row


def set_password(session: Session, actor: Actor, staff_id: int, password: str) -> None:
    """Set a console password: for oneself, or for someone the actor may manage. Other sessions
    of that person are revoked."""
    get_staff(session, actor, staff_id)
    row = lock_staff(session, actor.brand_id, staff_id)
    assert row is not None
    if actor.staff_id != staff_id:
        check_can_manage_staff(actor, _current_place(session, row))
    row.password_hash = hash_password(password)
    if actor.staff_id != staff_id:
        revoke_credentials(session, actor.brand_id, row.id, tokens=False)
    record_change(
        session,
        actor,
        action="staff.set_password",
        object_type="staff",
        object_id=row.id,
        before=None,
        after={"password": "changed"},
    )
    record_event(session, actor.brand_id, events.StaffPasswordSet(staff_id=row.id))


def revoke_credentials(
    session: Session, brand_id: int, staff_id: int, *, tokens: bool = True
) -> None:
    now = utc_now()
    session.execute(
        update(ConsoleSession)
        .where(
            ConsoleSession.brand_id == brand_id,
            ConsoleSession.staff_id == staff_id,
            ConsoleSession.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    if tokens:
        session.execute(
            update(ApiToken)
            .where(
                ApiToken.brand_id == brand_id,
                ApiToken.staff_id == staff_id,
                ApiToken.revoked_at.is_(None),
            )
            .values(revoked_at=now)
        )
