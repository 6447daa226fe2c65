"""The web shop (/shop/{brand}/...): the consumer journey in a browser, and its refusals."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.cart.models import CartLine
from siyu.db.session import Database
from siyu.orders.models import Order
from siyu.shop.pages import SHOP_COOKIE
from siyu.wechat.pages import safe_return_to
from tests.factories import build_world
from tests.factories_mall import Mall, build_mall, run_payment_notifications
from tests.helpers import row_counts

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
KEY = re.compile(r'name="idempotency_key" value="([^"]+)"')


@pytest.fixture
def mall(session: Session) -> Mall:
    return build_mall(session)


def shop(mall: Mall) -> str:
    return f"/shop/{mall.world.brand.slug}"


def csrf(html: str) -> str:
    found = CSRF.search(html)
    assert found is not None, html
    return found.group(1)


def log_in(client: TestClient, mall: Mall, user: str = "alice") -> str:
    """Log in through the login form; returns the page's CSRF token for later forms."""
    page = client.get(f"{shop(mall)}/login")
    response = client.post(
        f"{shop(mall)}/login",
        data={"user": user, "csrf_token": csrf(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"{shop(mall)}/stores"
    cookie = response.headers["set-cookie"]
    assert f"{SHOP_COOKIE}=siyuc_" in cookie
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert f"Path={shop(mall)}" in cookie
    stores = client.get(f"{shop(mall)}/stores")
    assert stores.status_code == 200
    return csrf(stores.text)


def add(client: TestClient, mall: Mall, token: str, sku_id: int, quantity: int = 1) -> None:
    response = client.post(
        f"{shop(mall)}/stores/{mall.store_id}/cart",
        data={
            "csrf_token": token,
            "product_id": str(
                mall.tee_s.product_id if sku_id != mall.jacket.id else mall.jacket.product_id
            ),
            "sku_id": str(sku_id),
            "quantity": str(quantity),
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


def test_a_consumer_logs_in_shops_pays_and_gets_a_pickup_code(
    session: Session, db: Database, client: TestClient, mall: Mall
) -> None:
    # given a consumer logged in through the sandbox WeChat login
    token = log_in(client, mall)
    # when they browse the store: S is on its shelves, M only in the warehouse
    catalog = client.get(f"{shop(mall)}/stores/{mall.store_id}")
    assert catalog.status_code == 200
    assert mall.world.direct_store.name in catalog.text
    assert "Product TEE" in catalog.text
    assert (
        '<span class="tag ok">In store</span><span class="tag aisle">some sizes from the warehouse'
        in catalog.text
    )
    assert "Product JKT" in catalog.text and "Sold out 售罄" in catalog.text
    product = client.get(f"{shop(mall)}/stores/{mall.store_id}/products/{mall.tee_s.product_id}")
    assert product.status_code == 200
    assert "¥99.00" in product.text
    # and put one of each in the cart
    add(client, mall, token, mall.tee_s.id)
    add(client, mall, token, mall.tee_m.id)
    cart = client.get(f"{shop(mall)}/stores/{mall.store_id}/cart?method=pickup")
    assert cart.status_code == 200
    assert "Sent from the warehouse" in cart.text
    assert "¥198.00" in cart.text
    # and place the order for pickup
    placed = client.post(
        f"{shop(mall)}/stores/{mall.store_id}/orders",
        data={
            "csrf_token": csrf(cart.text),
            "idempotency_key": KEY.search(cart.text).group(1),  # type: ignore[union-attr]
            "method": "pickup",
        },
        follow_redirects=False,
    )
    # then they are sent to the WeChat Pay cashier, which returns to the order page
    assert placed.status_code == 303, placed.text
    cashier = placed.headers["location"]
    assert cashier.startswith("/sandbox/pay/wx")
    order = session.scalars(select(Order)).one()
    order_page = f"{shop(mall)}/orders/{order.id}"
    assert cashier.endswith(f"?return_to={order_page.replace('/', '%2F')}")
    assert client.get(cashier).status_code == 200
    paid = client.post(cashier, follow_redirects=False)
    assert (paid.status_code, paid.headers["location"]) == (303, order_page)
    waiting = client.get(order_page)
    assert "Waiting for WeChat Pay" in waiting.text
    # when WeChat Pay's notification arrives
    run_payment_notifications(db)
    # then the order page shows it ready for pickup with its code, big
    session.expire_all()
    order = session.scalars(select(Order)).one()
    page = client.get(order_page)
    assert (order.payment_status, order.fulfilment_status) == ("paid", "ready_for_pickup")
    assert "Ready for pickup" in page.text
    assert f'<p class="pickup-code" aria-label="Pickup code">{order.pickup_code}</p>' in page.text
    assert order.total_fen == 19800
    # and the cart was emptied, the order listed in "my orders"
    assert session.scalar(select(func.count()).select_from(CartLine)) == 0
    mine = client.get(f"{shop(mall)}/orders")
    assert order.number in mine.text


def test_delivery_needs_an_address_which_the_cart_page_adds(
    session: Session, client: TestClient, mall: Mall
) -> None:
    # given a logged-in consumer with a tee in the cart
    token = log_in(client, mall, "bob")
    add(client, mall, token, mall.tee_s.id)
    # when they add an address from the cart page
    saved = client.post(
        f"{shop(mall)}/stores/{mall.store_id}/addresses",
        data={
            "csrf_token": token,
            "method": "express",
            "recipient": "Bob",
            "phone": "13911112222",
            "province": "Shanghai",
            "city": "Shanghai",
            "district": "Huangpu",
            "detail": "1 Nanjing Road",
        },
        follow_redirects=False,
    )
    # then the cart shows it chosen, and the delivery fee explained
    assert saved.status_code == 303, saved.text
    cart = client.get(saved.headers["location"])
    assert "Bob · 139****2222" in cart.text
    assert "<dt>express fee (free from ¥199.00)</dt><dd>+¥10.00</dd>" in cart.text
    assert "¥109.00" in cart.text


def test_a_post_without_the_csrf_token_is_refused_and_writes_nothing(
    session: Session, client: TestClient, mall: Mall
) -> None:
    # given
    log_in(client, mall)
    before = row_counts(session)
    # when
    response = client.post(
        f"{shop(mall)}/stores/{mall.store_id}/cart",
        data={"product_id": str(mall.tee_s.product_id), "sku_id": str(mall.tee_s.id)},
        follow_redirects=False,
    )
    # then
    assert response.status_code == 403
    assert "did not come from this site" in response.text
    assert row_counts(session) == before


def test_login_without_the_login_cookie_is_refused(
    session: Session, client: TestClient, mall: Mall
) -> None:
    before = row_counts(session)
    response = client.post(
        f"{shop(mall)}/login",
        data={"user": "alice", "csrf_token": "forged"},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert row_counts(session) == before


def test_another_brands_store_is_not_found(
    session: Session, client: TestClient, mall: Mall
) -> None:
    # given a store of another brand
    other = build_world(session, "other-brand")
    session.commit()
    log_in(client, mall)
    # when
    response = client.get(f"{shop(mall)}/stores/{other.direct_store.id}")
    # then
    assert response.status_code == 404
    assert "was not found" in response.text


def test_the_shop_of_another_brand_asks_to_log_in_there(
    session: Session, client: TestClient, mall: Mall
) -> None:
    other = build_world(session, "other-brand")
    session.commit()
    log_in(client, mall)
    response = client.get(
        f"/shop/other-brand/stores/{other.direct_store.id}", follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"].startswith("/shop/other-brand/login?next=")


def test_unauthenticated_visitors_go_to_the_login_page(client: TestClient, mall: Mall) -> None:
    response = client.get(f"{shop(mall)}/orders", follow_redirects=False)
    assert response.status_code == 303
    assert (
        response.headers["location"]
        == f"{shop(mall)}/login?next=%2Fshop%2F{mall.world.brand.slug}%2Forders"
    )


def test_out_of_stock_shows_in_the_cart_and_placing_is_refused(
    session: Session, client: TestClient, mall: Mall
) -> None:
    # given the jacket (no stock anywhere) in the cart
    token = log_in(client, mall)
    add(client, mall, token, mall.jacket.id)
    cart = client.get(f"{shop(mall)}/stores/{mall.store_id}/cart?method=pickup")
    assert "Out of stock: not enough in the store or the warehouses" in cart.text
    before = row_counts(session)
    # when
    response = client.post(
        f"{shop(mall)}/stores/{mall.store_id}/orders",
        data={
            "csrf_token": csrf(cart.text),
            "idempotency_key": KEY.search(cart.text).group(1),  # type: ignore[union-attr]
            "method": "pickup",
        },
        follow_redirects=False,
    )
    # then
    assert response.status_code == 409
    assert f"Not enough stock for SKU {mall.jacket.id}." in response.text
    assert row_counts(session) == before


def test_quantities_change_in_place_with_htmx(
    session: Session, client: TestClient, mall: Mall
) -> None:
    token = log_in(client, mall)
    add(client, mall, token, mall.tee_s.id)
    response = client.post(
        f"{shop(mall)}/stores/{mall.store_id}/cart/lines/{mall.tee_s.id}",
        data={"quantity": "3", "method": "pickup"},
        headers={"HX-Request": "true", "X-CSRF-Token": token},
    )
    assert response.status_code == 200
    assert response.text.startswith('<section id="cart">')
    assert "¥297.00" in response.text
    assert session.scalar(select(CartLine.quantity)) == 3


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        ("/shop/demo/orders/5", True),
        ("/shop", True),
        ("https://evil.example/shop/x", False),
        ("//evil.example/shop", False),
        ("/console", False),
        ("/shopping", False),
        ("/shop/../console", False),
        ("/shop/\\evil", False),
    ],
)
def test_the_cashier_returns_only_to_the_shop(value: str, kept: bool) -> None:
    assert (safe_return_to(value) == value) is kept
