"""Merging members: two profiles of one person become one, losing nothing.

Every table that references a member does so through ``(brand_id, member_id)`` with a foreign
key to ``member(brand_id, id)``; a merge finds those tables by introspecting the metadata
(``siyu.db.models``), so a domain added later is repointed without changes here. Rows of the
merged member that would collide with the survivor's on a unique constraint or unique index
including the member column are dropped first (the survivor's row wins).

The merged member keeps its row (``status = 'merged'``, ``merged_into_id``) so that ids kept
elsewhere still resolve (``identity.survivor_of``); its counters move to the survivor.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache

from sqlalchemy import (
    Column,
    Index,
    PrimaryKeyConstraint,
    Table,
    UniqueConstraint,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql.base import PGDialect
from sqlalchemy.orm import Session

from siyu.access.rules import Actor
from siyu.audit.service import record_change
from siyu.core.snapshot import row_snapshot
from siyu.members import events, rules
from siyu.members.errors import (
    MemberAlreadyMerged,
    MemberMergePhoneConflict,
    MemberNotFound,
    MergeWithItself,
)
from siyu.members.identity import IdentityKind, add_identities, members_by_identities, survivor_of
from siyu.members.lifecycle import evaluate_lifecycle
from siyu.members.locks import lock_members
from siyu.members.models import Member, MemberIdentity
from siyu.outbox.service import record_event

DIALECT = PGDialect()  # type: ignore[no-untyped-call]
MERGED_COUNTERS = ("order_count", "total_spent_fen", "growth_value", "points_balance")


@dataclass(frozen=True)
class MemberReference:
    """A column that points to a member, and the unique keys of its table that include it
    (each as its other columns and the partial index's predicate, if any)."""

    table: Table
    column: Column[int]
    unique_keys: tuple[tuple[tuple[str, ...], str | None], ...]


def _predicate(index: Index) -> str | None:
    where = index.dialect_options["postgresql"].get("where")  # partial index: its predicate
    if where is None:
        return None
    return str(where.compile(dialect=DIALECT, compile_kwargs={"literal_binds": True}))


def _unique_keys(table: Table, column: str) -> tuple[tuple[tuple[str, ...], str | None], ...]:
    keys: list[tuple[tuple[str, ...], str | None]] = []
    for constraint in table.constraints:
        if not isinstance(constraint, UniqueConstraint | PrimaryKeyConstraint):
            continue
        names = [c.name for c in constraint.columns]
        if column in names:
            keys.append((tuple(n for n in names if n != column), None))
    for index in table.indexes:
        names = [c.name for c in index.columns]
        if index.unique and column in names:
            keys.append((tuple(n for n in names if n != column), _predicate(index)))
    return tuple(keys)


@cache
def member_references() -> tuple[MemberReference, ...]:
    """Every ``(brand_id, X) -> member(brand_id, id)`` foreign key in the metadata."""
    from siyu.db.models import Base  # every model registered: the complete metadata

    found: list[MemberReference] = []
    for table in Base.metadata.sorted_tables:
        for constraint in table.foreign_key_constraints:
            if constraint.referred_table.name != "member":
                continue
            pairs = {e.parent.name: e.column.name for e in constraint.elements}
            if len(pairs) != 2 or pairs.get("brand_id") != "brand_id":
                continue
            (column,) = [name for name, target in pairs.items() if target == "id"]
            found.append(MemberReference(table, table.c[column], _unique_keys(table, column)))
    return tuple(found)


def _quoted(name: str) -> str:
    return DIALECT.identifier_preparer.quote(name)


def _drop_collisions(session: Session, reference: MemberReference, params: dict[str, int]) -> None:
    table = _quoted(reference.table.name)
    column = _quoted(reference.column.name)
    keys = [_quoted(c.name) for c in reference.table.primary_key.columns]
    for others, predicate in reference.unique_keys:
        other = [_quoted(name) for name in others]
        where = f" AND ({predicate})" if predicate else ""
        selected = ", ".join(dict.fromkeys([*keys, *other]))
        matches = " AND ".join(
            [f"t.{k} = m.{k}" for k in keys] + [f"m.{o} = s.{o}" for o in other] or ["true"]
        )
        # Table, column and predicate names come from the metadata, never from input.
        session.execute(
            text(
                f"WITH m AS (SELECT {selected} FROM {table}"
                f" WHERE brand_id = :brand_id AND {column} = :merged_id{where}),"
                f" s AS (SELECT {selected} FROM {table}"
                f" WHERE brand_id = :brand_id AND {column} = :survivor_id{where})"
                f" DELETE FROM {table} AS t USING m, s WHERE {matches}"
            ),
            params,
        )


def repoint_references(
    session: Session,
    brand_id: int,
    survivor_id: int,
    merged_id: int,
    references: Iterable[MemberReference] | None = None,
) -> None:
    """Point every reference to ``merged_id`` at ``survivor_id`` (all of ``member_references``
    unless given), dropping the merged member's rows that would collide with the survivor's
    on a unique key. No locks of its own: ``merge_members`` holds both member rows."""
    params = {"brand_id": brand_id, "survivor_id": survivor_id, "merged_id": merged_id}
    for reference in member_references() if references is None else references:
        _drop_collisions(session, reference, params)
        table = reference.table
        session.execute(
            update(table)
            .where(table.c.brand_id == brand_id, reference.column == merged_id)
            .values({reference.column.name: survivor_id})
        )


def _phone_of(session: Session, member: Member) -> str | None:
    """The member's phone, or its phone identifier when the row has none (POS imports)."""
    if member.phone is not None:
        return member.phone
    return session.scalar(
        select(MemberIdentity.value)
        .where(
            MemberIdentity.brand_id == member.brand_id,
            MemberIdentity.member_id == member.id,
            MemberIdentity.kind == IdentityKind.PHONE.value,
        )
        .order_by(MemberIdentity.id)
        .limit(1)
    )


def _profile(member: Member, phone: str | None) -> rules.Profile:
    values = {name: getattr(member, name) for name in rules.PROFILE_FIELDS}
    values["phone"] = phone
    return rules.Profile(**values)


def merge_members(
    session: Session,
    brand_id: int,
    survivor_id: int,
    merged_id: int,
    *,
    reason: str,
    actor: Actor | None = None,
) -> Member:
    """Fold member ``merged_id`` into ``survivor_id``; returns the survivor.

    Locks both member rows in id order. Moves identities and consumers and repoints every
    member reference (see the module docstring); adds up points, growth and the purchase
    summary; keeps the earliest joining with its source; keeps the survivor's phone or takes
    the other's (``rules.merged_profile``). Side effects: the merged row marked merged, an
    audit entry when ``actor`` did it, MembersMerged, the survivor's lifecycle re-evaluated.
    Raises MergeWithItself, MemberNotFound, MemberAlreadyMerged, MemberMergePhoneConflict
    (two different phones) — before writing anything.
    """
    if survivor_id == merged_id:
        raise MergeWithItself("A member cannot be merged with itself.", field="other_member_id")
    locked = lock_members(session, brand_id, [survivor_id, merged_id])
    survivor, merged = locked.get(survivor_id), locked.get(merged_id)
    if survivor is None or merged is None:
        missing = survivor_id if survivor is None else merged_id
        raise MemberNotFound(f"Member {missing} was not found.")
    for member in (survivor, merged):
        if member.status != "active":
            raise MemberAlreadyMerged(
                f"Member {member.id} was already merged into member {member.merged_into_id}."
            )
    survivor_phone, merged_phone = _phone_of(session, survivor), _phone_of(session, merged)
    if rules.phones_conflict(survivor_phone, merged_phone):
        raise MemberMergePhoneConflict(
            f"Members {survivor_id} and {merged_id} have different phone numbers;"
            " they are not merged.",
            extra={"member_ids": [survivor_id, merged_id]},
        )
    before = {"survivor": row_snapshot(survivor), "merged": row_snapshot(merged)}
    combined = rules.merged_profile(
        _profile(survivor, survivor_phone), _profile(merged, merged_phone)
    )
    session.flush()
    repoint_references(session, brand_id, survivor.id, merged.id)
    session.expire_all()
    survivor = session.get_one(Member, (brand_id, survivor_id))  # locked above
    merged = session.get_one(Member, (brand_id, merged_id))
    merged.status = "merged"
    merged.merged_into_id = survivor.id
    for counter in MERGED_COUNTERS:
        setattr(merged, counter, 0)
    # The phone is unique among active members: the merged one must stop being active first.
    session.flush()
    for name in rules.PROFILE_FIELDS:
        setattr(survivor, name, getattr(combined, name))
    session.flush()
    if combined.phone is not None:
        add_identities(
            session,
            brand_id,
            survivor.id,
            [(IdentityKind.PHONE.value, combined.phone)],
            source="merge",
        )
    if actor is not None:
        record_change(
            session,
            actor,
            action="member.merge",
            object_type="member",
            object_id=survivor.id,
            before=before,
            after={"survivor": row_snapshot(survivor), "merged": row_snapshot(merged)},
        )
    record_event(
        session,
        brand_id,
        events.MembersMerged(member_id=survivor.id, merged_member_id=merged.id, reason=reason),
    )
    evaluate_lifecycle(session, survivor)
    return survivor


def link_identities(
    session: Session,
    brand_id: int,
    member_id: int,
    identities: Iterable[tuple[str, str]],
    source: str,
) -> Member:
    """Attach identifiers to a member, merging with every member that already holds one.

    The oldest member of the group survives (``rules.oldest``); returns it (it may not be
    ``member_id``). Checks phones across the whole group before writing: raises
    MemberMergePhoneConflict with nothing written when two of them have different phones.
    Side effects: see ``merge_members`` (reason ``identity:<source>``) and ``add_identities``.
    """
    wanted = list(dict.fromkeys(identities))
    current = survivor_of(session, brand_id, member_id)
    holders = {
        survivor_of(session, brand_id, holder).id
        for holder in members_by_identities(session, brand_id, wanted).values()
    }
    group = holders | {current.id}
    if len(group) > 1:
        _refuse_phone_conflicts(session, brand_id, sorted(group))
        survivor_id = rules.oldest(group)
        for other in sorted(group - {survivor_id}):
            merge_members(session, brand_id, survivor_id, other, reason=f"identity:{source}")
        current = survivor_of(session, brand_id, survivor_id)
    add_identities(session, brand_id, current.id, wanted, source=source)
    return current


def _refuse_phone_conflicts(session: Session, brand_id: int, member_ids: Sequence[int]) -> None:
    """Lock the group (id order) and refuse when two of its members have different phones."""
    members = lock_members(session, brand_id, member_ids)
    phones = {
        member_id: phone
        for member_id, member in members.items()
        if (phone := _phone_of(session, member)) is not None
    }
    if len(set(phones.values())) > 1:
        raise MemberMergePhoneConflict(
            "These identifiers belong to members with different phone numbers;"
            " they are not merged.",
            extra={"member_ids": sorted(phones)},
        )
