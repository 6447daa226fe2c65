"""Console pages of after-sales, complaints, the catalog and stock, used through the real login
form and CSRF tokens as a store manager would."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.aftersales.complaints import file_complaint
from siyu.aftersales.console import yuan_to_fen
from siyu.aftersales.models import AfterSale, Complaint
from siyu.aftersales.schemas import ComplaintCreate
from siyu.core.errors import InvalidInput
from siyu.db.session import Database
from siyu.orders.checkout import Shopper as CheckoutShopper
from siyu.orders.models import Order
from siyu.payments.models import Refund
from tests.factories_aftersales import deliver_refunds, level, paid_order
from tests.factories_mall import Mall, build_mall
from tests.helpers import row_counts
from tests.test_console_pages import HX, log_in

PHOTOS = ["https://img.example.com/a.jpg", "https://img.example.com/b.jpg"]


@pytest.fixture
def mall(session: Session) -> Mall:
    return build_mall(session)


def picked_up(
    session: Session, db: Database, client: TestClient, mall: Mall, quantity: int
) -> dict[str, Any]:
    """A paid pickup order of ``quantity`` S tees, written off at the store (API)."""
    order = paid_order(session, db, client, mall, [(mall.tee_s.id, quantity)])
    done = client.post(
        f"/api/stores/{mall.store_id}/pickups",
        json={"pickup_code": order["pickup_code"]},
        headers=mall.world.headers("store_manager"),
    )
    assert done.status_code == 200, done.text
    result: dict[str, Any] = done.json()
    return result


def ask(
    client: TestClient, mall: Mall, order: dict[str, Any], kind: str, quantity: int, amount: int
) -> dict[str, Any]:
    """The consumer's after-sale request for the order's first line (storefront API)."""
    response = client.post(
        f"/api/storefront/orders/{order['id']}/after-sales",
        json={
            "kind": kind,
            "reason": "Stain on the sleeve",
            "description": "Visible in daylight",
            "photos": PHOTOS,
            "lines": [{"order_line_id": order["lines"][0]["id"], "quantity": quantity}],
            "requested_refund_fen": amount,
        },
        headers=mall.shopper.headers,
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def order_row(session: Session, mall: Mall, order_id: int) -> Order:
    session.expire_all()
    row = session.get(Order, (mall.world.brand.id, order_id))
    assert row is not None
    return row


# ---------------------------------------------------------------- yuan typed in forms


@pytest.mark.parametrize(
    ("text", "fen"),
    [("12.5", 1250), ("0.01", 1), ("¥1,234.56", 123456), ("30", 3000), ("  ", None)],
)
def test_yuan_typed_in_a_form_become_fen_exactly(text: str, fen: int | None) -> None:
    assert yuan_to_fen(text, "amount") == fen


@pytest.mark.parametrize("text", ["12.345", "-1", "1e3", "NaN", "12.", "1.2.3", "0x10"])
def test_anything_else_is_not_an_amount(text: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        yuan_to_fen(text, "amount")
    assert refused.value.field == "amount"


# ---------------------------------------------------------------- after-sales


def test_a_store_manager_approves_a_refund_through_the_console(
    session: Session, db: Database, client: TestClient, mall: Mall
) -> None:
    # given a picked-up order of two tees (198.00) and a refund-only request for 50.00
    order = picked_up(session, db, client, mall, 2)
    request = ask(client, mall, order, "refund_only", 1, 5000)
    csrf = log_in(client, mall.world, "store_manager")
    # when the manager opens the queue and the request
    queue = client.get("/console/after-sales")
    page = client.get(f"/console/after-sales/{request['id']}")
    # then the queue lists it and the page shows what was asked, the photos and the money
    assert f'href="/console/after-sales/{request["id"]}"' in queue.text
    assert "1 request(s)" in queue.text
    assert 'id="requested-refund">¥50.00' in page.text
    assert 'id="order-paid">¥198.00' in page.text
    assert 'id="order-refunded">¥0.00' in page.text
    assert all(f'<img src="{url}"' in page.text for url in PHOTOS)
    assert 'name="approved_refund" value="50.00"' in page.text
    # when the manager asks for more than requested
    before = row_counts(session)
    too_much = client.post(
        f"/console/after-sales/{request['id']}/approve",
        data={"csrf_token": csrf, "approved_refund": "50.01"},
        follow_redirects=False,
    )
    not_money = client.post(
        f"/console/after-sales/{request['id']}/approve",
        data={"csrf_token": csrf, "approved_refund": "30.005"},
        follow_redirects=False,
    )
    # then both are refused on the form and nothing was written
    assert too_much.status_code == 422
    assert "At most the 5000 fen asked can be approved." in too_much.text
    assert not_money.status_code == 422
    assert "is not an amount in yuan" in not_money.text
    assert row_counts(session) == before
    # when the manager approves 30.00
    approved = client.post(
        f"/console/after-sales/{request['id']}/approve",
        data={"csrf_token": csrf, "approved_refund": "30.00", "note": "Half the tee"},
        follow_redirects=False,
    )
    # then a refund of exactly 3000 fen was requested from WeChat Pay
    assert approved.status_code == 303
    assert approved.headers["location"] == f"/console/after-sales/{request['id']}?done=approved"
    session.expire_all()
    refund = session.scalars(select(Refund)).one()
    assert (refund.amount_fen, refund.status, refund.after_sale_id) == (
        3000,
        "pending",
        request["id"],
    )
    shown = client.get(approved.headers["location"])
    assert "Approved." in shown.text
    assert 'id="approved-refund">¥30.00' in shown.text
    assert refund.out_refund_no in shown.text
    # and when the money has gone back, the order shows it
    deliver_refunds(db)
    final = order_row(session, mall, order["id"])
    assert (final.refunded_fen, final.payment_status, final.after_sale_status) == (
        3000,
        "partially_refunded",
        "closed",
    )
    refunded_page = client.get(f"/console/after-sales/{request['id']}")
    assert 'id="order-refunded">¥30.00' in refunded_page.text


def test_a_rejection_needs_a_note_and_closes_the_request(
    session: Session, db: Database, client: TestClient, mall: Mall
) -> None:
    order = picked_up(session, db, client, mall, 1)
    request = ask(client, mall, order, "refund_only", 1, 9900)
    csrf = log_in(client, mall.world, "store_manager")
    before = row_counts(session)
    blank = client.post(
        f"/console/after-sales/{request['id']}/reject",
        data={"csrf_token": csrf, "note": "  "},
        follow_redirects=False,
    )
    assert blank.status_code == 422
    assert "Note: String should have at least 1 character." in blank.text
    assert row_counts(session) == before
    rejected = client.post(
        f"/console/after-sales/{request['id']}/reject",
        data={"csrf_token": csrf, "note": "Worn and washed"},
        follow_redirects=False,
    )
    assert rejected.status_code == 303
    session.expire_all()
    row = session.get(AfterSale, (mall.world.brand.id, request["id"]))
    assert row is not None
    assert (row.status, row.decision_note) == ("rejected", "Worn and washed")
    assert order_row(session, mall, order["id"]).after_sale_status == "closed"
    again = client.post(
        f"/console/after-sales/{request['id']}/approve",
        data={"csrf_token": csrf, "approved_refund": ""},
        follow_redirects=False,
    )
    assert again.status_code == 409
    assert f"After-sale request {request['id']} was already decided (rejected)." in again.text


def test_returned_goods_are_received_with_restock_per_line(
    session: Session, db: Database, client: TestClient, mall: Mall
) -> None:
    # given an approved return of one of two tees (the store had 5, 3 after pickup)
    order = picked_up(session, db, client, mall, 2)
    request = ask(client, mall, order, "return_and_refund", 1, 9900)
    csrf = log_in(client, mall.world, "store_manager")
    approved = client.post(
        f"/console/after-sales/{request['id']}/approve",
        data={"csrf_token": csrf, "approved_refund": "99"},
        follow_redirects=False,
    )
    assert approved.status_code == 303
    page = client.get(approved.headers["location"])
    assert 'id="receive-form"' in page.text
    line_id = order["lines"][0]["id"]
    # when the goods arrive and are put back on sale
    received = client.post(
        f"/console/after-sales/{request['id']}/receive",
        data={"csrf_token": csrf, "line": str(line_id), "restock": str(line_id)},
        follow_redirects=False,
    )
    # then the tee is back on hand and the refund of 99.00 started
    assert received.status_code == 303
    assert level(session, mall.store_location.id, mall.tee_s.id) == (4, 0, 0)
    refund = session.scalars(select(Refund)).one()
    assert refund.amount_fen == 9900


def test_damaged_returned_goods_stay_off_the_shelf(
    session: Session, db: Database, client: TestClient, mall: Mall
) -> None:
    order = picked_up(session, db, client, mall, 1)
    request = ask(client, mall, order, "return_and_refund", 1, 9900)
    csrf = log_in(client, mall.world, "store_manager")
    client.post(
        f"/console/after-sales/{request['id']}/approve",
        data={"csrf_token": csrf, "approved_refund": ""},
        follow_redirects=False,
    )
    received = client.post(
        f"/console/after-sales/{request['id']}/receive",
        data={"csrf_token": csrf, "line": str(order["lines"][0]["id"])},  # box unticked
        follow_redirects=False,
    )
    assert received.status_code == 303
    assert level(session, mall.store_location.id, mall.tee_s.id) == (4, 0, 0)


def test_an_approval_without_the_csrf_token_writes_nothing(
    session: Session, db: Database, client: TestClient, mall: Mall
) -> None:
    order = picked_up(session, db, client, mall, 1)
    request = ask(client, mall, order, "refund_only", 1, 9900)
    log_in(client, mall.world, "store_manager")
    before = row_counts(session)
    response = client.post(
        f"/console/after-sales/{request['id']}/approve",
        data={"approved_refund": "99.00"},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert row_counts(session) == before


def test_another_stores_staff_and_guides_cannot_open_a_request(
    session: Session, db: Database, client: TestClient, mall: Mall
) -> None:
    order = picked_up(session, db, client, mall, 1)
    request = ask(client, mall, order, "refund_only", 1, 9900)
    log_in(client, mall.world, "franchisee_owner")
    foreign = client.get(f"/console/after-sales/{request['id']}")
    queue = client.get("/console/after-sales")
    csrf = log_in(client, mall.world, "guide")
    before = row_counts(session)
    guide = client.post(
        f"/console/after-sales/{request['id']}/approve",
        data={"csrf_token": csrf, "approved_refund": "99.00"},
        follow_redirects=False,
    )
    assert foreign.status_code == 404
    assert f"After-sale request {request['id']} was not found." in foreign.text
    assert "0 request(s)" in queue.text
    assert guide.status_code == 403
    assert row_counts(session) == before


# ---------------------------------------------------------------- complaints


def make_complaint(session: Session, mall: Mall) -> Complaint:
    shopper = CheckoutShopper(mall.world.brand.id, mall.shopper.consumer.id, "test")
    complaint = file_complaint(
        session,
        shopper,
        ComplaintCreate(store_id=mall.store_id, subject="Rude at the till", body="Yesterday"),
    )
    session.commit()
    return complaint


def test_a_complaint_is_answered_and_closed_through_the_console(
    session: Session, client: TestClient, mall: Mall
) -> None:
    complaint = make_complaint(session, mall)
    csrf = log_in(client, mall.world, "store_manager")
    listing = client.get("/console/complaints")
    overdue = client.get("/console/complaints", params={"overdue": "1"})
    page = client.get(f"/console/complaints/{complaint.id}")
    assert "Rude at the till" in listing.text
    assert "No complaints match." in overdue.text  # answered within 24 hours: not yet late
    assert 'id="answer-form"' in page.text
    assert mall.world.staff["store_manager"].name in page.text  # owned by the manager
    before = row_counts(session)
    blank = client.post(
        f"/console/complaints/{complaint.id}/answer",
        data={"csrf_token": csrf, "response": " "},
        follow_redirects=False,
    )
    assert blank.status_code == 422
    assert row_counts(session) == before
    answered = client.post(
        f"/console/complaints/{complaint.id}/answer",
        data={"csrf_token": csrf, "response": "We are sorry; coffee is on us."},
        follow_redirects=False,
    )
    closed = client.post(
        f"/console/complaints/{complaint.id}/close",
        data={"csrf_token": csrf, "note": "Visited"},
        follow_redirects=False,
    )
    assert (answered.status_code, closed.status_code) == (303, 303)
    session.expire_all()
    row = session.get(Complaint, (mall.world.brand.id, complaint.id))
    assert row is not None
    assert (row.status, row.response) == ("closed", "We are sorry; coffee is on us.")
    after = client.get(f"/console/complaints/{complaint.id}")
    assert 'id="answer-form"' not in after.text
    assert "<code>answered</code>" in after.text and "<code>closed</code>" in after.text


def test_a_complaint_cannot_be_given_to_a_guide(
    session: Session, client: TestClient, mall: Mall
) -> None:
    complaint = make_complaint(session, mall)
    csrf = log_in(client, mall.world, "store_manager")
    page = client.get(f"/console/complaints/{complaint.id}")
    assert f'<option value="{mall.world.staff["guide"].id}"' not in page.text
    before = row_counts(session)
    refused = client.post(
        f"/console/complaints/{complaint.id}/assign",
        data={"csrf_token": csrf, "owner_staff_id": str(mall.world.staff["guide"].id)},
        follow_redirects=False,
    )
    assert refused.status_code == 422
    assert f"Staff member {mall.world.staff['guide'].id} cannot take this complaint." in (
        refused.text
    )
    assert row_counts(session) == before


# ---------------------------------------------------------------- catalog and stock


def test_the_catalog_lists_products_with_prices_and_searches(
    session: Session, client: TestClient, mall: Mall
) -> None:
    log_in(client, mall.world, "store_manager")
    page = client.get("/console/catalog")
    found = client.get("/console/catalog", params={"q": "JKT"}, headers=HX)
    product = client.get(f"/console/catalog/{mall.jacket.product_id}")
    assert page.status_code == 200
    assert "2 product(s)" in page.text
    assert "<code>TEE</code>" in page.text and "99.00" in page.text
    assert "<html" not in found.text
    assert "1 product(s)" in found.text and "399.00" in found.text
    assert "<code>JKT-L</code>" in product.text


def test_the_stock_page_shows_levels_and_the_ledger(
    session: Session, db: Database, client: TestClient, mall: Mall
) -> None:
    # given two tees paid for and waiting at the store
    paid_order(session, db, client, mall, [(mall.tee_s.id, 2)])
    log_in(client, mall.world, "store_manager")
    # when
    page = client.get("/console/stock", params={"location_id": mall.store_location.id})
    default = client.get("/console/stock")
    warehouse = client.get("/console/stock", params={"location_id": mall.world.warehouse.id})
    # then on hand 5, allocated 2, available 3; the ledger explains it
    assert page.status_code == 200
    assert (
        '<td><code>TEE-S</code></td>\n      <td class="num">5</td>\n      <td class="num">0</td>\n'
        '      <td class="num">2</td>\n      <td class="num"><strong>3</strong></td>'
    ) in page.text
    assert "Allocation" in page.text and "Reservation" in page.text
    assert mall.store_location.code in default.text
    assert warehouse.status_code == 404  # a store manager does not see the warehouse
