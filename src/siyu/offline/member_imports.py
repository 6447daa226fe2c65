"""Importing POS members from CSV: all-or-nothing, idempotent by POS member number and phone.

Fields (see ``imports`` for the column mapping): ``pos_member_number`` and/or ``phone`` (at
least one per row), ``name, gender, birthday, store_code, joined_at``. ``store_code`` is the
store the member joined at (their home and source store); outside HQ it is required and must be
one of the importer's stores. ``joined_at`` defaults to the time of the import.

Each row is matched to a member by its POS member number, then by its phone (normalized to the
11-digit mainland form):
- nobody: a new member joins (``siyu.members.identity.register_members``, all new members of
  the file at once, join channel ``pos``) with both identifiers;
- one member: the identifiers it lacks are attached, and blank profile fields (name, gender,
  birthday, home store) filled; never overwritten. A prospect (known online, never joined)
  joins with the row's ``joined_at``;
- the POS number and the phone name two different members: a bad row. Members are never
  merged by an import; merging is a decision for ``siyu.members.merging``.
A member found by POS number whose profile has another phone is a bad row too (the file and
the profile disagree; a person has one phone here). The same POS number or phone twice in one
file is a bad row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime

from sqlalchemy import ARRAY, BigInteger, Date, String, func, literal, update
from sqlalchemy.orm import Session

from siyu.access.rules import Actor
from siyu.core.clock import SHANGHAI, utc_now
from siyu.core.csvfile import (
    CsvSource,
    ImportRejected,
    ProgressCallback,
    RowError,
    chunked,
    import_writes,
    report_progress,
)
from siyu.members.identity import IdentityKind, NewMember, add_identities, register_members
from siyu.members.locks import lock_members
from siyu.members.membership import join_member
from siyu.members.models import Member
from siyu.offline import rules
from siyu.offline.events import PosMembersImported
from siyu.offline.imports import (
    LOOKUP_CHUNK,
    PosField,
    PosFile,
    PosImportReport,
    StoreCodes,
    identity_owners,
    mobile,
    moment_until,
    read_pos_file,
    record_import,
    require_pos_import,
    text_of,
)
from siyu.offline.locks import lock_pos_import
from siyu.offline.rules import ImportKind
from siyu.outbox.service import record_event

POS = IdentityKind.POS_MEMBER_NUMBER.value
PHONE = IdentityKind.PHONE.value
SOURCE = "pos_import"
JOIN_CHANNEL = "pos"


@dataclass(frozen=True)
class _Row:
    line: int
    pos_number: str
    phone: str | None
    name: str | None
    gender: str | None
    birthday: date | None
    store_id: int | None
    joined_at: datetime | None


def import_pos_members(
    session: Session,
    actor: Actor,
    source: CsvSource,
    *,
    mapping: Mapping[str, str] | None = None,
    file_name: str | None = None,
    progress: ProgressCallback | None = None,
) -> PosImportReport:
    """Create or complete the members of ``source`` (see the module's docstring). The report
    counts rows: ``created`` new members, ``updated`` members that gained an identifier or a
    field, ``unchanged`` the rest.

    Needs ``import:run`` (or, for a franchisee owner or store manager, ``order:write``, for
    their stores only). Takes the brand's POS-members import lock, then locks the matched
    members (id order). Side effects: the members domain's events for each new or joined
    member and each identifier attached; the import record, its audit entry and one
    PosMembersImported event when anything changed. Raises InvalidMapping, ImportRejected
    (every bad row, nothing written), ImportConflict. Does not commit.
    """
    require_pos_import(actor)
    pos = read_pos_file(ImportKind.POS_MEMBERS, source, mapping or {})
    lock_pos_import(session, actor.brand_id, ImportKind.POS_MEMBERS)
    stores = StoreCodes(session, actor)
    rows, errors = _check(pos, stores, progress)
    owners = identity_owners(
        session,
        actor.brand_id,
        [(POS, r.pos_number) for r in rows if r.pos_number]
        + [(PHONE, r.phone) for r in rows if r.phone],
    )
    matches: dict[int, int] = {}
    for row in rows:
        by_number = owners.get((POS, row.pos_number)) if row.pos_number else None
        by_phone = owners.get((PHONE, row.phone)) if row.phone else None
        if by_number is not None and by_phone is not None and by_number != by_phone:
            errors.append(
                RowError(
                    row.line,
                    None,
                    "the POS member number and the phone on this row belong to two different "
                    "members; merge them or correct the row (an import never merges members)",
                )
            )
        else:
            found = by_number if by_number is not None else by_phone
            if found is not None:
                matches[row.line] = found
    members = _lock_members(session, actor.brand_id, set(matches.values()))
    for row in rows:
        member = members.get(matches.get(row.line, 0))
        if member is None or not row.phone or (PHONE, row.phone) in owners:
            continue
        if member.phone is not None and member.phone != row.phone:
            errors.append(
                RowError(
                    row.line,
                    pos.column("phone"),
                    f"the member with POS member number '{row.pos_number}' has another phone; "
                    "correct the row or change the phone in the member's profile first",
                )
            )
    if errors:
        raise ImportRejected(errors)
    updated = 0
    now = utc_now()
    new: list[_Row] = []
    # Without autoflush the matched members' changes and events go out in one flush at the end
    # rather than a flush per statement the next member issues.
    with import_writes("members"), session.no_autoflush:
        for done, row in enumerate(rows, start=1):
            member = members.get(matches.get(row.line, 0))
            if member is None:
                new.append(row)
            elif _complete(session, actor.brand_id, member, row, owners, now):
                updated += 1
            report_progress(progress, "writing", done, len(rows))
        session.flush()
        member_ids = register_members(
            session, actor.brand_id, [_new_member(row, now) for row in new], source=SOURCE
        )
        _set_profiles(session, actor.brand_id, list(zip(member_ids, new, strict=True)))
    created = len(new)
    report = PosImportReport(
        kind=ImportKind.POS_MEMBERS.value,
        rows=len(rows),
        created=created,
        updated=updated,
        unchanged=len(rows) - created - updated,
    )
    if not created and not updated:
        return report
    record = record_import(
        session,
        actor,
        pos,
        file_name=file_name,
        created=created,
        updated=updated,
        unchanged=report.unchanged,
    )
    record_event(
        session,
        actor.brand_id,
        PosMembersImported(
            offline_import_id=record.id,
            created=created,
            updated=updated,
            store_ids=sorted({r.store_id for r in rows if r.store_id is not None}),
        ),
    )
    return replace(report, import_id=record.id)


# ---------------------------------------------------------------- checking


def _check(
    pos: PosFile, stores: StoreCodes, progress: ProgressCallback | None
) -> tuple[list[_Row], list[RowError]]:
    rows: list[_Row] = []
    errors: list[RowError] = []
    first_lines: dict[tuple[str, str], int] = {}
    latest = utc_now() + rules.FUTURE_TOLERANCE
    today = latest.astimezone(SHANGHAI).date()

    def birthday_of(text: str) -> date:
        day = rules.parse_day(text)
        rules.check_birthday(day, today)
        return day

    pos_number = PosField(pos, "pos_member_number", text_of(rules.MAX_NUMBER_LENGTH))
    phone = PosField(pos, "phone", mobile)
    name = PosField(pos, "name", text_of(rules.MAX_NAME_LENGTH))
    gender = PosField(pos, "gender", rules.parse_gender)
    birthday = PosField(pos, "birthday", birthday_of)
    joined_at = PosField(pos, "joined_at", moment_until(latest))
    store_id = PosField(
        pos,
        "store_code",
        stores.id_of,
        required=stores.scoped,
        missing="a value is required: you may import members only for your stores",
    )
    total = len(pos.table.rows)
    for done, row in enumerate(pos.table.rows, start=1):
        row_errors: list[RowError] = []
        number = pos_number.read(row, row_errors) or ""
        mobile_phone = phone.read(row, row_errors)
        if not pos_number.text(row) and not phone.text(row):
            row_errors.append(
                RowError(row.line, None, "give a POS member number or a phone (or both)")
            )
        values = (
            name.read(row, row_errors) or None,
            gender.read(row, row_errors),
            birthday.read(row, row_errors),
            store_id.read(row, row_errors),
            joined_at.read(row, row_errors),
        )
        for kind, value, field in (
            (POS, number, pos_number),
            (PHONE, mobile_phone or "", phone),
        ):
            if not value:
                continue
            first = first_lines.setdefault((kind, value), row.line)
            if first != row.line:
                what = "POS member number" if kind == POS else "phone"
                row_errors.append(
                    RowError(row.line, field.column, f"the same {what} is on line {first}")
                )
        if row_errors:
            errors.extend(row_errors)
        else:
            rows.append(_Row(row.line, number, mobile_phone, *values))
        report_progress(progress, "checking", done, total)
    return rows, errors


def _lock_members(session: Session, brand_id: int, member_ids: set[int]) -> dict[int, Member]:
    found: dict[int, Member] = {}
    for chunk in chunked(sorted(member_ids), LOOKUP_CHUNK):
        found.update(lock_members(session, brand_id, chunk))
    return found


# ---------------------------------------------------------------- writing


def _new_member(row: _Row, now: datetime) -> NewMember:
    return NewMember(
        identities=[(POS, row.pos_number)] if row.pos_number else [],
        joined_at=row.joined_at or now,
        join_channel=JOIN_CHANNEL,
        phone=row.phone,
        display_name=row.name,
        source_store_id=row.store_id,
        home_store_id=row.store_id,
    )


def _set_profiles(session: Session, brand_id: int, profiles: list[tuple[int, _Row]]) -> None:
    """Gender and birthday of new members (register_members does not take them), in one
    UPDATE rather than one per member."""
    given = [(member_id, row) for member_id, row in profiles if row.gender or row.birthday]
    if not given:
        return
    source = (
        func.unnest(
            literal([member_id for member_id, _ in given], ARRAY(BigInteger())),
            literal([row.gender for _, row in given], ARRAY(String())),
            literal([row.birthday for _, row in given], ARRAY(Date())),
        )
        .table_valued("member_id", "gender", "birthday")
        .render_derived(name="profile")
    )
    session.execute(
        update(Member)
        .where(Member.brand_id == brand_id, Member.id == source.c.member_id)
        .values(gender=source.c.gender, birthday=source.c.birthday)
        .execution_options(synchronize_session=False)
    )


def _complete(
    session: Session,
    brand_id: int,
    member: Member,
    row: _Row,
    owners: Mapping[tuple[str, str], int],
    now: datetime,
) -> bool:
    """Attach what the member lacks and fill blank fields from ``row``; True if it changed."""
    missing = [
        (kind, value)
        for kind, value in ((POS, row.pos_number), (PHONE, row.phone or ""))
        if value and (kind, value) not in owners
    ]
    added = add_identities(session, brand_id, member.id, missing, source=SOURCE)
    changed = bool(added)
    fills = {
        "phone": row.phone,
        "display_name": row.name,
        "gender": row.gender,
        "birthday": row.birthday,
        "home_store_id": row.store_id,
    }
    for column, value in fills.items():
        if value is not None and getattr(member, column) is None:
            setattr(member, column, value)
            changed = True
    if member.joined_at is None:
        # A prospect (known online, never joined) found in the POS member file joins.
        if member.source_store_id is None:
            member.source_store_id = row.store_id
        session.flush()  # join_member re-reads the locked row
        join_member(
            session,
            brand_id,
            member.id,
            channel=JOIN_CHANNEL,
            touchpoint=None,
            now=row.joined_at or now,
        )
        changed = True
    return changed
