"""Console pages of the mall: orders, the pickup counter (核销) and shipping, used through the
real login form and CSRF tokens as a store manager would."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.audit.models import AuditEntry
from siyu.db.session import Database
from siyu.orders.models import Order
from tests.factories_aftersales import level, paid_order, place
from tests.factories_mall import Mall, build_mall
from tests.helpers import row_counts
from tests.test_console_pages import HX, log_in

ORDER_LINK = re.compile(r'<a href="/console/orders/(\d+)"><code>')


@pytest.fixture
def mall(session: Session) -> Mall:
    return build_mall(session)


def order_row(session: Session, mall: Mall, order_id: int) -> Order:
    session.expire_all()
    row = session.get(Order, (mall.world.brand.id, order_id))
    assert row is not None
    return row


def write_off(client: TestClient, csrf: str, store_id: int, code: str) -> Any:
    return client.post(
        "/console/pickup",
        data={"csrf_token": csrf, "store_id": str(store_id), "pickup_code": code},
        follow_redirects=False,
    )


# ---------------------------------------------------------------- the pickup counter


def test_a_store_manager_looks_a_pickup_code_up_and_writes_it_off(
    session: Session, db: Database, client: TestClient, mall: Mall
) -> None:
    # given a paid pickup order of two S tees (5 in the store)
    order = paid_order(session, db, client, mall, [(mall.tee_s.id, 2)])
    assert level(session, mall.store_location.id, mall.tee_s.id) == (5, 0, 2)
    csrf = log_in(client, mall.world, "store_manager")
    # when the manager opens the counter and types the code
    counter = client.get("/console/pickup")
    found = client.get("/console/pickup", params={"pickup_code": order["pickup_code"]})
    # then the counter has one big autofocused input (one store: no picker) and the order
    assert counter.status_code == 200
    assert 'name="pickup_code"' in counter.text and "autofocus" in counter.text
    assert '<select name="store_id"' not in counter.text
    assert found.status_code == 200
    assert order["number"] in found.text
    assert "<code>TEE-S</code>" in found.text
    assert 'id="write-off-form"' in found.text
    # when the manager confirms
    done = write_off(client, csrf, mall.store_id, order["pickup_code"])
    # then the order is picked up, its stock left the shelf, and the counter says so
    assert done.status_code == 303
    assert (
        done.headers["location"] == f"/console/pickup?store_id={mall.store_id}&done={order['id']}"
    )
    shown = client.get(done.headers["location"])
    assert "Picked up" in shown.text
    assert order["number"] in shown.text
    assert level(session, mall.store_location.id, mall.tee_s.id) == (3, 0, 0)
    final = order_row(session, mall, order["id"])
    assert (final.fulfilment_status, final.lifecycle_status) == ("fulfilled", "completed")
    assert session.scalars(select(AuditEntry.action)).all().count("order.pick_up") == 1


def test_a_second_write_off_is_refused_on_the_form_and_writes_nothing(
    session: Session, db: Database, client: TestClient, mall: Mall
) -> None:
    # given an order already picked up
    order = paid_order(session, db, client, mall, [(mall.tee_s.id, 1)])
    csrf = log_in(client, mall.world, "store_manager")
    assert write_off(client, csrf, mall.store_id, order["pickup_code"]).status_code == 303
    before = row_counts(session)
    # when the code is written off again, or looked up
    again = write_off(client, csrf, mall.store_id, order["pickup_code"])
    looked_up = client.get("/console/pickup", params={"pickup_code": order["pickup_code"]})
    # then the form says why, and nothing was written
    assert again.status_code == 409
    assert f"Order {order['number']} was already picked up" in again.text
    assert 'role="alert"' in again.text
    assert row_counts(session) == before
    assert level(session, mall.store_location.id, mall.tee_s.id) == (4, 0, 0)
    assert "Already picked up" in looked_up.text
    assert 'id="write-off-form"' not in looked_up.text


def test_a_code_of_another_store_is_refused_and_writes_nothing(
    session: Session, db: Database, client: TestClient, mall: Mall
) -> None:
    # given a paid order waiting at the direct store
    order = paid_order(session, db, client, mall, [(mall.tee_s.id, 1)])
    # when HQ enters its code at another store
    hq_csrf = log_in(client, mall.world, "hq_operator")
    before = row_counts(session)
    elsewhere = write_off(client, hq_csrf, mall.world.other_store.id, order["pickup_code"])
    lookup = client.get(
        "/console/pickup",
        params={"store_id": mall.world.other_store.id, "pickup_code": order["pickup_code"]},
    )
    # and the direct store's manager names a store outside their scope
    csrf = log_in(client, mall.world, "store_manager")
    before["console_session"] += 1
    outside = write_off(client, csrf, mall.world.other_store.id, order["pickup_code"])
    # then each is refused on the form, and nothing was written
    assert elsewhere.status_code == 404
    assert "No order of this store has that pickup code." in elsewhere.text
    assert lookup.status_code == 404
    assert "No order of this store has that pickup code." in lookup.text
    assert '<select name="store_id"' in lookup.text  # HQ sees every store: a store picker
    assert outside.status_code == 404
    assert f"Store {mall.world.other_store.id} was not found." in outside.text
    assert row_counts(session) == before
    assert order_row(session, mall, order["id"]).fulfilment_status == "ready_for_pickup"


def test_an_unpaid_order_cannot_be_picked_up(
    session: Session, client: TestClient, mall: Mall
) -> None:
    # given an order placed but not paid
    order = place(client, mall, [(mall.tee_s.id, 1)])
    csrf = log_in(client, mall.world, "store_manager")
    before = row_counts(session)
    # when the manager tries to hand it over
    response = write_off(client, csrf, mall.store_id, order["pickup_code"])
    # then
    assert response.status_code == 409
    assert f"Order {order['number']} is not paid (unpaid)." in response.text
    assert row_counts(session) == before


def test_a_short_code_is_refused_before_any_lookup(
    session: Session, client: TestClient, mall: Mall
) -> None:
    csrf = log_in(client, mall.world, "store_manager")
    before = row_counts(session)
    response = write_off(client, csrf, mall.store_id, "12")
    assert response.status_code == 422
    assert "Pickup code: String should have at least 4 characters." in response.text
    assert row_counts(session) == before


def test_a_write_off_without_the_csrf_token_is_refused_and_writes_nothing(
    session: Session, db: Database, client: TestClient, mall: Mall
) -> None:
    # given a paid order and a logged-in manager
    order = paid_order(session, db, client, mall, [(mall.tee_s.id, 1)])
    log_in(client, mall.world, "store_manager")
    before = row_counts(session)
    # when a form without the token (or with a wrong one) is posted
    missing = client.post(
        "/console/pickup",
        data={"store_id": str(mall.store_id), "pickup_code": order["pickup_code"]},
        follow_redirects=False,
    )
    wrong = write_off(client, "not-the-token", mall.store_id, order["pickup_code"])
    # then both are refused and the goods are still waiting
    assert missing.status_code == 403
    assert "The form has expired or did not come from this site" in missing.text
    assert wrong.status_code == 403
    assert row_counts(session) == before
    assert order_row(session, mall, order["id"]).fulfilment_status == "ready_for_pickup"


# ---------------------------------------------------------------- orders


def test_the_order_list_shows_the_stores_orders_newest_first_and_filters(
    session: Session, db: Database, client: TestClient, mall: Mall
) -> None:
    # given a paid order and, later, an unpaid one
    paid = paid_order(session, db, client, mall, [(mall.tee_s.id, 1)], key="order-key-1")
    unpaid = place(client, mall, [(mall.tee_s.id, 2)], key="order-key-2")
    log_in(client, mall.world, "store_manager")
    # when
    page = client.get("/console/orders")
    only_paid = client.get("/console/orders", params={"payment_status": "paid"}, headers=HX)
    # then
    assert page.status_code == 200
    assert ORDER_LINK.findall(page.text) == [str(unpaid["id"]), str(paid["id"])]
    assert "2 order(s)" in page.text
    assert "Awaiting payment" in page.text and "Awaiting pickup" in page.text
    assert "<html" not in only_paid.text
    assert ORDER_LINK.findall(only_paid.text) == [str(paid["id"])]
    assert "99.00" in only_paid.text


def test_staff_of_other_stores_see_none_of_the_orders(
    session: Session, db: Database, client: TestClient, mall: Mall
) -> None:
    # given an order of the direct store
    order = paid_order(session, db, client, mall, [(mall.tee_s.id, 1)])
    # when the franchisee owner (who sees only the franchised store) looks
    log_in(client, mall.world, "franchisee_owner")
    listing = client.get("/console/orders")
    one = client.get(f"/console/orders/{order['id']}")
    # then
    assert ORDER_LINK.findall(listing.text) == []
    assert one.status_code == 404
    assert f"Order {order['id']} was not found." in one.text


def test_the_order_page_shows_axes_lines_endless_aisle_money_and_events(
    session: Session, db: Database, client: TestClient, mall: Mall
) -> None:
    # given a paid pickup order: one S from the store, one M from the warehouse
    order = paid_order(session, db, client, mall, [(mall.tee_s.id, 1), (mall.tee_m.id, 1)])
    log_in(client, mall.world, "store_manager")
    # when
    page = client.get(f"/console/orders/{order['id']}")
    # then
    assert page.status_code == 200
    text = page.text
    assert 'id="axis-payment">Paid' in text
    assert 'id="axis-fulfilment">Ready for pickup' in text
    assert 'id="axis-lifecycle">Open' in text
    assert 'id="axis-after-sale">None' in text
    assert 'id="order-status">Awaiting pickup' in text
    assert text.count("Endless aisle") == 1
    assert 'id="order-total"><strong>¥198.00</strong>' in text
    assert 'id="order-paid">¥198.00' in text
    assert "<code>placed</code>" in text and "<code>paid</code>" in text
    assert "pickup counter" in text
    assert order["pickup_code"] not in text  # the code is the consumer's secret


def test_an_express_order_is_shipped_and_delivered_through_the_console(
    session: Session, db: Database, client: TestClient, mall: Mall
) -> None:
    # given a paid express order
    order = paid_order(session, db, client, mall, [(mall.tee_s.id, 2)], "express")
    csrf = log_in(client, mall.world, "store_manager")
    form_page = client.get(f"/console/orders/{order['id']}")
    assert 'id="ship-form"' in form_page.text
    before = row_counts(session)
    # when the tracking number is missing
    missing = client.post(
        f"/console/orders/{order['id']}/ship",
        data={"csrf_token": csrf, "carrier": "SF Express", "tracking_number": " "},
        follow_redirects=False,
    )
    # then the form says so and nothing was written
    assert missing.status_code == 422
    assert "An express shipment needs the tracking number." in missing.text
    assert row_counts(session) == before
    # when it is shipped, then delivered
    shipped = client.post(
        f"/console/orders/{order['id']}/ship",
        data={"csrf_token": csrf, "carrier": "SF Express", "tracking_number": "SF1234567890"},
        follow_redirects=False,
    )
    after_ship = client.get(shipped.headers["location"])
    delivered = client.post(
        f"/console/orders/{order['id']}/delivered",
        data={"csrf_token": csrf},
        follow_redirects=False,
    )
    # then
    assert shipped.status_code == 303
    assert "Marked shipped." in after_ship.text
    assert "SF Express <code>SF1234567890</code>" in after_ship.text
    assert 'id="delivered-form"' in after_ship.text
    assert delivered.status_code == 303
    assert level(session, mall.store_location.id, mall.tee_s.id) == (3, 0, 0)
    final = order_row(session, mall, order["id"])
    assert (final.fulfilment_status, final.lifecycle_status) == ("fulfilled", "completed")


def test_a_local_delivery_courier_phone_is_masked_on_the_page(
    session: Session, db: Database, client: TestClient, mall: Mall
) -> None:
    order = paid_order(session, db, client, mall, [(mall.tee_s.id, 1)], "local_delivery")
    csrf = log_in(client, mall.world, "store_manager")
    shipped = client.post(
        f"/console/orders/{order['id']}/ship",
        data={"csrf_token": csrf, "courier_name": "Wang Wu", "courier_phone": "13700001234"},
        follow_redirects=False,
    )
    page = client.get(f"/console/orders/{order['id']}")
    assert shipped.status_code == 303
    assert "Courier Wang Wu · 137****1234" in page.text
    assert "13700001234" not in page.text
    assert "13900001111" not in page.text  # the shipping address's phone is masked too
    assert "139****1111" in page.text


# ---------------------------------------------------------------- who may see the pages


@pytest.mark.parametrize(
    "path", ["/console/orders", "/console/pickup", "/console/after-sales", "/console/complaints"]
)
def test_a_guide_is_refused_the_order_pages(
    session: Session, client: TestClient, mall: Mall, path: str
) -> None:
    log_in(client, mall.world, "guide")
    home = client.get("/console")
    response = client.get(path)
    assert response.status_code == 403
    assert "<h1>403</h1>" in response.text
    assert 'href="/console/orders"' not in home.text
    assert 'href="/console/catalog"' in home.text  # a guide may read the catalog


def test_a_guide_cannot_write_a_pickup_off(
    session: Session, db: Database, client: TestClient, mall: Mall
) -> None:
    order = paid_order(session, db, client, mall, [(mall.tee_s.id, 1)])
    csrf = log_in(client, mall.world, "guide")
    before = row_counts(session)
    response = write_off(client, csrf, mall.store_id, order["pickup_code"])
    assert response.status_code == 403
    assert "<h1>403</h1>" in response.text
    assert row_counts(session) == before
