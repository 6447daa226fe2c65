"""Pure rules of offline data: mappings, cells, receipts, who may import, the share."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from siyu.access.rules import ActorKind, Permission, Role, ScopeKind, staff_actor, system_actor
from siyu.offline import rules
from siyu.offline.rules import ImportKind, MappingProblem, OfflineRuleError, SummaryChange

MEMBERS = ImportKind.POS_MEMBERS
ORDERS = ImportKind.POS_ORDERS


# ---------------------------------------------------------------- mappings


def test_a_mapping_is_read_as_field_to_column_key() -> None:
    assert rules.check_mapping(ORDERS, {" 小票号 ": "order_number", "Qty": "quantity"}) == {
        "order_number": "小票号",
        "quantity": "qty",
    }


def test_a_mapping_names_every_problem_at_once() -> None:
    with pytest.raises(MappingProblem) as problem:
        rules.check_mapping(
            ORDERS,
            {
                "单号": "order_no",
                "金额": "amount_yuan",
                "分": "amount_fen",
                "手机": "phone",
                "电话": "phone",
                " ": "sku_code",
            },
        )
    assert problem.value.reasons == [
        "unknown field 'order_no' (for column '单号'); the fields are: order_number, "
        "store_code, placed_at, pos_member_number, phone, sku_code, quantity, amount_yuan, "
        "amount_fen, order_total",
        "the field 'phone' is given by two columns ('手机' and '电话')",
        "a column name is empty (mapped to 'sku_code')",
        "map only one of amount_yuan or amount_fen, not amount_yuan and amount_fen",
    ]


def test_a_field_left_out_is_read_from_a_column_of_its_own_name() -> None:
    columns = rules.check_mapping(ORDERS, {"单号": "order_number"})
    resolved, problems = rules.resolve_columns(
        ORDERS,
        columns,
        ["单号", "store_code", "placed_at", "sku_code", "quantity", "amount_fen", "备注"],
    )
    assert problems == []
    assert resolved == {
        "order_number": "单号",
        "store_code": "store_code",
        "placed_at": "placed_at",
        "sku_code": "sku_code",
        "quantity": "quantity",
        "amount_fen": "amount_fen",
    }


def test_an_explicit_amount_wins_over_a_column_named_like_the_other() -> None:
    columns = rules.check_mapping(ORDERS, {"金额": "amount_yuan"})
    header = ["order_number", "store_code", "placed_at", "sku_code", "quantity", "金额"]
    resolved, problems = rules.resolve_columns(ORDERS, columns, [*header, "amount_fen"])
    assert problems == []
    assert resolved["amount_yuan"] == "金额"
    assert "amount_fen" not in resolved


def test_missing_columns_and_fields_are_named() -> None:
    columns = rules.check_mapping(ORDERS, {"小票号": "order_number", "数量": "quantity"})
    _, problems = rules.resolve_columns(ORDERS, columns, ["小票号", "store_code", "placed_at"])
    assert problems == [
        "the column '数量' (mapped to quantity) is not in the file",
        "no column gives the required field sku_code; name it in the mapping "
        "(file column=sku_code)",
        "no column gives amount_yuan or amount_fen; map at least one",
    ]
    _, member_problems = rules.resolve_columns(MEMBERS, {}, ["姓名"])
    assert member_problems == ["no column gives pos_member_number or phone; map at least one"]


def test_mappings_from_json_and_pairs() -> None:
    assert rules.mapping_from_json('{"会员卡号": "pos_member_number"}') == {
        "会员卡号": "pos_member_number"
    }
    assert rules.mapping_from_json("  ") == {}
    assert rules.mapping_from_pairs(["a=b=phone", "卡号=pos_member_number"]) == {
        "a=b": "phone",
        "卡号": "pos_member_number",
    }
    with pytest.raises(MappingProblem) as not_json:
        rules.mapping_from_json("[1, 2]")
    assert not_json.value.reasons == [
        'the mapping must be a JSON object {"file column": "field", ...}'
    ]
    with pytest.raises(MappingProblem) as bad_pairs:
        rules.mapping_from_pairs(["phone", "A=x", "a=y"])
    assert bad_pairs.value.reasons == [
        "'phone' is not COLUMN=FIELD (e.g. 会员卡号=pos_member_number)",
        "the column 'a' is mapped twice",
    ]


# ---------------------------------------------------------------- cells


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-03 14:22:05", datetime(2026, 11, 3, 6, 22, 5, tzinfo=UTC)),
        ("2026/11/3 9:05", datetime(2026, 11, 3, 1, 5, tzinfo=UTC)),
        ("2026-11-03", datetime(2026, 11, 2, 16, 0, tzinfo=UTC)),
        ("2026-11-03T14:22:05+08:00", datetime(2026, 11, 3, 6, 22, 5, tzinfo=UTC)),
        ("2026-11-03T06:22:05Z", datetime(2026, 11, 3, 6, 22, 5, tzinfo=UTC)),
        ("2026-11-03 06:22:05.5-0100", datetime(2026, 11, 3, 7, 22, 5, 500000, tzinfo=UTC)),
    ],
)
def test_moments_are_read_as_shanghai_times_unless_they_say_otherwise(
    text: str, expected: datetime
) -> None:
    assert rules.parse_moment(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("03/11/2026", "'03/11/2026' is not a time like 2026-11-03 14:22:05"),
        ("2026-02-30 10:00", "'2026-02-30 10:00' is not a real date and time"),
    ],
)
def test_bad_moments_say_why(text: str, reason: str) -> None:
    with pytest.raises(OfflineRuleError, match=reason):
        rules.parse_moment(text)


def test_days_genders_and_birthdays() -> None:
    assert rules.parse_day("1990/5/17") == date(1990, 5, 17)
    assert rules.parse_day("19900517") == date(1990, 5, 17)
    with pytest.raises(OfflineRuleError, match="is not a date like"):
        rules.parse_day("1990-05-17 10:00")
    assert [rules.parse_gender(g) for g in ("男", "F", "female", "2", "M")] == [
        "male",
        "female",
        "female",
        "female",
        "male",
    ]
    with pytest.raises(OfflineRuleError, match="must be 男/女"):
        rules.parse_gender("x")
    with pytest.raises(OfflineRuleError, match="not a plausible birthday"):
        rules.check_birthday(date(2030, 1, 1), date(2026, 11, 22))


def test_quantities_and_amounts_are_signed() -> None:
    assert rules.parse_quantity("-2") == -2
    assert rules.parse_yuan("-59.9") == -5990
    assert rules.parse_yuan("199") == 19900
    assert rules.parse_fen("+19900") == 19900
    for bad, parse in (("0", rules.parse_quantity), ("1.5", rules.parse_quantity)):
        with pytest.raises(OfflineRuleError):
            parse(bad)
    with pytest.raises(OfflineRuleError, match="is not an amount in yuan"):
        rules.parse_yuan("1,299.00")
    with pytest.raises(OfflineRuleError, match="is not an amount in yuan"):
        rules.parse_yuan("1.999")
    assert rules.amount_problem(1, -100) == (
        "a sold item (positive quantity) cannot have a negative amount"
    )
    assert rules.amount_problem(-1, 100) == (
        "a returned item (negative quantity) needs a negative amount"
    )
    assert rules.amount_problem(2, 0) is None


# ---------------------------------------------------------------- receipts


@pytest.mark.parametrize(
    ("amounts", "change", "amount"),
    [
        ([19900, 5990], SummaryChange.PURCHASE, 25890),
        ([32900, -19900], SummaryChange.PURCHASE, 13000),  # an exchange that nets a sale
        ([-19900], SummaryChange.RETURN, 19900),  # a return receipt
        ([19900, -19900], SummaryChange.NOTHING, 0),  # an even exchange
    ],
)
def test_what_a_receipt_does_to_the_purchase_summary(
    amounts: list[int], change: SummaryChange, amount: int
) -> None:
    assert rules.summary_change(rules.receipt_totals(amounts)) == (change, amount)


def test_receipt_totals_split_sales_and_returns() -> None:
    totals = rules.receipt_totals([32900, -19900, 0])
    assert (totals.total_fen, totals.refunded_fen, totals.net_fen) == (32900, 19900, 13000)


# ---------------------------------------------------------------- who may import


def _staff(role: Role) -> rules.Actor:
    return staff_actor(
        brand_id=1,
        staff_id=7,
        name="x",
        role=role,
        region_id=1,
        store_id=1,
        franchisee_id=1,
    )


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (Role.BRAND_ADMIN, True),
        (Role.HQ_OPERATOR, True),
        (Role.FRANCHISEE_OWNER, True),
        (Role.STORE_MANAGER, True),
        (Role.REGION_MANAGER, False),
        (Role.GUIDE, False),
    ],
)
def test_who_may_import_pos_files(role: Role, allowed: bool) -> None:
    assert rules.may_import_pos(_staff(role)) is allowed


def test_a_store_manager_token_without_order_write_may_not_import() -> None:
    narrowed = staff_actor(
        brand_id=1,
        staff_id=7,
        name="x",
        role=Role.STORE_MANAGER,
        region_id=None,
        store_id=1,
        franchisee_id=None,
        token_scopes=frozenset({Permission.ORG_READ}),
    )
    assert not rules.may_import_pos(narrowed)
    assert rules.may_import_pos(system_actor(1))
    assert system_actor(1).kind is ActorKind.SYSTEM and system_actor(1).scope is ScopeKind.BRAND


# ---------------------------------------------------------------- the share


def test_the_private_domain_share_is_exact_and_rounded_half_up() -> None:
    share = rules.private_domain_share(online_gmv_fen=20000, offline_gmv_fen=10000)
    assert (share.share, share.share_permille, share.all_gmv_fen) == (Decimal("0.6667"), 667, 30000)
    half = rules.private_domain_share(online_gmv_fen=1, offline_gmv_fen=1999)
    assert (half.share, half.share_permille) == (Decimal("0.0005"), 1)  # 0.0005, 0.5 permille
    everything = rules.private_domain_share(online_gmv_fen=500, offline_gmv_fen=0)
    assert (everything.share, everything.share_permille) == (Decimal("1.0000"), 1000)


def test_no_gmv_has_no_share() -> None:
    assert rules.private_domain_share(0, 0).share is None
    assert rules.private_domain_share(0, -300).share_permille is None
