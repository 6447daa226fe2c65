"""Members as staff see them: scope, the member list and profile, and merges by hand.

Scope: brand roles see every member of the brand; region, franchisee and store roles the
members whose home store is in their store scope (siyu.org.service.store_scope); a guide the
members they acquired (``source_guide_staff_id``). Anything else is MemberNotFound, so
existence never leaks. None of these functions commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, false, func, or_, select
from sqlalchemy.orm import Session

from siyu.access.rules import Actor, Permission, ScopeKind
from siyu.core.errors import InvalidInput
from siyu.core.text import contains_pattern
from siyu.members.errors import MemberNotFound
from siyu.members.identity import IdentityKind, normalize_phone
from siyu.members.merging import merge_members
from siyu.members.models import Member, MemberIdentity
from siyu.members.rules import LifecycleStage
from siyu.org.models import Store
from siyu.org.service import store_scope


def member_scope(actor: Actor) -> ColumnElement[bool]:
    """The SQL condition for the members ``actor`` may see (brand condition included)."""
    in_brand = Member.brand_id == actor.brand_id
    if actor.scope is ScopeKind.BRAND:
        return in_brand
    if actor.scope is ScopeKind.SELF:
        if actor.staff_id is None:
            return false()
        return in_brand & (Member.source_guide_staff_id == actor.staff_id)
    return in_brand & Member.home_store_id.in_(select(Store.id).where(store_scope(actor)))


def member_in_scope(session: Session, actor: Actor, member_id: int) -> Member:
    """The member if the actor may see it, else MemberNotFound. No permission check."""
    member = session.scalar(select(Member).where(member_scope(actor), Member.id == member_id))
    if member is None:
        raise MemberNotFound(f"Member {member_id} was not found.")
    return member


def get_member(session: Session, actor: Actor, member_id: int) -> Member:
    """A member profile (merged ones too: they name their survivor). Raises PermissionDenied,
    MemberNotFound."""
    actor.require(Permission.MEMBER_READ)
    return member_in_scope(session, actor, member_id)


def list_members(
    session: Session,
    actor: Actor,
    *,
    phone: str | None = None,
    name: str | None = None,
    stage: LifecycleStage | None = None,
    tier_code: str | None = None,
    store_id: int | None = None,
    joined_from: datetime | None = None,
    joined_to: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[Sequence[Member], int]:
    """Active members in scope, newest first, and how many match. ``phone`` is matched
    exactly after normalization (the member's phone or any phone identifier), ``name``
    anywhere in the display name, ``store_id`` the home store, ``joined_from`` inclusive and
    ``joined_to`` exclusive. Raises PermissionDenied, InvalidInput (phone)."""
    actor.require(Permission.MEMBER_READ)
    conditions: list[ColumnElement[bool]] = [member_scope(actor), Member.status == "active"]
    if phone is not None:
        normalized = normalize_phone(phone)
        if normalized is None:
            raise InvalidInput(
                f"'{phone}' is not a mainland mobile number.", field="phone", code="invalid_phone"
            )
        holders = select(MemberIdentity.member_id).where(
            MemberIdentity.brand_id == actor.brand_id,
            MemberIdentity.kind == IdentityKind.PHONE.value,
            MemberIdentity.value == normalized,
        )
        conditions.append(or_(Member.phone == normalized, Member.id.in_(holders)))
    if name:
        conditions.append(Member.display_name.ilike(contains_pattern(name), escape="\\"))
    if stage is not None:
        conditions.append(Member.lifecycle_stage == stage.value)
    if tier_code:
        conditions.append(Member.tier_code == tier_code)
    if store_id is not None:
        conditions.append(Member.home_store_id == store_id)
    if joined_from is not None:
        conditions.append(Member.joined_at >= joined_from)
    if joined_to is not None:
        conditions.append(Member.joined_at < joined_to)
    total = session.scalar(select(func.count()).select_from(Member).where(*conditions)) or 0
    rows = session.scalars(
        select(Member).where(*conditions).order_by(Member.id.desc()).limit(limit).offset(offset)
    ).all()
    return rows, total


def merge_members_by_staff(
    session: Session, actor: Actor, member_id: int, other_member_id: int
) -> Member:
    """Fold ``other_member_id`` into ``member_id`` (``POST /api/members/{id}/merges``).

    Needs member:merge; both members must be in the actor's scope (else MemberNotFound).
    Audited. Raises as ``siyu.members.merging.merge_members`` (nothing written on refusal).
    """
    actor.require(Permission.MEMBER_MERGE)
    for wanted in (member_id, other_member_id):
        member_in_scope(session, actor, wanted)
    return merge_members(
        session, actor.brand_id, member_id, other_member_id, reason="staff", actor=actor
    )
