"""Console pages of tags and segments: lists, the editor with its live preview, the export."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.segments.models import Segment, Tag
from tests.factories import World, build_world
from tests.factories_segments import make_member, make_segment, make_tag
from tests.helpers import row_counts
from tests.test_console_pages import HX, log_in

GOLD = {"tier": {"in": ["gold"]}}


@pytest.fixture
def world(session: Session) -> World:
    w = build_world(session)
    make_member(session, w.brand.id, name="Ann", phone="13800000001", tier_code="gold")
    make_member(session, w.brand.id, name="Bob", phone="13800000002", tier_code="silver")
    make_tag(session, w.system, "vip", group="value")
    session.commit()
    return w


def test_the_tags_page_lists_tags_and_creates_one(
    session: Session, client: TestClient, world: World
) -> None:
    csrf = log_in(client, world, "hq_operator")
    page = client.get("/console/tags")
    assert page.status_code == 200
    assert "<code>vip</code>" in page.text
    created = client.post(
        "/console/tags",
        data={
            "csrf_token": csrf,
            "code": "gold_club",
            "name": "Gold club",
            "kind": "rule",
            "rule": json.dumps(GOLD),
            "schedule": "hourly",
        },
        follow_redirects=False,
    )
    assert created.status_code == 303, created.text
    tag = session.scalar(select(Tag).where(Tag.code == "gold_club"))
    assert tag is not None and (tag.kind, tag.schedule) == ("rule", "hourly")
    # a bad rule is shown again with its path, nothing written
    before = row_counts(session)
    refused = client.post(
        "/console/tags",
        data={
            "csrf_token": csrf,
            "code": "bad",
            "name": "Bad",
            "kind": "rule",
            "rule": '{"tier": {"in": []}}',
            "schedule": "daily",
        },
    )
    assert refused.status_code == 422
    assert "The rule is not valid at rule.tier.in" in refused.text
    assert row_counts(session) == before


def test_the_segment_editor_previews_live_and_saves(
    session: Session, client: TestClient, world: World
) -> None:
    csrf = log_in(client, world, "hq_operator")
    editor = client.get("/console/segments/new")
    assert editor.status_code == 200
    assert 'hx-post="/console/segments-preview"' in editor.text
    # the live preview counts and masks
    preview = client.post(
        "/console/segments-preview",
        data={"rule": json.dumps(GOLD)},
        headers={**HX, "X-CSRF-Token": csrf},
    )
    assert preview.status_code == 200
    assert '<strong id="preview-count">1</strong>' in preview.text
    assert "138****0001" in preview.text and "13800000001" not in preview.text
    # a rule being typed is explained, not refused
    typing = client.post(
        "/console/segments-preview",
        data={"rule": '{"tier": '},
        headers={**HX, "X-CSRF-Token": csrf},
    )
    assert typing.status_code == 200
    assert "The rule is not valid JSON" in typing.text
    wrong = client.post(
        "/console/segments-preview",
        data={"rule": json.dumps({"all": [GOLD, {"events": {"kind": "visit"}}]})},
        headers={**HX, "X-CSRF-Token": csrf},
    )
    assert "rule.all[1].events.within_days" in wrong.text
    # saving materialises and shows the segment
    saved = client.post(
        "/console/segments/new",
        data={
            "csrf_token": csrf,
            "name": "Gold",
            "description": "",
            "schedule": "daily",
            "rule": json.dumps(GOLD),
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    segment = session.scalar(select(Segment).where(Segment.name == "Gold"))
    assert segment is not None and segment.member_count == 1
    page = client.get(saved.headers["location"])
    assert page.status_code == 200
    assert "Segment created." in page.text
    assert f'href="/console/segments/{segment.id}/export.csv"' in page.text
    listing = client.get("/console/segments")
    assert f'<a href="/console/segments/{segment.id}">Gold</a>' in listing.text


def test_the_console_export_masks_phones_without_member_pii(
    session: Session, client: TestClient, world: World
) -> None:
    segment = make_segment(session, world.system, GOLD)
    session.commit()
    log_in(client, world, "hq_operator")
    export = client.get(f"/console/segments/{segment.id}/export.csv")
    assert export.status_code == 200
    assert export.text.splitlines()[1].split(",")[2] == "138****0001"


def test_a_guide_reads_tags_but_cannot_edit_segments(client: TestClient, world: World) -> None:
    log_in(client, world, "guide")
    assert client.get("/console/tags").status_code == 200
    assert "New tag" not in client.get("/console/tags").text
    assert client.get("/console/segments/new").status_code == 403
