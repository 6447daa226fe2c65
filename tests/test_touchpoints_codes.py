"""Several codes per touchpoint: issuing, (de)activating, resolving any of them, their images."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from xml.etree import ElementTree

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.audit.models import AuditEntry
from siyu.config import get_settings
from siyu.outbox.models import OutboxEvent
from siyu.touchpoints import codes as codes_module
from siyu.touchpoints import rules
from siyu.touchpoints.models import TouchpointCode, TouchpointCodeImage
from siyu.touchpoints.rules import Medium
from siyu.wechat.adapters import ERR_INVALID_PAGE, WeChatError
from siyu.wechat.sandbox import SANDBOX_MINI_PROGRAM
from tests.factories import World, build_world
from tests.factories_consumers import make_consumer
from tests.factories_touchpoints import make_code, make_touchpoint
from tests.helpers import assert_problem, row_counts

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def world(session: Session) -> World:
    built = build_world(session)
    session.commit()
    return built


@pytest.fixture(autouse=True)
def sandbox() -> Iterator[None]:
    SANDBOX_MINI_PROGRAM.reset()
    yield
    SANDBOX_MINI_PROGRAM.reset()


def _count(session: Session, model: Any, *conditions: Any) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model).where(*conditions)) or 0


def test_a_touchpoint_issues_several_codes_each_with_its_own_key(
    session: Session, client: TestClient, world: World
) -> None:
    # given a shelf touchpoint at the store manager's store
    made = make_touchpoint(session, world.system, store_id=world.direct_store.id)
    session.commit()
    url = f"/api/touchpoints/{made.touchpoint.id}/codes"
    headers = world.headers("store_manager")
    # when the store manager issues a second batch and a mini-program code
    batch = client.post(url, json={"label": "Batch 2 第二批"}, headers=headers)
    mini = client.post(
        url,
        json={"label": "小程序码", "medium": "mini_program_code", "page": "pages/store/index"},
        headers=headers,
    )
    listed = client.get(url, headers=world.headers("guide"))
    # then the touchpoint has three codes, the first still its default
    assert batch.status_code == 201, batch.text
    assert mini.status_code == 201, mini.text
    body = listed.json()
    assert [c["label"] for c in body] == ["默认", "Batch 2 第二批", "小程序码"]
    assert [c["medium"] for c in body] == ["link_qr", "link_qr", "mini_program_code"]
    assert [c["active"] for c in body] == [True, True, True]
    keys = [c["scene_key"] for c in body]
    assert len(set(keys)) == 3
    assert body[0]["id"] == made.codes[0].id
    for code in body:
        assert rules.is_valid_scene_key(code["scene_key"])
        assert code["wecom_state"] == "tp_" + code["scene_key"]
    assert body[1]["parameter"] == "https://mp.example/launch?scene=" + keys[1]
    assert body[2]["parameter"] == f"pages/store/index?scene={keys[2]}"
    assert body[2]["page"] == "pages/store/index"
    # and both are audited and published; the touchpoint lists them too
    assert _count(session, AuditEntry, AuditEntry.action == "touchpoint_code.create") == 2
    assert _count(session, OutboxEvent, OutboxEvent.event_type == "TouchpointCodeIssued") == 2
    touchpoint = client.get(f"/api/touchpoints/{made.touchpoint.id}", headers=headers).json()
    assert [c["scene_key"] for c in touchpoint["codes"]] == keys


def test_every_code_resolves_and_a_deactivated_one_is_known_but_inactive(
    session: Session, client: TestClient, world: World
) -> None:
    # given a touchpoint with a second code, and a shopper
    made = make_touchpoint(session, world.system, store_id=world.direct_store.id)
    second = make_code(session, world.system, made.touchpoint.id, label="Shelf B")
    shopper = make_consumer(session, world.brand, "alice")
    session.commit()
    # when the second code is deactivated
    patched = client.patch(
        f"/api/touchpoints/{made.touchpoint.id}/codes/{second.id}",
        json={"active": False, "label": "Shelf B (removed)"},
        headers=world.headers("store_manager"),
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["active"] is False
    assert patched.json()["label"] == "Shelf B (removed)"
    before = row_counts(session)

    def scene(key: str) -> dict[str, object]:
        response = client.get(f"/api/storefront/scenes/{key}", headers=shopper.headers)
        assert response.status_code == 200
        body: dict[str, object] = response.json()
        return body

    first = scene(made.codes[0].scene_key)
    by_state = scene(made.codes[0].wecom_state)
    deactivated = scene(second.scene_key)
    unknown = scene("tnosuchkey123")
    # then the first resolves active (by its key or its WeCom state), the deactivated one
    # known but inactive, the unknown one unknown; resolving writes nothing
    assert (first["known"], first["active"], first["code_id"]) == (True, True, made.codes[0].id)
    assert by_state == first | {"scene_key": made.codes[0].wecom_state}  # WeCom's state
    assert (deactivated["known"], deactivated["active"]) == (True, False)
    assert deactivated["code_id"] == second.id
    assert deactivated["touchpoint_id"] == made.touchpoint.id
    assert unknown == {"scene_key": "tnosuchkey123", "known": False} | {
        k: None
        for k in (
            "touchpoint_id",
            "kind",
            "carrier",
            "store_id",
            "region_id",
            "guide_staff_id",
            "campaign",
            "active",
            "code_id",
            "medium",
        )
    }
    assert row_counts(session) == before
    assert _count(session, OutboxEvent, OutboxEvent.event_type == "TouchpointCodeChanged") == 1


def test_a_deactivated_touchpoint_makes_its_codes_inactive(
    session: Session, client: TestClient, world: World
) -> None:
    made = make_touchpoint(session, world.system, store_id=world.direct_store.id)
    shopper = make_consumer(session, world.brand, "alice")
    session.commit()
    client.patch(
        f"/api/touchpoints/{made.touchpoint.id}",
        json={"active": False},
        headers=world.headers("store_manager"),
    )
    body = client.get(
        f"/api/storefront/scenes/{made.codes[0].scene_key}", headers=shopper.headers
    ).json()
    assert (body["known"], body["active"]) == (True, False)


def test_each_code_has_its_png_and_svg_and_the_default_is_the_first(
    session: Session, client: TestClient, world: World
) -> None:
    # given a touchpoint with two link codes
    made = make_touchpoint(session, world.system, store_id=world.direct_store.id)
    second = make_code(session, world.system, made.touchpoint.id)
    session.commit()
    base = f"/api/touchpoints/{made.touchpoint.id}"
    headers = world.headers("guide")
    # when the guide downloads them
    default_png = client.get(base + "/code.png", headers=headers)
    first_png = client.get(f"{base}/codes/{made.codes[0].id}.png", headers=headers)
    second_png = client.get(f"{base}/codes/{second.id}.png", headers=headers)
    second_svg = client.get(f"{base}/codes/{second.id}.svg", headers=headers)
    # then each is the QR of its own launch URL; the old endpoint still gives the first
    assert second_png.headers["content-type"] == "image/png"
    assert first_png.content == default_png.content
    assert second_png.content == rules.draw_qr(rules.launch_url(second.scene_key)).png
    assert second_png.content != first_png.content
    assert second_svg.headers["content-type"].startswith("image/svg+xml")
    root = ElementTree.fromstring(second_svg.content)  # noqa: S314 - our own output
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    # and the drawings are kept: one image per code
    assert _count(session, TouchpointCodeImage) == 2


def test_a_mini_program_code_is_drawn_by_wechat_once_then_kept(
    session: Session, client: TestClient, world: World
) -> None:
    # given a mini-program code, and WeChat allowing a single code a minute
    made = make_touchpoint(session, world.system, store_id=world.direct_store.id)
    mini = make_code(
        session, world.system, made.touchpoint.id, medium=Medium.MINI_PROGRAM_CODE, label="MP"
    )
    other = make_code(
        session, world.system, made.touchpoint.id, medium=Medium.MINI_PROGRAM_CODE, label="MP2"
    )
    session.commit()
    SANDBOX_MINI_PROGRAM.code_rate_limit_per_minute = 1
    base = f"/api/touchpoints/{made.touchpoint.id}/codes"
    headers = world.headers("guide")
    # when it is downloaded three times, then another mini-program code once
    pngs = [client.get(f"{base}/{mini.id}.png", headers=headers) for _ in range(2)]
    svg = client.get(f"{base}/{mini.id}.svg", headers=headers)
    refused = client.get(f"{base}/{other.id}.png", headers=headers)
    # then WeChat was asked once (the other code meets its minute quota)
    assert [p.status_code for p in pngs] == [200, 200]
    assert pngs[0].content.startswith(PNG_SIGNATURE)
    assert pngs[0].content == pngs[1].content
    assert "data:image/png;base64," in svg.text
    assert_problem(refused, 429, "wechat_rate_limited")
    kept = session.scalar(
        select(TouchpointCodeImage).where(TouchpointCodeImage.touchpoint_code_id == mini.id)
    )
    assert kept is not None
    assert kept.svg is None
    assert kept.sha256 == rules.CodeImage(pngs[0].content, None).sha256
    assert kept.source.startswith("wxacode/sandbox/430:wxsandbox")


def test_wechat_refusing_the_page_is_invalid_input(
    session: Session, client: TestClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a mini program in which the page was never published
    class UnpublishedPage:
        def unlimited_code(self, app_id: str, scene: str, page: str, width: int) -> bytes:
            raise WeChatError(ERR_INVALID_PAGE, "invalid page")

    monkeypatch.setattr(codes_module, "mini_program_codes", UnpublishedPage)
    made = make_touchpoint(session, world.system, store_id=world.direct_store.id)
    mini = make_code(
        session, world.system, made.touchpoint.id, medium=Medium.MINI_PROGRAM_CODE, page="p/x"
    )
    session.commit()
    before = row_counts(session)
    # when
    response = client.get(
        f"/api/touchpoints/{made.touchpoint.id}/codes/{mini.id}.png",
        headers=world.headers("guide"),
    )
    # then
    assert assert_problem(response, 422, "invalid_page")["field"] == "page"
    assert row_counts(session) == before


def test_live_mode_does_not_draw_official_account_codes(
    session: Session, client: TestClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = make_touchpoint(session, world.system, store_id=world.direct_store.id)
    oa = make_code(
        session, world.system, made.touchpoint.id, medium=Medium.OFFICIAL_ACCOUNT_QR, label="OA"
    )
    session.commit()
    monkeypatch.setenv("SIYU_WECHAT_MODE", "live")
    get_settings.cache_clear()
    try:
        base = f"/api/touchpoints/{made.touchpoint.id}"
        link = client.get(base + "/code.png", headers=world.headers("guide"))
        refused = client.get(f"{base}/codes/{oa.id}.png", headers=world.headers("guide"))
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert link.status_code == 200
    body = assert_problem(refused, 409, "code_image_unavailable")
    assert f"scene_str={oa.scene_key}" in str(body["detail"])


@pytest.mark.parametrize(
    ("who", "body", "status", "code"),
    [
        ("guide", {"label": "X"}, 403, "permission_denied"),
        ("store_manager", {"label": "X", "page": "pages/x"}, 422, "page_not_applicable"),
        (
            "store_manager",
            {"label": "X", "medium": "mini_program_code", "page": "/pages/x?a=1"},
            422,
            "validation_error",
        ),
        ("store_manager", {"label": ""}, 422, "validation_error"),
        ("store_manager", {"label": "X", "medium": "fax"}, 422, "validation_error"),
    ],
)
def test_issuing_refusals_write_nothing(
    session: Session,
    client: TestClient,
    world: World,
    who: str,
    body: dict[str, object],
    status: int,
    code: str,
) -> None:
    made = make_touchpoint(session, world.system, store_id=world.direct_store.id)
    session.commit()
    before = row_counts(session)
    response = client.post(
        f"/api/touchpoints/{made.touchpoint.id}/codes", json=body, headers=world.headers(who)
    )
    assert_problem(response, status, code)
    assert row_counts(session) == before


def test_codes_outside_scope_or_of_another_touchpoint_are_not_found(
    session: Session, client: TestClient, world: World
) -> None:
    # given a touchpoint at another store, and two at the store manager's store
    elsewhere = make_touchpoint(session, world.system, store_id=world.other_store.id)
    mine = make_touchpoint(session, world.system, store_id=world.direct_store.id)
    also_mine = make_touchpoint(session, world.system, store_id=world.direct_store.id)
    session.commit()
    before = row_counts(session)
    headers = world.headers("store_manager")
    # when the store manager reaches for the other store's codes, or mixes touchpoints up
    outside = [
        client.get(f"/api/touchpoints/{elsewhere.touchpoint.id}/codes", headers=headers),
        client.post(
            f"/api/touchpoints/{elsewhere.touchpoint.id}/codes",
            json={"label": "X"},
            headers=headers,
        ),
        client.get(
            f"/api/touchpoints/{elsewhere.touchpoint.id}/codes/{elsewhere.codes[0].id}.png",
            headers=headers,
        ),
    ]
    mixed = client.patch(
        f"/api/touchpoints/{mine.touchpoint.id}/codes/{also_mine.codes[0].id}",
        json={"active": False},
        headers=headers,
    )
    # then
    for response in outside:
        assert_problem(response, 404, "touchpoint_not_found")
    assert_problem(mixed, 404, "touchpoint_code_not_found")
    assert row_counts(session) == before
    untouched = session.get(TouchpointCode, (world.brand.id, also_mine.codes[0].id))
    assert untouched is not None and untouched.active


def test_a_touchpoint_issues_a_bounded_number_of_codes(
    session: Session, client: TestClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rules, "MAX_CODES_PER_TOUCHPOINT", 2)
    made = make_touchpoint(session, world.system, store_id=world.direct_store.id)
    make_code(session, world.system, made.touchpoint.id)
    session.commit()
    before = row_counts(session)
    response = client.post(
        f"/api/touchpoints/{made.touchpoint.id}/codes",
        json={"label": "Third"},
        headers=world.headers("store_manager"),
    )
    assert_problem(response, 409, "too_many_codes")
    assert row_counts(session) == before
