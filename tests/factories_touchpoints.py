"""Factories of the touchpoint domain."""

from __future__ import annotations

import itertools

from sqlalchemy.orm import Session

from siyu.access.rules import Actor
from siyu.touchpoints.codes import issue_code
from siyu.touchpoints.models import TouchpointCode
from siyu.touchpoints.rules import Medium
from siyu.touchpoints.schemas import TouchpointCodeCreate, TouchpointCreate
from siyu.touchpoints.service import TouchpointView, create_touchpoint

_numbers = itertools.count(1)


def make_touchpoint(
    session: Session,
    actor: Actor,
    *,
    kind: str = "shelf_code",
    store_id: int | None = None,
    region_id: int | None = None,
    staff_id: int | None = None,
    campaign: str | None = None,
    cost_fen: int | None = None,
    code: str | None = None,
) -> TouchpointView:
    number = next(_numbers)
    return create_touchpoint(
        session,
        actor,
        TouchpointCreate(
            code=code or f"TP{number:04d}",
            name=f"Touchpoint {number}",
            kind=kind,
            store_id=store_id,
            region_id=region_id,
            staff_id=staff_id,
            campaign=campaign,
            cost_fen=cost_fen,
        ),
    )


def make_code(
    session: Session,
    actor: Actor,
    touchpoint_id: int,
    *,
    label: str = "Batch 2",
    medium: Medium = Medium.LINK_QR,
    page: str | None = None,
) -> TouchpointCode:
    """Another code of the touchpoint, through the real service."""
    return issue_code(
        session, actor, touchpoint_id, TouchpointCodeCreate(label=label, medium=medium, page=page)
    )
