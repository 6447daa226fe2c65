"""Tiers and points through the API and the console: the ladder and the policy (HQ), a
member's ledger by scope, manual adjustments (idempotent, audited), points at checkout, the
consumer's own points, and every refusal (nothing written)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.audit.models import AuditEntry
from siyu.loyalty.models import PointsAdjustment, PointsEntry
from siyu.orders.models import Order, OrderLine
from tests.factories_loyalty import (
    LoyalMall,
    assert_books_balance,
    build_loyal_mall,
    give_points,
    member_row,
)
from tests.helpers import assert_problem, row_counts
from tests.test_console_pages import log_in

LADDER = {
    "tiers": [
        {"code": "silver", "name": "银卡", "min_growth_value": 0, "sort": 1},
        {
            "code": "gold",
            "name": "金卡",
            "min_growth_value": 1000,
            "points_multiplier_permille": 1500,
            "sort": 2,
        },
    ]
}


@pytest.fixture
def loyal(session: Session) -> LoyalMall:
    return build_loyal_mall(session)


def adjust(
    client: TestClient, loyal: LoyalMall, who: str, body: dict[str, Any], key: str | None
) -> Any:
    headers = loyal.world.headers(who)
    if key is not None:
        headers["Idempotency-Key"] = key
    return client.post(
        f"/api/members/{loyal.member_id}/points/adjustments", json=body, headers=headers
    )


# ---------------------------------------------------------------- tiers and policy


def test_hq_replaces_the_ladder_and_members_move_to_their_tier(
    session: Session, client: TestClient, loyal: LoyalMall
) -> None:
    # when HQ sets the ladder
    response = client.put(
        "/api/loyalty/tiers", json=LADDER, headers=loyal.world.headers("hq_operator")
    )
    # then it is stored lowest first and the members (growth 0) are silver
    assert response.status_code == 200, response.text
    body = response.json()
    assert [
        (t["code"], t["min_growth_value"], t["points_multiplier_permille"]) for t in body["tiers"]
    ] == [
        ("silver", 0, 1000),
        ("gold", 1000, 1500),
    ]
    assert body["members_retiered"] >= 1
    assert member_row(session, loyal).tier_code == "silver"
    listed = client.get("/api/loyalty/tiers", headers=loyal.world.headers("guide")).json()
    assert [t["code"] for t in listed["tiers"]] == ["silver", "gold"]
    # and the change is audited with the ladders before and after
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "loyalty_tiers.replace"))
    assert entry is not None and entry.before == {"tiers": []}
    assert [t["code"] for t in (entry.after or {})["tiers"]] == ["silver", "gold"]


@pytest.mark.parametrize(
    ("tiers", "code"),
    [
        ([], "base_tier_required"),
        ([{"code": "gold", "name": "G", "min_growth_value": 10, "sort": 1}], "base_tier_required"),
        (
            [
                {"code": "a", "name": "A", "min_growth_value": 0, "sort": 1},
                {"code": "a", "name": "B", "min_growth_value": 5, "sort": 2},
            ],
            "duplicate_tier_code",
        ),
        (
            [
                {"code": "a", "name": "A", "min_growth_value": 0, "sort": 1},
                {"code": "b", "name": "B", "min_growth_value": 0, "sort": 2},
            ],
            "tier_thresholds_not_ascending",
        ),
    ],
)
def test_a_ladder_that_is_not_one_is_refused_and_nothing_changes(
    session: Session, client: TestClient, loyal: LoyalMall, tiers: list[dict[str, Any]], code: str
) -> None:
    before = row_counts(session)
    response = client.put(
        "/api/loyalty/tiers", json={"tiers": tiers}, headers=loyal.world.headers("brand_admin")
    )
    assert_problem(response, 422, code)
    assert row_counts(session) == before


@pytest.mark.parametrize("who", ["region_manager", "franchisee_owner", "store_manager", "guide"])
def test_only_hq_changes_tiers_and_the_policy(
    session: Session, client: TestClient, loyal: LoyalMall, who: str
) -> None:
    before = row_counts(session)
    tiers = client.put("/api/loyalty/tiers", json=LADDER, headers=loyal.world.headers(who))
    policy = client.put(
        "/api/loyalty/points-policy", json={"points_per_yuan": 5}, headers=loyal.world.headers(who)
    )
    assert_problem(tiers, 403, "permission_denied")
    assert_problem(policy, 403, "permission_denied")
    assert row_counts(session) == before


def test_the_points_policy_has_defaults_and_can_be_set(
    session: Session, client: TestClient, loyal: LoyalMall
) -> None:
    headers = loyal.world.headers("brand_admin")
    assert client.get("/api/loyalty/points-policy", headers=headers).json() == {
        "points_per_yuan": 1,
        "expiry_months": 12,
        "redeem_points_per_yuan": 100,
        "max_redeem_permille": 500,
        "enabled": True,
    }
    response = client.put(
        "/api/loyalty/points-policy",
        json={"points_per_yuan": 2, "max_redeem_permille": 300, "enabled": False},
        headers=headers,
    )
    assert response.status_code == 200
    assert (response.json()["points_per_yuan"], response.json()["enabled"]) == (2, False)
    audited = session.scalar(select(AuditEntry).where(AuditEntry.object_type == "points_policy"))
    assert audited is not None and audited.action == "points_policy.create"


# ---------------------------------------------------------------- adjustments and the ledger


def test_an_adjustment_is_idempotent_per_key_and_audited(
    session: Session, client: TestClient, loyal: LoyalMall
) -> None:
    body = {"delta": 500, "reason": "Goodwill for a late delivery"}
    # when HQ sends the same adjustment twice with one key
    first = adjust(client, loyal, "hq_operator", body, "adjust-key-1")
    again = adjust(client, loyal, "hq_operator", body, "adjust-key-1")
    # then one adjustment exists: 201 then 200 with the same row
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == again.json()
    assert first.json()["points_balance"] == 500
    assert first.json()["entry"]["kind"] == "adjust"
    assert len(session.scalars(select(PointsAdjustment)).all()) == 1
    assert member_row(session, loyal).points_balance == 500
    audited = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "points_adjustment.create")
    ).all()
    assert len(audited) == 1
    # and the key used for another amount is refused, writing nothing
    before = row_counts(session)
    other = adjust(client, loyal, "hq_operator", {"delta": 5, "reason": "x"}, "adjust-key-1")
    assert_problem(other, 409, "idempotency_key_reused")
    assert row_counts(session) == before


def test_removing_more_than_the_balance_is_refused(
    session: Session, client: TestClient, loyal: LoyalMall
) -> None:
    give_points(session, loyal, 100)
    before = row_counts(session)
    response = adjust(client, loyal, "brand_admin", {"delta": -101, "reason": "typo"}, "remove-1")
    body = assert_problem(response, 409, "points_insufficient")
    assert body["points_balance"] == 100
    assert row_counts(session) == before


def test_an_adjustment_needs_a_key(session: Session, client: TestClient, loyal: LoyalMall) -> None:
    before = row_counts(session)
    response = adjust(client, loyal, "brand_admin", {"delta": 1, "reason": "x"}, None)
    assert_problem(response, 422, "validation_error")
    assert row_counts(session) == before


@pytest.mark.parametrize("who", ["region_manager", "franchisee_owner", "store_manager", "guide"])
def test_only_hq_adjusts_points(
    session: Session, client: TestClient, loyal: LoyalMall, who: str
) -> None:
    before = row_counts(session)
    response = adjust(client, loyal, who, {"delta": 100, "reason": "x"}, f"adjust-{who}")
    assert_problem(response, 403, "permission_denied")
    assert row_counts(session) == before


@pytest.mark.parametrize(
    ("who", "visible"),
    [
        ("brand_admin", True),
        ("hq_operator", True),
        ("region_manager", True),  # the home store is in region A
        ("store_manager", True),  # the home store is theirs
        ("guide", True),  # they acquired the member
        ("franchisee_owner", False),
        ("other_guide", False),
    ],
)
def test_the_ledger_is_read_within_member_scope(
    session: Session, client: TestClient, loyal: LoyalMall, who: str, visible: bool
) -> None:
    # given three adjustments
    for points in (100, 200, -50):
        give_points(session, loyal, points)
    # when staff read the ledger, two rows a page
    response = client.get(
        f"/api/members/{loyal.member_id}/points?limit=2", headers=loyal.world.headers(who)
    )
    if not visible:
        assert_problem(response, 404, "member_not_found")
        return
    # then the newest rows come first with the balance after each
    assert response.status_code == 200, response.text
    page = response.json()
    assert (page["total"], page["points_balance"], page["member_id"]) == (3, 250, loyal.member_id)
    assert [(e["delta"], e["balance_after"], e["cause_type"]) for e in page["items"]] == [
        (-50, 250, "points_adjustment"),
        (200, 300, "points_adjustment"),
    ]


# ---------------------------------------------------------------- checkout


def storefront(loyal: LoyalMall, key: str | None = None) -> dict[str, str]:
    headers = dict(loyal.mall.shopper.headers)
    if key:
        headers["Idempotency-Key"] = key
    return headers


def fill_cart(client: TestClient, loyal: LoyalMall) -> None:
    response = client.put(
        f"/api/storefront/stores/{loyal.mall.store_id}/cart/lines/{loyal.mall.tee_s.id}",
        json={"quantity": 2},
        headers=storefront(loyal),
    )
    assert response.status_code == 200, response.text


def test_the_cart_prices_points_and_the_order_spends_them(
    session: Session, client: TestClient, loyal: LoyalMall
) -> None:
    # given 12,345 points and ¥198 in the cart
    give_points(session, loyal, 12_345)
    fill_cart(client, loyal)
    # when the consumer asks to spend 20,000 points
    cart = client.get(
        f"/api/storefront/stores/{loyal.mall.store_id}/cart?points_to_spend=20000",
        headers=storefront(loyal),
    ).json()
    # then at most half the goods is paid with points: 9,900 points for ¥99
    assert (cart["points_spent"], cart["points_discount_fen"]) == (9_900, 9_900)
    assert (cart["subtotal_fen"], cart["discount_fen"], cart["total_fen"]) == (19_800, 9_900, 9_900)
    explained = cart["lines"][0]["adjustments"][0]
    assert (explained["stage"], explained["amount_fen"]) == ("points", 9_900)
    assert (
        explained["explanation"]
        == "9900 points for ¥99.00 (100 points = ¥1, at most 50% of ¥198.00)"
    )
    # when the order is placed from the cart with those points
    placed = client.post(
        f"/api/storefront/stores/{loyal.mall.store_id}/orders",
        json={"fulfilment_method": "pickup", "points_to_spend": 9_900},
        headers=storefront(loyal, "points-order-1"),
    )
    # then the order records them and the ledger spends them
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert (order["points_spent"], order["points_discount_fen"], order["total_fen"]) == (
        9_900,
        9_900,
        9_900,
    )
    assert [line["discount_fen"] for line in order["lines"]] == [9_900]
    assert order["lines"][0]["adjustments"][0]["stage"] == "points"
    spend = session.scalar(select(PointsEntry).where(PointsEntry.kind == "spend"))
    assert spend is not None
    assert (spend.delta, spend.order_id, spend.balance_after) == (-9_900, order["id"], 2_445)
    assert_books_balance(session, loyal.brand_id, loyal.member_id)
    # and the consumer cancels it: the points come back
    cancelled = client.post(
        f"/api/storefront/orders/{order['id']}/cancel", headers=storefront(loyal)
    )
    assert cancelled.status_code == 200
    assert member_row(session, loyal).points_balance == 12_345
    assert_books_balance(session, loyal.brand_id, loyal.member_id)


def test_placing_with_more_points_than_the_balance_writes_nothing(
    session: Session, client: TestClient, loyal: LoyalMall
) -> None:
    # given the cart was priced with 5,000 points, and the balance dropped to 4,000 since
    give_points(session, loyal, 5_000)
    fill_cart(client, loyal)
    give_points(session, loyal, -1_000)
    before = row_counts(session)
    # when the consumer places the order with 5,000 points
    response = client.post(
        f"/api/storefront/stores/{loyal.mall.store_id}/orders",
        json={"fulfilment_method": "pickup", "points_to_spend": 5_000},
        headers=storefront(loyal, "points-order-2"),
    )
    # then it is refused and nothing was written: no order, no ledger row, the cart kept
    body = assert_problem(response, 409, "points_insufficient")
    assert (body["points_balance"], body["points_needed"]) == (4_000, 5_000)
    assert row_counts(session) == before
    assert session.scalars(select(Order)).all() == []
    assert session.scalars(select(OrderLine)).all() == []


def test_points_are_spent_in_whole_units_only(
    session: Session, client: TestClient, loyal: LoyalMall
) -> None:
    give_points(session, loyal, 1_000)
    fill_cart(client, loyal)
    before = row_counts(session)
    cart = client.get(
        f"/api/storefront/stores/{loyal.mall.store_id}/cart?points_to_spend=150",
        headers=storefront(loyal),
    )
    placed = client.post(
        f"/api/storefront/stores/{loyal.mall.store_id}/orders",
        json={"fulfilment_method": "pickup", "points_to_spend": 150},
        headers=storefront(loyal, "points-order-3"),
    )
    assert_problem(cart, 422, "points_not_redeemable")
    assert_problem(placed, 422, "points_not_redeemable")
    assert row_counts(session) == before


# ---------------------------------------------------------------- the storefront and the console


def test_the_consumer_sees_their_points(
    session: Session, client: TestClient, loyal: LoyalMall
) -> None:
    give_points(session, loyal, 300)
    response = client.get("/api/storefront/points", headers=storefront(loyal))
    assert response.status_code == 200
    body = response.json()
    assert body["member"] is True
    assert (body["loyalty"]["points_balance"], body["redeem_points_per_yuan"]) == (300, 100)
    assert [e["delta"] for e in body["loyalty"]["recent_entries"]] == [300]


def test_hq_edits_the_ladder_in_the_console(
    session: Session, client: TestClient, loyal: LoyalMall
) -> None:
    csrf = log_in(client, loyal.world, "hq_operator")
    page = client.get("/console/loyalty")
    assert page.status_code == 200 and 'id="tiers-form"' in page.text
    # a refused ladder shows the reason and keeps what was typed
    refused = client.post(
        "/console/loyalty/tiers",
        data={
            "csrf_token": csrf,
            "code": ["gold", ""],
            "name": ["Gold", ""],
            "min_growth_value": ["10", ""],
            "points_multiplier_permille": ["1000", "1000"],
            "sort": ["1", "2"],
        },
    )
    assert refused.status_code == 422
    assert "must start at growth value 0" in refused.text and 'value="gold"' in refused.text
    saved = client.post(
        "/console/loyalty/tiers",
        data={
            "csrf_token": csrf,
            "code": ["silver", "gold", ""],
            "name": ["Silver", "Gold", ""],
            "min_growth_value": ["0", "1000", ""],
            "points_multiplier_permille": ["1000", "1500", "1000"],
            "sort": ["1", "2", "3"],
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303
    shown = client.get(saved.headers["location"])
    assert "Tiers saved." in shown.text and "<code>gold</code>" in shown.text
    assert member_row(session, loyal).tier_code == "silver"


def test_a_guide_sees_the_ladder_without_forms(client: TestClient, loyal: LoyalMall) -> None:
    log_in(client, loyal.world, "guide")
    page = client.get("/console/loyalty")
    assert page.status_code == 200
    assert 'id="tiers-form"' not in page.text and 'id="policy"' in page.text
