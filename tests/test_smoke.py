"""The first end-to-end path: a staff token reads the stores of its scope."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import build_world


def test_region_manager_lists_only_their_region(session: Session, client: TestClient) -> None:
    # given
    world = build_world(session)
    session.commit()
    # when
    response = client.get("/api/stores", headers=world.headers("region_manager"))
    # then
    assert response.status_code == 200
    codes = [s["code"] for s in response.json()["items"]]
    assert codes == sorted([world.direct_store.code, world.franchise_store.code])
    assert response.json()["total"] == 2
