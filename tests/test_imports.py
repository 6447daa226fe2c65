"""CSV imports of stores and staff: all-or-nothing, idempotent, audited and published."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.access.rules import Actor, Role, staff_actor, system_actor
from siyu.audit.models import AuditEntry
from siyu.core.csvfile import ImportRejected, ImportReport, RowError
from siyu.core.errors import PermissionDenied
from siyu.org.imports import import_stores
from siyu.org.models import Franchisee, Region, StockLocation, Store
from siyu.outbox.models import OutboxEvent
from siyu.staff.imports import import_staff
from siyu.staff.models import Staff
from tests.factories import (
    make_brand,
    make_franchisee,
    make_region,
    make_staff,
    make_store,
    make_warehouse,
)

STORE_HEADER = (
    "code,name,region,ownership,franchisee,address,latitude,longitude,opening_hours,status,phone"
)
STORES = [
    "SH01,Shanghai Nanjing Road 南京路店,EAST,direct,,上海市黄浦区南京东路 300 号,"
    "31.2362,121.4802,10:00-22:00,open,021-63221234",
    "HZ02,Hangzhou Binjiang 滨江店,EAST,franchise,F-HENGYUAN,杭州市滨江区江南大道 99 号,"
    '30.2080,120.2110,"mon-fri 10:00-22:00; sat,sun 09:00-23:00",open,0571-86001234',
    "GZ01,Guangzhou Tianhe 天河城店,SOUTH,direct,,,,,,planned,",
]
STAFF_HEADER = "code,name,role,region,store,franchisee,phone,email,login"


def csv(header: str, rows: list[str]) -> str:
    return "\n".join([header, *rows]) + "\n"


@dataclass
class Org:
    brand_id: int
    actor: Actor
    east: Region
    south: Region
    franchisee: Franchisee


@pytest.fixture
def org(session: Session) -> Org:
    brand = make_brand(session)
    actor = system_actor(brand.id, "csv import")
    org = Org(
        brand_id=brand.id,
        actor=actor,
        east=make_region(session, actor, "EAST"),
        south=make_region(session, actor, "SOUTH"),
        franchisee=make_franchisee(session, actor, "F-HENGYUAN"),
    )
    session.flush()
    return org


def counts(session: Session) -> dict[str, int]:
    models: dict[str, Any] = {
        "store": Store,
        "stock_location": StockLocation,
        "staff": Staff,
        "audit_entry": AuditEntry,
        "outbox_event": OutboxEvent,
    }
    return {
        name: session.scalar(select(func.count()).select_from(model)) or 0
        for name, model in models.items()
    }


def new_audit(session: Session, after_id: int) -> list[tuple[str, str, Any, Any]]:
    rows = session.scalars(
        select(AuditEntry).where(AuditEntry.id > after_id).order_by(AuditEntry.id)
    ).all()
    return [(r.action, r.object_id, r.before, r.after) for r in rows]


def new_events(session: Session, after_id: int) -> list[tuple[str, dict[str, Any]]]:
    rows = session.scalars(
        select(OutboxEvent).where(OutboxEvent.id > after_id).order_by(OutboxEvent.id)
    ).all()
    return [(r.event_type, r.payload) for r in rows]


def last_id(session: Session, model: Any) -> int:
    return session.scalar(select(func.max(model.id))) or 0


def rejected_errors(
    session: Session, importer: Any, actor: Actor, text: str | bytes
) -> list[tuple[int, str | None]]:
    """Run a rejected import; check nothing was written; the (line, column) of each error."""
    before = counts(session)
    with pytest.raises(ImportRejected) as raised:
        importer(session, actor, text)
    assert counts(session) == before
    assert raised.value.code == "import_rejected"
    return [(e.line, e.column) for e in raised.value.errors]


def store(session: Session, code: str) -> Store:
    row = session.scalar(select(Store).where(Store.code == code))
    assert row is not None
    return row


# ---------------------------------------------------------------- stores: happy paths


def test_import_creates_stores_with_their_stock_locations(session: Session, org: Org) -> None:
    # given a file of three new stores
    before = counts(session)
    # when
    report = import_stores(session, org.actor, csv(STORE_HEADER, STORES))
    # then
    assert report == ImportReport(created=3, updated=0, unchanged=0)
    sh01, hz02, gz01 = store(session, "SH01"), store(session, "HZ02"), store(session, "GZ01")
    assert (sh01.name, sh01.region_id, sh01.ownership, sh01.franchisee_id) == (
        "Shanghai Nanjing Road 南京路店",
        org.east.id,
        "direct",
        None,
    )
    assert (sh01.latitude, sh01.longitude) == (Decimal("31.236200"), Decimal("121.480200"))
    assert sh01.opening_hours == {
        day: [["10:00", "22:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    }
    assert (sh01.status, sh01.phone, sh01.address) == (
        "open",
        "021-63221234",
        "上海市黄浦区南京东路 300 号",
    )
    assert (hz02.ownership, hz02.franchisee_id) == ("franchise", org.franchisee.id)
    assert hz02.opening_hours["sat"] == [["09:00", "23:00"]]
    assert hz02.opening_hours["fri"] == [["10:00", "22:00"]]
    assert (gz01.region_id, gz01.status, gz01.address, gz01.latitude, gz01.phone) == (
        org.south.id,
        "planned",
        "",
        None,
        None,
    )
    assert gz01.opening_hours == {}
    locations = session.execute(
        select(StockLocation.code, StockLocation.kind, StockLocation.store_id).order_by(
            StockLocation.code
        )
    ).all()
    assert [tuple(r) for r in locations] == [
        ("GZ01", "store", gz01.id),
        ("HZ02", "store", hz02.id),
        ("SH01", "store", sh01.id),
    ]
    after = counts(session)
    assert after["audit_entry"] - before["audit_entry"] == 3
    assert after["outbox_event"] - before["outbox_event"] == 3
    events = new_events(session, 0)[-3:]
    assert events[1] == (
        "StoreCreated",
        {
            "store_id": hz02.id,
            "code": "HZ02",
            "region_id": org.east.id,
            "ownership": "franchise",
            "franchisee_id": org.franchisee.id,
            "status": "open",
        },
    )
    audit = new_audit(session, 0)[-3:]
    assert [(a[0], a[1]) for a in audit] == [
        ("store.create", str(sh01.id)),
        ("store.create", str(hz02.id)),
        ("store.create", str(gz01.id)),
    ]
    assert audit[0][3]["phone"] == "*******1234"  # masked in the audit log


def test_reimporting_the_same_file_changes_nothing(session: Session, org: Org) -> None:
    # given the file imported once
    text = csv(STORE_HEADER, STORES)
    import_stores(session, org.actor, text)
    session.commit()
    before = counts(session)
    stamps = dict(session.execute(select(Store.code, Store.updated_at)).all())
    # when it is imported again
    report = import_stores(session, org.actor, text)
    session.commit()
    # then nothing is written
    assert report == ImportReport(created=0, updated=0, unchanged=3)
    assert counts(session) == before
    session.expire_all()
    assert dict(session.execute(select(Store.code, Store.updated_at)).all()) == stamps


def test_changed_file_updates_exactly_the_changed_stores(session: Session, org: Org) -> None:
    # given the file imported once
    import_stores(session, org.actor, csv(STORE_HEADER, STORES))
    audit_mark, event_mark = last_id(session, AuditEntry), last_id(session, OutboxEvent)
    # when SH01 is renamed and moved to SOUTH, and GZ01 opens
    changed = [
        STORES[0]
        .replace("Shanghai Nanjing Road 南京路店", "Shanghai Nanjing East 南京东路店")
        .replace(",EAST,", ",SOUTH,"),
        STORES[1],
        STORES[2].replace("planned", "open"),
    ]
    report = import_stores(session, org.actor, csv(STORE_HEADER, changed))
    # then exactly those two are updated, audited and published
    assert report == ImportReport(created=0, updated=2, unchanged=1)
    sh01, gz01 = store(session, "SH01"), store(session, "GZ01")
    assert (sh01.name, sh01.region_id, gz01.status) == (
        "Shanghai Nanjing East 南京东路店",
        org.south.id,
        "open",
    )
    assert new_audit(session, audit_mark) == [
        (
            "store.update",
            str(sh01.id),
            {"name": "Shanghai Nanjing Road 南京路店", "region_id": org.east.id},
            {"name": "Shanghai Nanjing East 南京东路店", "region_id": org.south.id},
        ),
        ("store.update", str(gz01.id), {"status": "planned"}, {"status": "open"}),
    ]
    assert new_events(session, event_mark) == [
        (
            "StoreChanged",
            {
                "store_id": sh01.id,
                "changes": {"name": "Shanghai Nanjing East 南京东路店", "region_id": org.south.id},
            },
        ),
        ("StoreChanged", {"store_id": gz01.id, "changes": {"status": "open"}}),
    ]
    # and the store's stock location follows it, as update_store does
    location = session.scalar(select(StockLocation).where(StockLocation.store_id == sh01.id))
    assert location is not None
    assert (location.name, location.region_id) == (
        "Shanghai Nanjing East 南京东路店",
        org.south.id,
    )


def test_columns_left_out_keep_existing_values(session: Session, org: Org) -> None:
    # given SH01 imported with all columns
    import_stores(session, org.actor, csv(STORE_HEADER, STORES[:1]))
    # when a file with only code, name and region renames it
    report = import_stores(
        session, org.actor, "code,name,region\nSH01,南京路旗舰店,EAST\nSH05,新店,EAST\n"
    )
    # then the name changes and the rest stays; the new store gets the defaults
    assert report == ImportReport(created=1, updated=1, unchanged=0)
    sh01, sh05 = store(session, "SH01"), store(session, "SH05")
    assert (sh01.name, sh01.phone, sh01.status, sh01.latitude) == (
        "南京路旗舰店",
        "021-63221234",
        "open",
        Decimal("31.236200"),
    )
    assert (sh05.ownership, sh05.status, sh05.opening_hours, sh05.address) == (
        "direct",
        "open",
        {},
        "",
    )


def test_excel_bom_and_crlf_are_accepted(session: Session, org: Org) -> None:
    # given what Excel's "CSV UTF-8" writes: a BOM, CRLF line ends, a trailing empty row
    data = ("\ufeffCode,Name,Region\r\nSH01,南京路店,EAST\r\n,,\r\n").encode()
    # when
    report = import_stores(session, org.actor, data)
    # then
    assert report == ImportReport(created=1, updated=0, unchanged=0)
    assert store(session, "SH01").name == "南京路店"


def test_import_needs_the_import_permission(session: Session, org: Org) -> None:
    # given a region manager, who may not run imports
    manager = staff_actor(
        brand_id=org.brand_id,
        staff_id=1,
        name="m",
        role=Role.REGION_MANAGER,
        region_id=org.east.id,
        store_id=None,
        franchisee_id=None,
    )
    # when / then
    with pytest.raises(PermissionDenied) as raised:
        import_stores(session, manager, csv(STORE_HEADER, STORES))
    assert raised.value.extra == {"permission": "import:run"}
    with pytest.raises(PermissionDenied):
        import_staff(session, manager, csv(STAFF_HEADER, ["E1,王丽,guide,,SH01,,,,"]))


# ---------------------------------------------------------------- stores: rejections


@pytest.mark.parametrize(
    ("row", "column", "reason"),
    [
        ("SH 9,店,EAST,direct,,,,,,,", "code", "is not a valid code"),
        ("-SH9,店,EAST,direct,,,,,,,", "code", "is not a valid code"),
        (",店,EAST,direct,,,,,,,", "code", "a value is required"),
        ("SH09,,EAST,direct,,,,,,,", "name", "a value is required"),
        ("SH09,店,,direct,,,,,,,", "region", "a value is required"),
        ("SH09,店,WEST,direct,,,,,,,", "region", "no region with code 'WEST' in this brand"),
        ("SH09,店,east,direct,,,,,,,", "region", "(did you mean 'EAST'?)"),
        ("SH09,店,EAST,owned,,,,,,,", "ownership", "must be 'direct' or 'franchise'"),
        ("SH09,店,EAST,franchise,,,,,,,", "franchisee", "a franchised store needs its franchisee"),
        ("SH09,店,EAST,direct,F-HENGYUAN,,,,,,", "franchisee", "has no franchisee"),
        ("SH09,店,EAST,franchise,F-NOPE,,,,,,", "franchisee", "no franchisee with code 'F-NOPE'"),
        ("SH09,店,EAST,direct,,,91,,,,", "latitude", "between -90 and 90"),
        ("SH09,店,EAST,direct,,,north,,,,", "latitude", "between -90 and 90"),
        ("SH09,店,EAST,direct,,,,121.1234567,,,", "longitude", "at most 6 decimals"),
        ("SH09,店,EAST,direct,,,,,10:00-25:00,,", "opening_hours", "'25:00' is not a time"),
        ("SH09,店,EAST,direct,,,,,mon-fry 10:00-22:00,,", "opening_hours", "is not a day"),
        ("SH09,店,EAST,direct,,,,,10:00,,", "opening_hours", "not an interval"),
        ("SH09,店,EAST,direct,,,,,,shut,", "status", "planned, open, suspended, closed"),
        ("SH09,店,EAST,direct,,,,,,,call me", "phone", "is not a phone number"),
    ],
)
def test_a_bad_store_row_is_reported_and_nothing_written(
    session: Session, org: Org, row: str, column: str, reason: str
) -> None:
    # given a good row, then a bad one, then a good one
    text = csv(STORE_HEADER, [STORES[0], row, STORES[2]])
    # when / then
    before = counts(session)
    with pytest.raises(ImportRejected) as raised:
        import_stores(session, org.actor, text)
    assert counts(session) == before
    [error] = raised.value.errors
    assert (error.line, error.column) == (3, column)
    assert reason in error.reason


def test_duplicate_code_in_the_file_is_reported_on_its_second_line(
    session: Session, org: Org
) -> None:
    # given SH01 twice
    text = csv(STORE_HEADER, [STORES[0], STORES[1], STORES[0]])
    # when
    with pytest.raises(ImportRejected) as raised:
        import_stores(session, org.actor, text)
    # then
    assert raised.value.errors == [
        RowError(4, "code", "the code 'SH01' appears twice in the file (also on line 2)")
    ]


def test_a_store_code_used_by_a_warehouse_is_refused(session: Session, org: Org) -> None:
    # given a warehouse WH-EAST
    make_warehouse(session, org.actor, "WH-EAST")
    # when a store with that code is imported / then
    errors = rejected_errors(
        session, import_stores, org.actor, "code,name,region\nWH-EAST,仓店,EAST\n"
    )
    assert errors == [(2, "code")]


def test_three_bad_rows_among_good_ones_are_all_reported(session: Session, org: Org) -> None:
    # given five rows of which lines 3, 5 and 6 are bad (line 6 twice over)
    rows = [
        STORES[0],
        "SH02,店,WEST,direct,,,,,,,",
        STORES[1],
        "SH03,店,EAST,franchise,,,,,,,",
        "SH04,,EAST,direct,,,95,,9-5,,",
        STORES[2],
    ]
    # when / then every problem is listed, in order, and nothing is written
    errors = rejected_errors(session, import_stores, org.actor, csv(STORE_HEADER, rows))
    assert errors == [
        (3, "region"),
        (5, "franchisee"),
        (6, "latitude"),
        (6, "name"),
        (6, "opening_hours"),
    ]


def test_unknown_and_missing_columns_are_reported_once_on_line_1(
    session: Session, org: Org
) -> None:
    # given a header with a typo and without region, over many rows
    text = "code,name,regoin,colour\nSH01,a,EAST,red\nSH02,b,EAST,blue\n"
    # when / then
    with pytest.raises(ImportRejected) as raised:
        import_stores(session, org.actor, text)
    assert [(e.line, e.column) for e in raised.value.errors] == [
        (1, "colour"),
        (1, "region"),
        (1, "regoin"),
    ]
    reasons = {e.column: e.reason for e in raised.value.errors}
    assert reasons["region"] == "the required column 'region' is missing"
    assert reasons["regoin"].startswith("unknown column 'regoin'; the columns are: code, name,")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", [RowError(1, None, "the file is empty")]),
        (b"code,name,region\r\n", [RowError(1, None, "the file has no rows below the header")]),
        (
            "code,name,region\nSH01,南京路店,EAST\n".encode("gbk"),
            [
                RowError(
                    2,
                    None,
                    "the file is not UTF-8 (byte 0xc4 cannot be read); save it as 'CSV UTF-8'",
                )
            ],
        ),
        (
            b"code,name,region\nSH01,a,EAST,extra\n",
            [RowError(2, None, "the row has 4 values but the header names 3 columns")],
        ),
    ],
)
def test_unreadable_files_are_rejected(
    session: Session, org: Org, data: bytes, expected: list[RowError]
) -> None:
    before = counts(session)
    with pytest.raises(ImportRejected) as raised:
        import_stores(session, org.actor, data)
    assert raised.value.errors == expected
    assert counts(session) == before


# ---------------------------------------------------------------- staff


@dataclass
class Shops:
    org: Org
    sh01: Store
    hz02: Store


@pytest.fixture
def shops(session: Session, org: Org) -> Shops:
    sh01 = make_store(session, org.actor, org.east, code="SH01")
    hz02 = make_store(session, org.actor, org.east, org.franchisee, code="HZ02")
    session.flush()
    return Shops(org, sh01, hz02)


STAFF = [
    "HQ002,Li Na 李娜,hq_operator,,,,13800000002,li.na@jinxiu.example,hq-ops1",
    "RM-EAST,Chen Jing 陈静,region_manager,EAST,,,13700000001,,east-manager",
    "FO-HENGYUAN,Wang Hao 王浩,franchisee_owner,,,F-HENGYUAN,,,F-Hengyuan",
    "SH01-M,Zhang Min 张敏,store_manager,,SH01,,13900001000,,sh01-manager",
    "SH01-G1,Liu Ting 刘婷,Guide,,SH01,,13900001001,,sh01-guide1",
    "HZ02-G1,Zhou Yue 周悦,guide,,HZ02,,,,",
]


def person(session: Session, code: str) -> Staff:
    row = session.scalar(select(Staff).where(Staff.code == code))
    assert row is not None
    return row


def test_import_hires_staff_of_every_role(session: Session, shops: Shops) -> None:
    # given
    org = shops.org
    before = counts(session)
    # when
    report = import_staff(session, org.actor, csv(STAFF_HEADER, STAFF))
    # then
    assert report == ImportReport(created=6, updated=0, unchanged=0)
    places = {
        s.code: (s.role, s.region_id, s.store_id, s.franchisee_id, s.login, s.password_hash)
        for s in session.scalars(select(Staff))
    }
    assert places == {
        "HQ002": ("hq_operator", None, None, None, "hq-ops1", None),
        "RM-EAST": ("region_manager", org.east.id, None, None, "east-manager", None),
        "FO-HENGYUAN": ("franchisee_owner", None, None, org.franchisee.id, "f-hengyuan", None),
        "SH01-M": ("store_manager", None, shops.sh01.id, None, "sh01-manager", None),
        "SH01-G1": ("guide", None, shops.sh01.id, None, "sh01-guide1", None),
        "HZ02-G1": ("guide", None, shops.hz02.id, None, None, None),
    }
    after = counts(session)
    assert (
        after["audit_entry"] - before["audit_entry"],
        after["outbox_event"] - before["outbox_event"],
    ) == (6, 6)
    guide = person(session, "SH01-G1")
    assert new_events(session, 0)[-2] == (
        "StaffHired",
        {
            "staff_id": guide.id,
            "code": "SH01-G1",
            "role": "guide",
            "region_id": None,
            "store_id": shops.sh01.id,
            "franchisee_id": None,
        },
    )


def test_reimporting_the_same_staff_file_changes_nothing(session: Session, shops: Shops) -> None:
    # given
    text = csv(STAFF_HEADER, STAFF)
    import_staff(session, shops.org.actor, text)
    before = counts(session)
    # when
    report = import_staff(session, shops.org.actor, text)
    # then
    assert report == ImportReport(created=0, updated=0, unchanged=6)
    assert counts(session) == before


def test_changed_staff_file_moves_and_promotes_exactly_those_people(
    session: Session, shops: Shops
) -> None:
    # given the staff imported once
    import_staff(session, shops.org.actor, csv(STAFF_HEADER, STAFF))
    audit_mark, event_mark = last_id(session, AuditEntry), last_id(session, OutboxEvent)
    # when the SH01 guide becomes HZ02's manager and the HZ02 guide gets a phone
    changed = [
        *STAFF[:4],
        "SH01-G1,Liu Ting 刘婷,store_manager,,HZ02,,13900001001,,sh01-guide1",
        "HZ02-G1,Zhou Yue 周悦,guide,,HZ02,,139 0000 1002,,",
    ]
    report = import_staff(session, shops.org.actor, csv(STAFF_HEADER, changed))
    # then
    assert report == ImportReport(created=0, updated=2, unchanged=4)
    moved, hz_guide = person(session, "SH01-G1"), person(session, "HZ02-G1")
    assert (moved.role, moved.store_id, hz_guide.phone) == (
        "store_manager",
        shops.hz02.id,
        "139 0000 1002",
    )
    assert new_audit(session, audit_mark) == [
        (
            "staff.update",
            str(moved.id),
            {"role": "guide", "store_id": shops.sh01.id},
            {"role": "store_manager", "store_id": shops.hz02.id},
        ),
        ("staff.update", str(hz_guide.id), {"phone": None}, {"phone": "139****1002"}),
    ]
    assert [e[0] for e in new_events(session, event_mark)] == ["StaffChanged", "StaffChanged"]


def test_people_may_swap_logins_within_one_file(session: Session, shops: Shops) -> None:
    # given two guides
    import_staff(session, shops.org.actor, csv(STAFF_HEADER, STAFF))
    # when their logins are swapped
    swapped = [
        "SH01-M,Zhang Min 张敏,store_manager,,SH01,,13900001000,,sh01-guide1",
        "SH01-G1,Liu Ting 刘婷,guide,,SH01,,13900001001,,sh01-manager",
    ]
    report = import_staff(session, shops.org.actor, csv(STAFF_HEADER, swapped))
    session.flush()
    # then
    assert report == ImportReport(created=0, updated=2, unchanged=0)
    session.expire_all()
    assert (person(session, "SH01-M").login, person(session, "SH01-G1").login) == (
        "sh01-guide1",
        "sh01-manager",
    )


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("E9,王丽,cashier,,SH01,,,,", [(3, "role")]),
        ("E9,王丽,,,SH01,,,,", [(3, "role")]),
        ("E9 9,王丽,guide,,SH01,,,,", [(3, "code")]),
        ("E9,,guide,,SH01,,,,", [(3, "name")]),
        ("E9,王丽,guide,,,,,,", [(3, "store")]),
        ("E9,王丽,store_manager,,,,,,", [(3, "store")]),
        ("E9,王丽,region_manager,,,,,,", [(3, "region")]),
        ("E9,王丽,franchisee_owner,,,,,,", [(3, "franchisee")]),
        ("E9,王丽,guide,EAST,SH01,,,,", [(3, "region")]),
        ("E9,王丽,hq_operator,,SH01,,,,", [(3, "store")]),
        ("E9,王丽,guide,,SH99,,,,", [(3, "store")]),
        ("E9,王丽,region_manager,WEST,,,,,", [(3, "region")]),
        ("E9,王丽,franchisee_owner,,,F-NOPE,,,", [(3, "franchisee")]),
        ("E9,王丽,guide,,SH01,,12-ab,,", [(3, "phone")]),
        ("E9,王丽,guide,,SH01,,,wang.li,", [(3, "email")]),
        ("E9,王丽,guide,,SH01,,,,-wl", [(3, "login")]),
        ("E9,王丽,guide,,SH01,,,,sh01-guide1", [(3, "login")]),
        ("SH01-G1,王丽,guide,,SH01,,,,", [(3, "code")]),
    ],
)
def test_a_bad_staff_row_is_reported_and_nothing_written(
    session: Session, shops: Shops, row: str, expected: list[tuple[int, str]]
) -> None:
    # given a good row on line 2 (SH01-G1, login sh01-guide1), the bad one on line 3
    text = csv(STAFF_HEADER, [STAFF[4], row, STAFF[5]])
    # when / then
    assert rejected_errors(session, import_staff, shops.org.actor, text) == expected


def test_a_login_used_by_someone_outside_the_file_is_refused(
    session: Session, shops: Shops
) -> None:
    # given a store manager hired through the API with login 'wang.li'
    make_staff(session, shops.org.actor, Role.STORE_MANAGER, store=shops.sh01, login="wang.li")
    # when a file gives that login (in another case) to someone else
    text = csv(STAFF_HEADER, [STAFF[0], "E9,王丽,guide,,SH01,,,,Wang.Li"])
    # then
    before = counts(session)
    with pytest.raises(ImportRejected) as raised:
        import_staff(session, shops.org.actor, text)
    assert counts(session) == before
    [error] = raised.value.errors
    assert (error.line, error.column) == (3, "login")
    assert error.reason.startswith("the login 'wang.li' is already used by another staff member")


def test_three_bad_staff_rows_among_good_ones_are_all_reported(
    session: Session, shops: Shops
) -> None:
    rows = [
        STAFF[0],
        "E1,王丽,guide,,,,,,",
        STAFF[1],
        "E2,李静,boss,,,,,,",
        STAFF[3],
        "E3,张敏,guide,,SH01,,,,hq-ops1",
    ]
    errors = rejected_errors(session, import_staff, shops.org.actor, csv(STAFF_HEADER, rows))
    assert errors == [(3, "store"), (5, "role"), (7, "login")]


def test_an_hq_operator_cannot_import_a_brand_admin(session: Session, shops: Shops) -> None:
    # given an HQ operator (who may run imports) acting
    operator = make_staff(session, shops.org.actor, Role.HQ_OPERATOR)
    actor = staff_actor(
        brand_id=shops.org.brand_id,
        staff_id=operator.id,
        name=operator.name,
        role=Role.HQ_OPERATOR,
        region_id=None,
        store_id=None,
        franchisee_id=None,
    )
    # when the file names a brand admin / then that row is refused
    text = csv(STAFF_HEADER, [STAFF[4], "E9,王丽,brand_admin,,,,,,"])
    before = counts(session)
    with pytest.raises(ImportRejected) as raised:
        import_staff(session, actor, text)
    assert counts(session) == before
    assert raised.value.errors == [
        RowError(3, "role", "A hq operator cannot manage a brand admin.")
    ]


def test_empty_columns_after_the_last_one_are_ignored(session: Session, org: Org) -> None:
    # given a sheet whose header and rows run on into empty columns
    text = "code,name,region,,\nSH01,南京路店,EAST,,\nSH02,徐家汇店,EAST\n"
    # when / then
    assert import_stores(session, org.actor, text) == ImportReport(1 + 1, 0, 0)


def test_an_empty_ownership_or_status_keeps_the_stores_own(session: Session, org: Org) -> None:
    # given a franchised store that is suspended
    import_stores(
        session, org.actor, csv(STORE_HEADER, [STORES[1].replace(",open,", ",suspended,")])
    )
    # when a file leaves its ownership and status empty
    row = STORES[1].replace(",franchise,", ",,").replace(",open,", ",,")
    report = import_stores(session, org.actor, csv(STORE_HEADER, [row]))
    # then nothing changes
    assert report == ImportReport(created=0, updated=0, unchanged=1)
    hz02 = store(session, "HZ02")
    assert (hz02.ownership, hz02.franchisee_id, hz02.status) == (
        "franchise",
        org.franchisee.id,
        "suspended",
    )


def test_rows_may_be_given_already_split(session: Session, shops: Shops) -> None:
    # given rows as mappings (as an API upload or a spreadsheet reader gives them)
    rows = [
        {"code": "E1", "name": "王丽", "role": "guide", "store": "SH01"},
        {"code": "E2", "name": "李静", "role": "guide", "store": "SH99"},
    ]
    # when / then line numbers count as in a file: the first row is line 2
    with pytest.raises(ImportRejected) as raised:
        import_staff(session, shops.org.actor, rows)
    assert raised.value.errors == [RowError(3, "store", "no store with code 'SH99' in this brand")]
    assert import_staff(session, shops.org.actor, rows[:1]) == ImportReport(1, 0, 0)
