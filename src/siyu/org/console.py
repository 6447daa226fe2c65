"""Console pages of the organization: the store list (with warehouses), a store's page with its
edit form, and the form that opens a new store.

A thin adapter: query and form input become calls of ``siyu.org.service``; refusals of the
service are shown on the form they came from, after rolling back whatever the call had begun.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from siyu.access.rules import Permission
from siyu.access.service import SessionContext
from siyu.core.errors import InvalidInput, SiyuError
from siyu.org import service
from siyu.org.models import LocationKind, Ownership, Store, StoreStatus
from siyu.org.schemas import StoreCreate, StoreUpdate, store_out
from siyu.web.csrf import ConsoleForm
from siyu.web.deps import ConsoleContext, Uow
from siyu.web.forms import (
    PAGE_SIZE,
    FormProblem,
    form_problem,
    is_partial,
    pager,
    problem_context,
)
from siyu.web.templating import render

router = APIRouter()

STATUS_LABELS = {
    StoreStatus.PLANNED: "Planned 筹备中",
    StoreStatus.OPEN: "Open 营业中",
    StoreStatus.SUSPENDED: "Suspended 暂停营业",
    StoreStatus.CLOSED: "Closed 已关店",
}
OWNERSHIP_LABELS = {Ownership.DIRECT: "Direct 直营", Ownership.FRANCHISE: "Franchise 加盟"}
FIELD_LABELS = {
    "code": "Code",
    "name": "Name",
    "region_id": "Region",
    "ownership": "Ownership",
    "franchisee_id": "Franchisee",
    "address": "Address",
    "opening_hours": "Opening hours",
    "status": "Status",
    "phone": "Phone",
}
Text = Annotated[str | None, Form(max_length=2000)]


# ---------------------------------------------------------------- small translations


def _optional_id(value: str, field: str) -> int | None:
    value = value.strip()
    if not value:
        return None
    if not value.isdigit():
        raise InvalidInput(f"'{value}' is not a valid {FIELD_LABELS[field].lower()}.", field=field)
    return int(value)


def _optional_status(value: str) -> StoreStatus | None:
    if not value.strip():
        return None
    try:
        return StoreStatus(value.strip())
    except ValueError:
        raise InvalidInput(f"'{value}' is not a store status.", field="status") from None


# ---------------------------------------------------------------- the store list


@router.get("/stores", response_class=HTMLResponse)
def stores_page(
    request: Request,
    session: Uow,
    ctx: ConsoleContext,
    q: Annotated[str, Query(max_length=100)] = "",
    region_id: Annotated[str, Query(max_length=20)] = "",
    status: Annotated[str, Query(max_length=20)] = "",
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
) -> Response:
    region = _optional_id(region_id, "region_id")
    store_status = _optional_status(status)
    rows, total = service.list_stores(
        session,
        ctx.actor,
        region_id=region,
        status=store_status.value if store_status else None,
        search=q.strip() or None,
        limit=PAGE_SIZE,
        offset=(page - 1) * PAGE_SIZE,
    )
    regions = service.list_regions(session, ctx.actor)
    filters = {"q": q.strip(), "region_id": region, "status": status.strip()}
    context: dict[str, Any] = {
        "ctx": ctx,
        "stores": [store_out(row) for row in rows],
        "region_names": {r.id: r.name for r in regions},
        "regions": regions,
        "filters": filters,
        "pager": pager(total, page, filters),
        "status_labels": STATUS_LABELS,
        "ownership_labels": OWNERSHIP_LABELS,
    }
    if is_partial(request):
        response = render(request, "org/_stores_results.html", context)
    else:
        context["warehouses"] = service.list_stock_locations(
            session, ctx.actor, LocationKind.WAREHOUSE
        )
        context["can_create"] = ctx.actor.can(Permission.ORG_WRITE)
        response = render(request, "org/stores.html", context)
    response.headers["Vary"] = "HX-Request"
    return response


# ---------------------------------------------------------------- opening a store


def _choices(session: Session, ctx: SessionContext) -> dict[str, Any]:
    """Options of the form's selects, as (value, text) pairs."""
    return {
        "region_options": [
            (str(r.id), f"{r.name} ({r.code})") for r in service.list_regions(session, ctx.actor)
        ],
        "franchisee_options": [
            (str(f.id), f"{f.name} ({f.code})")
            for f in service.list_franchisees(session, ctx.actor)
        ],
        "status_options": [(s.value, label) for s, label in STATUS_LABELS.items()],
        "ownership_options": [(o.value, label) for o, label in OWNERSHIP_LABELS.items()],
    }


def _new_store_page(
    request: Request,
    session: Session,
    ctx: SessionContext,
    form: dict[str, Any],
    problem: FormProblem | None = None,
) -> Response:
    return render(
        request,
        "org/store_new.html",
        {"ctx": ctx, "form": form, **problem_context(problem), **_choices(session, ctx)},
        status_code=problem.status if problem else 200,
    )


