"""The consumer's address book: one default at a time, phones masked, own addresses only."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.consumers.models import Address
from tests.factories import World, build_world
from tests.factories_consumers import Shopper, make_address, make_consumer
from tests.helpers import assert_problem, row_counts

NEW = {
    "recipient": "Han Meimei",
    "phone": "13800138000",
    "province": "Zhejiang",
    "city": "Hangzhou",
    "district": "Xihu",
    "detail": "18 Wensan Road",
}


@pytest.fixture
def world(session: Session) -> World:
    built = build_world(session)
    session.commit()
    return built


@pytest.fixture
def shopper(session: Session, world: World) -> Shopper:
    made = make_consumer(session, world.brand, "alice")
    session.commit()
    return made


def defaults(session: Session) -> list[tuple[int, bool]]:
    session.expire_all()
    return [(a.id, a.is_default) for a in session.scalars(select(Address).order_by(Address.id))]


def test_the_first_address_becomes_the_default_and_phones_are_masked(
    session: Session, client: TestClient, shopper: Shopper
) -> None:
    response = client.post("/api/storefront/addresses", json=NEW, headers=shopper.headers)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["phone"] == "138****8000"
    assert body["is_default"] is True
    assert session.scalars(select(Address.phone)).one() == "13800138000"
    listed = client.get("/api/storefront/addresses", headers=shopper.headers).json()
    assert [(a["recipient"], a["phone"]) for a in listed] == [("Han Meimei", "138****8000")]


def test_a_new_default_unsets_the_old_one(
    session: Session, client: TestClient, shopper: Shopper
) -> None:
    first = make_address(session, shopper)
    session.commit()
    response = client.post(
        "/api/storefront/addresses", json={**NEW, "is_default": True}, headers=shopper.headers
    )
    assert response.status_code == 201
    assert defaults(session) == [(first.id, False), (response.json()["id"], True)]


def test_patch_can_make_an_address_the_default_and_edit_it(
    session: Session, client: TestClient, shopper: Shopper
) -> None:
    first = make_address(session, shopper)
    second = make_address(session, shopper)
    session.commit()
    response = client.patch(
        f"/api/storefront/addresses/{second.id}",
        json={"is_default": True, "detail": "99 Nanjing Road"},
        headers=shopper.headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["detail"] == "99 Nanjing Road"
    assert defaults(session) == [(first.id, False), (second.id, True)]


def test_deleting_the_default_promotes_the_oldest_remaining(
    session: Session, client: TestClient, shopper: Shopper
) -> None:
    first = make_address(session, shopper)
    second = make_address(session, shopper)
    third = make_address(session, shopper)
    session.commit()
    response = client.delete(f"/api/storefront/addresses/{first.id}", headers=shopper.headers)
    assert response.status_code == 204
    assert defaults(session) == [(second.id, True), (third.id, False)]


def test_another_consumers_address_is_not_found_and_untouched(
    session: Session, client: TestClient, world: World, shopper: Shopper
) -> None:
    bob = make_consumer(session, world.brand, "bob")
    bobs = make_address(session, bob)
    session.commit()
    before = row_counts(session)
    for response in (
        client.patch(
            f"/api/storefront/addresses/{bobs.id}", json={"city": "X"}, headers=shopper.headers
        ),
        client.delete(f"/api/storefront/addresses/{bobs.id}", headers=shopper.headers),
    ):
        assert_problem(response, 404, "address_not_found")
    assert row_counts(session) == before
    assert client.get("/api/storefront/addresses", headers=shopper.headers).json() == []


def test_bad_addresses_and_staff_tokens_are_refused(
    session: Session, client: TestClient, world: World, shopper: Shopper
) -> None:
    before = row_counts(session)
    bad = client.post(
        "/api/storefront/addresses", json={**NEW, "phone": "call me"}, headers=shopper.headers
    )
    assert bad.status_code == 422
    assert_problem(
        client.post("/api/storefront/addresses", json=NEW, headers=world.headers("brand_admin")),
        401,
        "invalid_token",
    )
    assert_problem(client.get("/api/storefront/addresses"), 401, "not_authenticated")
    assert row_counts(session) == before
