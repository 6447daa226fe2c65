"""Finding and creating members by their identifiers (the identity graph's basic moves).

Merging two members lives in ``siyu.members.merging``; this module never merges, it only reports
which members an identifier set touches.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ARRAY, BigInteger, ColumnElement, DateTime, String, func, literal, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeEngine

from siyu.core.clock import utc_now
from siyu.members import events
from siyu.members.models import Member, MemberIdentity
from siyu.outbox.events import DomainEvent
from siyu.outbox.service import record_event, record_events


class IdentityKind(StrEnum):
    MINI_PROGRAM_OPENID = "mini_program_openid"
    OFFICIAL_ACCOUNT_OPENID = "official_account_openid"
    UNIONID = "unionid"
    WECOM_EXTERNAL_USERID = "wecom_external_userid"
    PHONE = "phone"
    POS_MEMBER_NUMBER = "pos_member_number"


_MAINLAND_MOBILE = re.compile(r"^1[3-9]\d{9}$")


def normalize_phone(raw: str) -> str | None:
    """The canonical form of a phone number (11-digit mainland mobile, ``+86`` and separators
    dropped), or None when it is not a valid mainland mobile number."""
    digits = re.sub(r"[\s\-()]", "", raw.strip())
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    return digits if _MAINLAND_MOBILE.match(digits) else None


def survivor_of(session: Session, brand_id: int, member_id: int) -> Member:
    """The active member a (possibly merged) member id resolves to. No locks."""
    member = session.get(Member, (brand_id, member_id))
    seen = 0
    while member is not None and member.merged_into_id is not None and seen < 32:
        member = session.get(Member, (brand_id, member.merged_into_id))
        seen += 1
    if member is None:
        raise LookupError(f"member {member_id} of brand {brand_id} does not exist")
    return member


def members_by_identities(
    session: Session, brand_id: int, identities: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], int]:
    """Which member (id, as stored: may be merged) each known identifier points to. No locks."""
    wanted = list(identities)
    if not wanted:
        return {}
    rows = session.execute(
        select(MemberIdentity.kind, MemberIdentity.value, MemberIdentity.member_id).where(
            MemberIdentity.brand_id == brand_id,
            MemberIdentity.kind.in_({kind for kind, _ in wanted}),
            MemberIdentity.value.in_({value for _, value in wanted}),
        )
    ).all()
    found = {(kind, value): member_id for kind, value, member_id in rows}
    return {key: found[key] for key in wanted if key in found}


def find_member(session: Session, brand_id: int, kind: str, value: str) -> Member | None:
    """The active member an identifier names, following merges; None when nobody has it."""
    found = members_by_identities(session, brand_id, [(kind, value)])
    if not found:
        return None
    return survivor_of(session, brand_id, found[(kind, value)])


def add_identities(
    session: Session,
    brand_id: int,
    member_id: int,
    identities: Iterable[tuple[str, str]],
    *,
    source: str,
) -> list[tuple[str, str]]:
    """Attach identifiers to a member; returns the ones that were new.

    An identifier already held by this member is skipped; one held by *another* member is
    skipped too (the caller decides about merging, see ``siyu.members.merging``). Side effects:
    MemberIdentityAdded per new identifier.
    """
    added: list[tuple[str, str]] = []
    for kind, value in identities:
        result = session.execute(
            insert(MemberIdentity)
            .values(brand_id=brand_id, member_id=member_id, kind=kind, value=value, source=source)
            .on_conflict_do_nothing(index_elements=["brand_id", "kind", "value"])
            .returning(MemberIdentity.id)
        ).first()
        if result is not None:
            added.append((kind, value))
            record_event(
                session, brand_id, events.MemberIdentityAdded(member_id=member_id, kind=kind)
            )
    return added


@dataclass(frozen=True)
class NewMember:
    """One member for ``register_members``: what ``register_member`` takes besides ``source``."""

    identities: Sequence[tuple[str, str]] = ()
    joined_at: datetime | None = None
    join_channel: str | None = None
    phone: str | None = None
    display_name: str | None = None
    source_touchpoint_id: int | None = None
    source_store_id: int | None = None
    source_guide_staff_id: int | None = None
    home_store_id: int | None = None

    def all_identities(self) -> list[tuple[str, str]]:
        """The identifiers to record: ``identities`` and the phone, each once."""
        found = list(dict.fromkeys(self.identities))
        if self.phone is not None and (IdentityKind.PHONE.value, self.phone) not in found:
            found.append((IdentityKind.PHONE.value, self.phone))
        return found


def register_member(
    session: Session,
    brand_id: int,
    *,
    identities: Sequence[tuple[str, str]],
    source: str,
    joined_at: datetime | None = None,
    join_channel: str | None = None,
    phone: str | None = None,
    display_name: str | None = None,
    source_touchpoint_id: int | None = None,
    source_store_id: int | None = None,
    source_guide_staff_id: int | None = None,
    home_store_id: int | None = None,
) -> Member:
    """Create a member with its identifiers (none of which may be taken: check first with
    ``members_by_identities``). ``joined_at`` set makes it a member at once (lifecycle ``new``),
    otherwise a prospect. ``phone`` must be normalized; it is also recorded as a phone identity.
    Side effects: MemberRegistered, MemberJoined when joined, MemberIdentityAdded per identifier
    (see ``register_members``, which this calls with one row).
    """
    new = NewMember(
        identities=tuple(identities),
        joined_at=joined_at,
        join_channel=join_channel,
        phone=phone,
        display_name=display_name,
        source_touchpoint_id=source_touchpoint_id,
        source_store_id=source_store_id,
        source_guide_staff_id=source_guide_staff_id,
        home_store_id=home_store_id,
    )
    (member_id,) = register_members(session, brand_id, [new], source=source)
    return session.get_one(Member, (brand_id, member_id))


def register_members(
    session: Session, brand_id: int, rows: Sequence[NewMember], *, source: str
) -> list[int]:
    """Create members with their identifiers, set-wise; their ids, in the order of ``rows``.

    Each row becomes what ``register_member`` makes of it. None of the identifiers may be taken
    (check first with ``members_by_identities``) nor named by two rows: one taken anyway is
    skipped without its event, as ``add_identities`` does. Three statements whatever the size
    (members, identities, events), no locks. Side effects, member by member in ``rows`` order:
    MemberRegistered, MemberIdentityAdded per identifier, MemberJoined when joined.
    """
    if not rows:
        return []
    now = utc_now()
    member_ids = _insert_members(session, brand_id, rows, now)
    wanted = [
        (member_id, kind, value)
        for member_id, row in zip(member_ids, rows, strict=True)
        for kind, value in row.all_identities()
    ]
    added = _insert_identities(session, brand_id, wanted, source)
    recorded: list[DomainEvent] = []
    for member_id, row in zip(member_ids, rows, strict=True):
        recorded.append(
            events.MemberRegistered(
                member_id=member_id, source=source, joined=row.joined_at is not None
            )
        )
        recorded.extend(
            events.MemberIdentityAdded(member_id=member_id, kind=kind)
            for kind, value in row.all_identities()
            if added.get((kind, value)) == member_id
        )
        if row.joined_at is not None:
            recorded.append(
                events.MemberJoined(
                    member_id=member_id,
                    join_channel=row.join_channel or source,
                    source_touchpoint_id=row.source_touchpoint_id,
                    source_store_id=row.source_store_id,
                    source_guide_staff_id=row.source_guide_staff_id,
                )
            )
    record_events(session, brand_id, recorded)
    return member_ids


def _array(values: Sequence[object], item_type: TypeEngine[Any]) -> ColumnElement[Any]:
    return literal(list(values), ARRAY(item_type))


def _insert_members(
    session: Session, brand_id: int, rows: Sequence[NewMember], now: datetime
) -> list[int]:
    columns: dict[str, tuple[TypeEngine[Any], list[Any]]] = {
        "display_name": (String(), [r.display_name for r in rows]),
        "phone": (String(), [r.phone for r in rows]),
        "joined_at": (DateTime(timezone=True), [r.joined_at for r in rows]),
        "join_channel": (
            String(),
            [r.join_channel if r.joined_at is not None else None for r in rows],
        ),
        "source_touchpoint_id": (BigInteger(), [r.source_touchpoint_id for r in rows]),
        "source_store_id": (BigInteger(), [r.source_store_id for r in rows]),
        "source_guide_staff_id": (BigInteger(), [r.source_guide_staff_id for r in rows]),
        "home_store_id": (
            BigInteger(),
            [r.home_store_id if r.home_store_id is not None else r.source_store_id for r in rows],
        ),
        "lifecycle_stage": (
            String(),
            ["new" if r.joined_at is not None else "prospect" for r in rows],
        ),
        "lifecycle_changed_at": (
            DateTime(timezone=True),
            [r.joined_at if r.joined_at is not None else now for r in rows],
        ),
    }
    given = (
        func.unnest(*(_array(values, item_type) for item_type, values in columns.values()))
        .table_valued(*columns, with_ordinality="ordinal")
        .render_derived(name="new_member")
    )
    # PostgreSQL numbers identity values in the order an INSERT .. SELECT .. ORDER BY produces
    # its rows (SQLAlchemy's insertmanyvalues relies on the same), so the ascending new ids are
    # the rows in input order.
    statement = (
        insert(Member)
        .from_select(
            ["brand_id", *columns],
            select(literal(brand_id, BigInteger()), *(given.c[name] for name in columns)).order_by(
                given.c.ordinal
            ),
        )
        .returning(Member.id)
    )
    member_ids = sorted(session.scalars(statement))
    if len(member_ids) != len(rows):
        raise RuntimeError(f"inserted {len(member_ids)} members for {len(rows)} rows")
    return member_ids


def _insert_identities(
    session: Session, brand_id: int, wanted: Sequence[tuple[int, str, str]], source: str
) -> dict[tuple[str, str], int]:
    """Insert what is free; (kind, value) -> member id of each identifier inserted."""
    if not wanted:
        return {}
    given = (
        func.unnest(
            _array([member_id for member_id, _, _ in wanted], BigInteger()),
            _array([kind for _, kind, _ in wanted], String()),
            _array([value for _, _, value in wanted], String()),
        )
        .table_valued("member_id", "kind", "value", with_ordinality="ordinal")
        .render_derived(name="new_identity")
    )
    statement = (
        insert(MemberIdentity)
        .from_select(
            ["brand_id", "member_id", "kind", "value", "source"],
            select(
                literal(brand_id, BigInteger()),
                given.c.member_id,
                given.c.kind,
                given.c.value,
                literal(source, String()),
            ).order_by(given.c.ordinal),
        )
        .on_conflict_do_nothing(index_elements=["brand_id", "kind", "value"])
        .returning(MemberIdentity.kind, MemberIdentity.value, MemberIdentity.member_id)
    )
    return {(kind, value): member_id for kind, value, member_id in session.execute(statement)}