@router.get("/stores/new", response_class=HTMLResponse)
def new_store_form(request: Request, session: Uow, ctx: ConsoleContext) -> Response:
    ctx.actor.require(Permission.ORG_WRITE)
    form = {"ownership": Ownership.DIRECT.value, "status": StoreStatus.OPEN.value}
    return _new_store_page(request, session, ctx, form)


@router.post("/stores/new", response_class=HTMLResponse)
def create_store(
    request: Request,
    session: Uow,
    ctx: ConsoleForm,
    code: Text = None,
    name: Text = None,
    region_id: Text = None,
    ownership: Text = None,
    franchisee_id: Text = None,
    address: Text = None,
    opening_hours: Text = None,
    status: Text = None,
    phone: Text = None,
) -> Response:
    form = {
        "code": code,
        "name": name,
        "region_id": region_id,
        "ownership": ownership,
        "franchisee_id": franchisee_id,
        "address": address,
        "opening_hours": opening_hours,
        "status": status,
        "phone": phone,
    }
    values: dict[str, Any] = {k: v for k, v in form.items() if v is not None}
    for optional in ("franchisee_id", "phone"):
        if optional in values and not values[optional].strip():
            values[optional] = None
    try:
        data = StoreCreate.model_validate(values)
        store = service.create_store(session, ctx.actor, data)
    except (ValidationError, SiyuError) as error:
        problem = form_problem(session, error, FIELD_LABELS)
        return _new_store_page(request, session, ctx, form, problem)
    return RedirectResponse(f"/console/stores/{store.id}?saved=created", status_code=303)


# ---------------------------------------------------------------- one store


def _edit_form_of(store: Store) -> dict[str, Any]:
    shown = store_out(store)
    return {
        "name": shown.name,
        "address": shown.address,
        "opening_hours": shown.opening_hours_text,
        "status": shown.status.value,
        "phone": "",
        "region_id": str(shown.region_id),
        "ownership": shown.ownership.value,
        "franchisee_id": str(shown.franchisee_id or ""),
    }


def _store_page(
    request: Request,
    session: Session,
    ctx: SessionContext,
    store: Store,
    form: dict[str, Any] | None = None,
    problem: FormProblem | None = None,
    notice: str | None = None,
) -> Response:
    choices = _choices(session, ctx)
    return render(
        request,
        "org/store.html",
        {
            "ctx": ctx,
            "store": store_out(store),
            "region_names": dict(choices["region_options"]),
            "franchisee_names": dict(choices["franchisee_options"]),
            "can_edit": ctx.actor.can(Permission.STORE_WRITE),
            "can_move": ctx.actor.can(Permission.ORG_WRITE),
            "form": form if form is not None else _edit_form_of(store),
            "notice": notice,
            "status_labels": STATUS_LABELS,
            "ownership_labels": OWNERSHIP_LABELS,
            **problem_context(problem),
            **choices,
        },
        status_code=problem.status if problem else 200,
    )


NOTICES = {"1": "Saved.", "created": "Store created."}


@router.get("/stores/{store_id}", response_class=HTMLResponse)
def store_page(
    request: Request,
    store_id: int,
    session: Uow,
    ctx: ConsoleContext,
    saved: Annotated[str, Query(max_length=10)] = "",
) -> Response:
    store = service.get_store(session, ctx.actor, store_id)
    return _store_page(request, session, ctx, store, notice=NOTICES.get(saved))


@router.post("/stores/{store_id}", response_class=HTMLResponse)
def update_store(
    request: Request,
    store_id: int,
    session: Uow,
    ctx: ConsoleForm,
    name: Text = None,
    address: Text = None,
    opening_hours: Text = None,
    status: Text = None,
    phone: Text = None,
    clear_phone: Text = None,
    region_id: Text = None,
    ownership: Text = None,
    franchisee_id: Text = None,
) -> Response:
    """Change the fields the form sent. A blank phone keeps the number on file (it is never
    shown unmasked); ``clear_phone`` removes it. Region, ownership and franchisee are only on
    the form for HQ; the service refuses them from anyone else."""
    store = service.get_store(session, ctx.actor, store_id)
    form = {
        "name": name,
        "address": address,
        "opening_hours": opening_hours,
        "status": status,
        "phone": phone,
        "region_id": region_id,
        "ownership": ownership,
        "franchisee_id": franchisee_id,
    }
    values: dict[str, Any] = {
        k: v for k, v in form.items() if v is not None and k not in {"phone", "franchisee_id"}
    }
    if phone is not None and phone.strip():
        values["phone"] = phone
    elif clear_phone:
        values["phone"] = None
    if franchisee_id is not None:
        values["franchisee_id"] = franchisee_id.strip() or None
    try:
        data = StoreUpdate.model_validate(values)
        service.update_store(session, ctx.actor, store_id, data)
    except (ValidationError, SiyuError) as error:
        problem = form_problem(session, error, FIELD_LABELS)
        return _store_page(request, session, ctx, store, form, problem)
    return RedirectResponse(f"/console/stores/{store_id}?saved=1", status_code=303)
