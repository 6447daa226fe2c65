"""Console pages of members: the member list with its search, and the member 360.

A thin adapter over ``siyu.members.service`` and ``siyu.members.profile`` (the same calls as
``siyu.members.api``); phones and identifiers arrive masked from the schemas.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from siyu.consent.rules import CHANNEL_LABELS, REASON_LABELS
from siyu.core.clock import SHANGHAI
from siyu.core.errors import InvalidInput
from siyu.members import profile, service
from siyu.members.rules import STAGE_LABELS, LifecycleStage
from siyu.members.schemas import member_out
from siyu.org import service as org_service
from siyu.settlement.rules import format_yuan
from siyu.web.deps import ConsoleContext, Uow
from siyu.web.forms import PAGE_SIZE, is_partial, pager
from siyu.web.templating import render

router = APIRouter()

STORE_LIMIT = 1000  # stores offered in the filter; more than any one person runs
STAGE_CHOICES = {stage.value: label for stage, label in STAGE_LABELS.items()}
DECISIONS_SHOWN = 10  # the latest send decisions on the 360; the consent pages have the rest
Filter = Annotated[str, Query(max_length=100)]


def _optional_store(value: str) -> int | None:
    value = value.strip()
    if not value:
        return None
    if not value.isdigit():
        raise InvalidInput(f"'{value}' is not a store.", field="store_id")
    return int(value)


def _moment(value: str | None) -> datetime | None:
    """A moment of another domain's section (JSON data: ISO 8601 text) back as a datetime,
    for the ``shanghai`` filter."""
    return datetime.fromisoformat(value) if value else None


def _day_start(value: str, field: str) -> datetime | None:
    """A yyyy-mm-dd day in Shanghai as the moment it starts."""
    value = value.strip()
    if not value:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise InvalidInput(f"'{value}' is not a date (yyyy-mm-dd).", field=field) from None
    return datetime.combine(day, time(), tzinfo=SHANGHAI)


@router.get("/members", response_class=HTMLResponse)
def members_page(
    request: Request,
    session: Uow,
    ctx: ConsoleContext,
    phone: Filter = "",
    name: Filter = "",
    stage: Filter = "",
    store_id: Annotated[str, Query(max_length=20)] = "",
    joined_from: Annotated[str, Query(max_length=10)] = "",
    joined_to: Annotated[str, Query(max_length=10)] = "",
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
) -> Response:
    """Members in scope, newest first; search by phone (exact), name, stage, home store and
    joining days (both inclusive, Shanghai time)."""
    stage = stage.strip()
    if stage and stage not in STAGE_CHOICES:
        raise InvalidInput(f"'{stage}' is not a lifecycle stage.", field="stage")
    store = _optional_store(store_id)
    joined_to_day = _day_start(joined_to, "joined_to")
    rows, total = service.list_members(
        session,
        ctx.actor,
        phone=phone.strip() or None,
        name=name.strip() or None,
        stage=LifecycleStage(stage) if stage else None,
        store_id=store,
        joined_from=_day_start(joined_from, "joined_from"),
        joined_to=joined_to_day + timedelta(days=1) if joined_to_day else None,
        limit=PAGE_SIZE,
        offset=(page - 1) * PAGE_SIZE,
    )
    stores, _ = org_service.list_stores(session, ctx.actor, limit=STORE_LIMIT)
    filters = {
        "phone": phone.strip(),
        "name": name.strip(),
        "stage": stage,
        "store_id": store,
        "joined_from": joined_from.strip(),
        "joined_to": joined_to.strip(),
    }
    context: dict[str, Any] = {
        "ctx": ctx,
        "members": [member_out(row) for row in rows],
        "stores": stores,
        "store_names": {s.id: s.name for s in stores},
        "stage_labels": STAGE_CHOICES,
        "filters": filters,
        "pager": pager(total, page, filters),
        "yuan": format_yuan,
    }
    template = "members/_members_results.html" if is_partial(request) else "members/members.html"
    response = render(request, template, context)
    response.headers["Vary"] = "HX-Request"
    return response


@router.get("/members/{member_id}", response_class=HTMLResponse)
def member_page(request: Request, member_id: int, session: Uow, ctx: ConsoleContext) -> Response:
    """The member 360: profile, identities, lifecycle, loyalty, tags, segments, consent, online
    and offline orders, the touchpoint journey, and what later issues fill in."""
    view = profile.member_360(session, ctx.actor, member_id)
    return render(
        request,
        "members/member.html",
        {
            "ctx": ctx,
            "view": view,
            "member": view.member,
            "stage_labels": STAGE_CHOICES,
            "yuan": format_yuan,
            "at": _moment,
            "channel_labels": {channel.value: label for channel, label in CHANNEL_LABELS.items()},
            "reason_labels": {reason.value: label for reason, label in REASON_LABELS.items()},
            "decisions_shown": DECISIONS_SHOWN,
        },
    )
