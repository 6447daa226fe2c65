"""POS member and order imports through the services: mappings, matching, dedupe, bad rows."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.access.rules import Actor
from siyu.access.service import actor_for_staff
from siyu.audit.models import AuditEntry
from siyu.core.csvfile import ImportRejected
from siyu.core.errors import PermissionDenied
from siyu.members.models import Member, MemberIdentity
from siyu.offline.errors import InvalidMapping
from siyu.offline.imports import PosImportReport
from siyu.offline.member_imports import import_pos_members
from siyu.offline.models import OfflineImport, OfflineOrder, OfflineOrderLine
from siyu.offline.order_imports import import_pos_orders
from siyu.outbox.models import OutboxEvent
from tests.factories import World, build_world
from tests.factories_catalog import make_category, make_product
from tests.factories_offline import (
    MEMBER_HEADER,
    MEMBER_MAPPING,
    ORDER_HEADER,
    ORDER_MAPPING,
    csv_text,
    make_member,
)
from tests.helpers import row_counts

JOINED = datetime(2024, 1, 2, 2, 0, tzinfo=UTC)  # 2024-01-02 10:00 in Shanghai


@pytest.fixture
def world(session: Session) -> World:
    w = build_world(session)
    category = make_category(session, w.system)
    make_product(session, w.system, category, "TEE")  # SKUs TEE-S and TEE-M
    session.flush()
    return w


def _members(world: World, *rows: str, actor: Actor | None = None) -> PosImportReport:
    return import_pos_members(
        _session_of(world),
        actor or world.system,
        csv_text(MEMBER_HEADER, *rows),
        mapping=MEMBER_MAPPING,
        file_name="members.csv",
    )


def _session_of(world: World) -> Session:
    session = Session.object_session(world.brand)
    assert session is not None
    return session


def _orders(world: World, *rows: str, actor: Actor | None = None) -> PosImportReport:
    return import_pos_orders(
        _session_of(world),
        actor or world.system,
        csv_text(ORDER_HEADER, *rows),
        mapping=ORDER_MAPPING,
        file_name="orders.csv",
    )


def _identities(session: Session, member_id: int) -> set[tuple[str, str]]:
    rows = session.execute(
        select(MemberIdentity.kind, MemberIdentity.value).where(
            MemberIdentity.member_id == member_id
        )
    )
    return {(kind, value) for kind, value in rows}


def _reasons(rejected: pytest.ExceptionInfo[ImportRejected]) -> list[str]:
    return [str(error) for error in rejected.value.errors]


# ---------------------------------------------------------------- mappings


def test_an_unknown_field_in_the_mapping_is_refused_before_reading(
    session: Session, world: World
) -> None:
    before = row_counts(session)
    with pytest.raises(InvalidMapping) as refused:
        import_pos_members(
            session,
            world.system,
            csv_text(MEMBER_HEADER, "P1,13800000001,王丽,女,,,,"),
            mapping={"会员卡号": "card_no"},
        )
    assert refused.value.code == "invalid_mapping"
    assert refused.value.field == "mapping"
    assert refused.value.extra["reasons"] == [
        "unknown field 'card_no' (for column '会员卡号'); the fields are: pos_member_number, "
        "phone, name, gender, birthday, store_code, joined_at"
    ]
    assert row_counts(session) == before


def test_a_mapped_column_missing_from_the_file_is_reported_on_line_1(
    session: Session, world: World
) -> None:
    before = row_counts(session)
    with pytest.raises(ImportRejected) as rejected:
        import_pos_orders(
            session,
            world.system,
            csv_text("小票号,门店,销售时间,商品编码,金额", "R1,S1,2026-11-01,TEE-S,1.00"),
            mapping={
                "小票号": "order_number",
                "门店": "store_code",
                "销售时间": "placed_at",
                "商品编码": "sku_code",
                "数量": "quantity",
                "金额": "amount_yuan",
            },
        )
    assert _reasons(rejected) == [
        "line 1: the column '数量' (mapped to quantity) is not in the file"
    ]
    assert row_counts(session) == before


def test_a_required_field_without_any_column_is_reported(session: Session, world: World) -> None:
    with pytest.raises(ImportRejected) as rejected:
        import_pos_orders(
            session,
            world.system,
            csv_text(
                "order_number,store_code,placed_at,quantity,amount_fen", "R1,S,2026-11-01,1,1"
            ),
        )
    assert _reasons(rejected) == [
        "line 1: no column gives the required field sku_code; name it in the mapping "
        "(file column=sku_code)"
    ]


# ---------------------------------------------------------------- members


def test_a_new_pos_member_joins_at_their_store(session: Session, world: World) -> None:
    store = world.direct_store
    # when a POS member export names someone unknown
    report = _members(
        world, f"P001,138-0000-0001,王丽,女,1990/5/17,{store.code},2024-01-02 10:00,5"
    )
    # then one member joins, with both identifiers, from the store, at the file's time
    assert (report.created, report.updated, report.unchanged) == (1, 0, 0)
    session.expire_all()
    member = session.scalars(select(Member).where(Member.brand_id == world.brand.id)).one()
    assert (member.display_name, member.phone, member.gender, member.birthday) == (
        "王丽",
        "13800000001",
        "female",
        date(1990, 5, 17),
    )
    assert (member.joined_at, member.join_channel, member.lifecycle_stage) == (JOINED, "pos", "new")
    assert (member.home_store_id, member.source_store_id) == (store.id, store.id)
    assert _identities(session, member.id) == {
        ("pos_member_number", "P001"),
        ("phone", "13800000001"),
    }
    record = session.scalars(select(OfflineImport)).one()
    assert (record.kind, record.file_name, record.row_count, record.created_count) == (
        "pos_members",
        "members.csv",
        1,
        1,
    )
    assert record.mapping["phone"] == "手机号"
    audit = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "offline_import.create")
    ).one()
    assert audit.after == {
        "kind": "pos_members",
        "file_name": "members.csv",
        "rows": 1,
        "created": 1,
        "updated": 0,
        "unchanged": 0,
    }
    event_types = session.scalars(select(OutboxEvent.event_type).order_by(OutboxEvent.id)).all()
    assert "PosMembersImported" in event_types
    assert "MemberJoined" in event_types


def test_members_are_matched_by_pos_number_then_by_phone(session: Session, world: World) -> None:
    # given a member known by POS number only, and one known by phone only
    by_number = make_member(session, world.brand.id, pos_number="P001", joined_at=JOINED)
    by_phone = make_member(
        session, world.brand.id, phone="13800000002", joined_at=JOINED, name="线上"
    )
    # when the POS file names both with their other identifier
    report = _members(
        world,
        "P001,13800000001,王丽,女,,,,",
        "P002,13800000002,李娜,,,,,",
    )
    # then each is completed (identifier attached, blank fields filled, none overwritten)
    assert (report.created, report.updated, report.unchanged) == (0, 2, 0)
    session.expire_all()
    assert _identities(session, by_number.id) == {
        ("pos_member_number", "P001"),
        ("phone", "13800000001"),
    }
    assert _identities(session, by_phone.id) == {
        ("pos_member_number", "P002"),
        ("phone", "13800000002"),
    }
    assert session.get(Member, (world.brand.id, by_number.id)).phone == "13800000001"
    assert session.get(Member, (world.brand.id, by_phone.id)).display_name == "线上"
    assert session.scalar(select(func.count()).select_from(Member)) == 2


def test_importing_the_same_members_again_changes_nothing(session: Session, world: World) -> None:
    rows = ("P001,13800000001,王丽,女,1990-05-17,,2024-01-02 10:00,", "P002,,李娜,,,,,")
    _members(world, *rows)
    session.flush()
    before = row_counts(session)
    # when the same file comes again
    report = _members(world, *rows)
    # then every row is unchanged and nothing is written, not even an import record
    assert (report.created, report.updated, report.unchanged, report.import_id) == (
        0,
        0,
        2,
        None,
    )
    assert row_counts(session) == before


def test_a_prospect_found_in_the_pos_file_joins(session: Session, world: World) -> None:
    prospect = make_member(session, world.brand.id, phone="13800000001")
    _members(world, f"P001,13800000001,,,,{world.direct_store.code},2024-01-02 10:00,")
    session.expire_all()
    member = session.get(Member, (world.brand.id, prospect.id))
    assert member is not None
    assert (member.joined_at, member.join_channel, member.lifecycle_stage) == (JOINED, "pos", "new")
    assert member.home_store_id == world.direct_store.id


def test_a_row_whose_identifiers_name_two_members_is_a_bad_row(
    session: Session, world: World
) -> None:
    # given two members, one by POS number and one by phone
    make_member(session, world.brand.id, pos_number="P001", joined_at=JOINED)
    make_member(session, world.brand.id, phone="13800000009", joined_at=JOINED)
    before = row_counts(session)
    # when a row joins them
    with pytest.raises(ImportRejected) as rejected:
        _members(world, "P003,,新人,,,,,", "P001,13800000009,王丽,,,,,")
    # then the row is reported with its line and nothing is merged or written
    assert _reasons(rejected) == [
        "line 3: the POS member number and the phone on this row belong to two different "
        "members; merge them or correct the row (an import never merges members)"
    ]
    assert row_counts(session) == before


def test_a_member_with_another_phone_is_a_bad_row(session: Session, world: World) -> None:
    make_member(session, world.brand.id, pos_number="P001", phone="13800000001", joined_at=JOINED)
    with pytest.raises(ImportRejected) as rejected:
        _members(world, "P001,13800000002,,,,,,")
    assert _reasons(rejected) == [
        "line 2, column 手机号: the member with POS member number 'P001' has another phone; "
        "correct the row or change the phone in the member's profile first"
    ]


def test_every_bad_member_row_is_reported_with_its_line_and_reason(
    session: Session, world: World
) -> None:
    before = row_counts(session)
    with pytest.raises(ImportRejected) as rejected:
        _members(
            world,
            "P001,12345,王丽,女,,,,",
            ",,无号,,,,,",
            "P002,13800000002,李娜,X,1990-13-01,NOPE,2099-01-01,",
            "P001,,重复,,,,,",
            f"P003,13800000002,重复手机,,,{world.direct_store.code},2024-13-01,",
        )
    assert _reasons(rejected) == [
        "line 2, column 手机号: is not a mainland mobile number (11 digits)",
        "line 3: give a POS member number or a phone (or both)",
        "line 4, column 入会时间: is in the future",
        "line 4, column 性别: must be 男/女, M/F, male/female or 1/2 (or left empty)",
        "line 4, column 生日: '1990-13-01' is not a real date",
        "line 4, column 门店编码: no store with code 'NOPE' in this brand",
        "line 5, column 会员卡号: the same POS member number is on line 2",
        "line 6, column 入会时间: '2024-13-01' is not a real date and time",
        "line 6, column 手机号: the same phone is on line 4",
    ]
    assert row_counts(session) == before


# ---------------------------------------------------------------- orders


def _seed_members(session: Session, world: World) -> tuple[Member, Member]:
    by_number = make_member(session, world.brand.id, pos_number="P001", joined_at=JOINED)
    by_phone = make_member(session, world.brand.id, phone="13800000002", joined_at=JOINED)
    return by_number, by_phone


def test_pos_orders_are_imported_with_members_lines_and_unknown_skus(
    session: Session, world: World
) -> None:
    by_number, by_phone = _seed_members(session, world)
    s = world.direct_store.code
    # when a sales export has a member receipt (2 lines, one SKU unknown), a receipt matched
    # by phone, and an anonymous one; rows of one receipt need not be adjacent
    report = _orders(
        world,
        f"R1,{s},2026-11-01 10:00,P001,,TEE-S,1,199.00,239.00",
        f"R2,{s},2026-11-01 11:00,,138 0000 0002,TEE-M,2,398.00,",
        f"R3,{s},2026-11-02 12:00,,,TEE-M,1,199.00,199.00",
        f"R1,{s},2026-11-01 10:00,P001,,OLD-BAG,2,40.00,239.00",
    )
    # then three receipts with their lines; the unknown code is kept without a SKU
    assert (report.created, report.unchanged, report.lines) == (3, 0, 4)
    assert (report.member_orders, report.anonymous_orders, report.unknown_sku_lines) == (2, 1, 1)
    orders = {o.order_number: o for o in session.scalars(select(OfflineOrder)).all()}
    assert orders["R1"].member_id == by_number.id
    assert orders["R2"].member_id == by_phone.id
    assert orders["R3"].member_id is None
    assert (orders["R1"].total_fen, orders["R1"].refunded_fen) == (23900, 0)
    assert orders["R1"].placed_at == datetime(2026, 11, 1, 2, 0, tzinfo=UTC)
    lines = session.execute(
        select(OfflineOrderLine.sku_code, OfflineOrderLine.sku_id, OfflineOrderLine.quantity)
        .where(OfflineOrderLine.offline_order_id == orders["R1"].id)
        .order_by(OfflineOrderLine.id)
    ).all()
    assert [(code, sku_id is not None, q) for code, sku_id, q in lines] == [
        ("TEE-S", True, 1),
        ("OLD-BAG", False, 2),
    ]
    # and each member's summary counts their receipt once
    session.expire_all()
    first = session.get(Member, (world.brand.id, by_number.id))
    assert first is not None
    assert (first.order_count, first.total_spent_fen) == (1, 23900)
    assert first.first_order_at == first.last_order_at == orders["R1"].placed_at
    assert first.lifecycle_stage == "first_purchase"
    second = session.get(Member, (world.brand.id, by_phone.id))
    assert second is not None
    assert (second.order_count, second.total_spent_fen) == (1, 39800)


def test_importing_the_same_orders_again_changes_nothing(session: Session, world: World) -> None:
    by_number, _ = _seed_members(session, world)
    s = world.direct_store.code
    rows = (
        f"R1,{s},2026-11-01 10:00,P001,,TEE-S,1,199.00,",
        f"R2,{s},2026-11-03 10:00,P001,,TEE-M,1,199.00,",
    )
    _orders(world, *rows)
    session.flush()
    before = row_counts(session)
    # when the same file comes again, with one new receipt
    report = _orders(world, *rows)
    assert (report.created, report.unchanged, report.import_id) == (0, 2, None)
    assert row_counts(session) == before
    again = _orders(world, *rows, f"R3,{s},2026-11-04 10:00,P001,,TEE-M,1,199.00,")
    # then only the new receipt counts, once
    assert (again.created, again.unchanged) == (1, 2)
    session.expire_all()
    member = session.get(Member, (world.brand.id, by_number.id))
    assert member is not None
    assert (member.order_count, member.total_spent_fen) == (3, 59700)
    assert member.last_order_at == datetime(2026, 11, 4, 2, 0, tzinfo=UTC)
    assert session.scalar(select(func.count()).select_from(OfflineOrder)) == 3


def test_returns_are_negative_lines_on_a_receipt_or_a_receipt_of_their_own(
    session: Session, world: World
) -> None:
    by_number, _ = _seed_members(session, world)
    s = world.direct_store.code
    _orders(
        world,
        f"R1,{s},2026-11-01 10:00,P001,,TEE-S,2,398.00,398.00",
        f"R2,{s},2026-11-02 10:00,P001,,TEE-M,1,199.00,0.00",  # an even exchange
        f"R2,{s},2026-11-02 10:00,P001,,TEE-S,-1,-199.00,0.00",
        f"R3,{s},2026-11-03 10:00,P001,,TEE-M,-1,-199.00,-199.00",  # a return receipt
    )
    orders = {o.order_number: o for o in session.scalars(select(OfflineOrder)).all()}
    assert (orders["R2"].total_fen, orders["R2"].refunded_fen) == (19900, 19900)
    assert (orders["R3"].total_fen, orders["R3"].refunded_fen) == (0, 19900)
    session.expire_all()
    member = session.get(Member, (world.brand.id, by_number.id))
    assert member is not None
    # one purchase counted (R1), the exchange nets nothing, the return takes 199.00 back
    assert (member.order_count, member.total_spent_fen) == (1, 19900)


def test_every_bad_order_row_is_reported_with_its_line_and_reason(
    session: Session, world: World
) -> None:
    s = world.direct_store.code
    before = row_counts(session)
    with pytest.raises(ImportRejected) as rejected:
        _orders(
            world,
            f"R1,{s},2026-11-01 10:00,,,TEE-S,1,199.00,200.00",
            f"R1,{world.other_store.code},2026-11-01 10:05,,,TEE-M,1,1.00,200.00",
            f",{s},2026-11-01,,,TEE-S,0,-1.00,",
            "R2,NOPE,2099-01-01,,12345,,-1,5.00,",
            f"R3,{s},yesterday,,,TEE-S,x,1.999,",
            f"R4,{s},2026-11-01,,,TEE-S,1,,",
        )
    assert _reasons(rejected) == [
        "line 2, column 整单金额: the lines of order 'R1' add up to 199.00, not 200.00",
        "line 3, column 销售时间: differs from line 2 for order 'R1'; the rows of one order "
        "must agree",
        "line 3, column 门店: differs from line 2 for order 'R1'; the rows of one order must agree",
        "line 4, column 小票号: a value is required",
        "line 4, column 数量: must be between 1 and 100,000 items (negative for a return), not 0",
        "line 5, column 商品编码: a value is required",
        "line 5, column 手机: is not a mainland mobile number (11 digits)",
        "line 5, column 金额: a returned item (negative quantity) needs a negative amount",
        "line 5, column 销售时间: is in the future",
        "line 5, column 门店: no store with code 'NOPE' in this brand",
        "line 6, column 数量: 'x' is not a whole number of items",
        "line 6, column 金额: '1.999' is not an amount in yuan like 199.00 or -59.90",
        "line 6, column 销售时间: 'yesterday' is not a time like 2026-11-03 14:22:05",
        "line 7, column 金额: a value is required",
    ]
    assert row_counts(session) == before


def test_an_order_number_imported_for_another_store_is_a_bad_row(
    session: Session, world: World
) -> None:
    _orders(world, f"R1,{world.direct_store.code},2026-11-01 10:00,,,TEE-S,1,199.00,")
    with pytest.raises(ImportRejected) as rejected:
        _orders(world, f"R1,{world.other_store.code},2026-11-01 10:00,,,TEE-S,1,199.00,")
    assert _reasons(rejected) == [
        "line 2, column 小票号: order 'R1' was imported before for another store"
    ]


# ---------------------------------------------------------------- scope


def test_a_store_manager_imports_their_own_stores_rows(session: Session, world: World) -> None:
    manager = actor_for_staff(world.staff["store_manager"])
    report = _orders(
        world, f"R1,{world.direct_store.code},2026-11-01 10:00,,,TEE-S,1,199.00,", actor=manager
    )
    assert report.created == 1
    record = session.scalars(select(OfflineImport)).one()
    assert record.staff_id == world.staff["store_manager"].id


def test_a_store_manager_may_not_import_another_stores_rows(session: Session, world: World) -> None:
    manager = actor_for_staff(world.staff["store_manager"])
    before = row_counts(session)
    with pytest.raises(ImportRejected) as rejected:
        _orders(
            world,
            f"R1,{world.direct_store.code},2026-11-01 10:00,,,TEE-S,1,199.00,",
            f"R2,{world.franchise_store.code},2026-11-01 10:00,,,TEE-S,1,199.00,",
            actor=manager,
        )
    assert _reasons(rejected) == [
        f"line 3, column 门店: no store with code '{world.franchise_store.code}' among the "
        "stores you may import for"
    ]
    with pytest.raises(ImportRejected) as members_rejected:
        _members(world, "P001,13800000001,王丽,,,,,", actor=manager)
    assert _reasons(members_rejected) == [
        "line 2, column 门店编码: a value is required: you may import members only for your stores"
    ]
    assert row_counts(session) == before


def test_a_franchisee_owner_imports_for_their_franchised_stores(
    session: Session, world: World
) -> None:
    owner = actor_for_staff(world.staff["franchisee_owner"])
    report = _members(world, f"P001,13800000001,王丽,,,{world.franchise_store.code},,", actor=owner)
    assert report.created == 1
    with pytest.raises(ImportRejected):
        _members(world, f"P002,,,,,{world.direct_store.code},,", actor=owner)


@pytest.mark.parametrize("who", ["guide", "region_manager"])
def test_guides_and_region_managers_may_not_import(
    session: Session, world: World, who: str
) -> None:
    actor = actor_for_staff(world.staff[who])
    before = row_counts(session)
    with pytest.raises(PermissionDenied) as refused:
        _orders(world, f"R1,{world.direct_store.code},2026-11-01,,,TEE-S,1,1.00,", actor=actor)
    assert refused.value.extra == {"permission": "import:run"}
    with pytest.raises(PermissionDenied):
        _members(world, f"P1,,,,,{world.direct_store.code},,", actor=actor)
    assert row_counts(session) == before
