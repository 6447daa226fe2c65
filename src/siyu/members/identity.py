"""Finding and creating members by their identifiers (the identity graph's basic moves).

Merging two members lives in ``siyu.members.merging``; this module never merges, it only reports
which members an identifier set touches.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from siyu.core.clock import utc_now
from siyu.members import events
from siyu.members.models import Member, MemberIdentity
from siyu.outbox.service import record_event


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
    Side effects: MemberRegistered, MemberJoined when joined, MemberIdentityAdded per identifier.
    """
    member = Member(
        brand_id=brand_id,
        display_name=display_name,
        phone=phone,
        joined_at=joined_at,
        join_channel=join_channel if joined_at is not None else None,
        source_touchpoint_id=source_touchpoint_id,
        source_store_id=source_store_id,
        source_guide_staff_id=source_guide_staff_id,
        home_store_id=home_store_id if home_store_id is not None else source_store_id,
        lifecycle_stage="new" if joined_at is not None else "prospect",
        lifecycle_changed_at=joined_at if joined_at is not None else utc_now(),
    )
    session.add(member)
    session.flush()
    record_event(
        session,
        brand_id,
        events.MemberRegistered(member_id=member.id, source=source, joined=joined_at is not None),
    )
    all_identities = list(identities)
    if phone is not None and (IdentityKind.PHONE.value, phone) not in all_identities:
        all_identities.append((IdentityKind.PHONE.value, phone))
    add_identities(session, brand_id, member.id, all_identities, source=source)
    if joined_at is not None:
        record_event(
            session,
            brand_id,
            events.MemberJoined(
                member_id=member.id,
                join_channel=join_channel or source,
                source_touchpoint_id=source_touchpoint_id,
                source_store_id=source_store_id,
                source_guide_staff_id=source_guide_staff_id,
            ),
        )
    return member
