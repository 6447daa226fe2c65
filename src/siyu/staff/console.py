"""Console pages of staff: the people in scope, one person's page with the edit and password
forms, and the hiring form.

A thin adapter over ``siyu.staff.service``. Which forms a page offers is asked of the access
rules (``check_can_manage_staff``); the service checks again on submit.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from siyu.access.rules import (
    ROLE_LABELS,
    ROLE_SCOPE,
    Actor,
    Permission,
    Role,
    ScopeKind,
    StaffPlace,
    StorePlace,
    check_can_manage_staff,
)
from siyu.access.service import SessionContext
from siyu.core.errors import InvalidInput, PermissionDenied, SiyuError
from siyu.org.models import Store
from siyu.org.service import list_franchisees, list_regions, org_tree
from siyu.staff import service
from siyu.staff.models import Staff
from siyu.staff.schemas import PasswordSet, StaffCreate, StaffUpdate, staff_out
from siyu.web.csrf import ConsoleForm
from siyu.web.deps import ConsoleContext, Uow
from siyu.web.forms import PAGE_SIZE, FormProblem, form_problem, is_partial, pager, problem_context
from siyu.web.templating import render

router = APIRouter()

FIELD_LABELS = {
    "code": "Employee number",
    "name": "Name",
    "role": "Role",
    "phone": "Phone",
    "email": "Email",
    "login": "Login",
    "password": "Password",
    "region_id": "Region",
    "store_id": "Store",
    "franchisee_id": "Franchisee",
    "active": "Access",
}
Text = Annotated[str | None, Form(max_length=500)]


# ---------------------------------------------------------------- what the actor may do


def _stores_in_scope(session: Session, actor: Actor) -> list[tuple[str, list[Store]]]:
    """The stores the actor sees, grouped by region name (for selects and labels)."""
    tree = org_tree(session, actor)
    return [(branch.region.name, branch.stores) for branch in tree.regions if branch.stores]


def _hireable_roles(actor: Actor, stores: list[Store]) -> list[Role]:
    """The roles the access rules let ``actor`` hire into, each tried at a sample place inside
    the actor's scope (one of their stores, their region or franchisee)."""
    if not actor.can(Permission.STAFF_WRITE):
        return []
    sample = (
        StorePlace(stores[0].id, stores[0].region_id, stores[0].franchisee_id) if stores else None
    )
    roles: list[Role] = []
    for role in Role:
        scope = ROLE_SCOPE[role]
        place = StaffPlace(
            staff_id=None,
            role=role,
            region_id=actor.region_id if scope is ScopeKind.REGION else None,
            franchisee_id=actor.franchisee_id if scope is ScopeKind.FRANCHISEE else None,
            store=sample if scope in (ScopeKind.STORE, ScopeKind.SELF) else None,
        )
        if scope in (ScopeKind.STORE, ScopeKind.SELF) and sample is None:
            continue
        try:
            check_can_manage_staff(actor, place)
        except PermissionDenied:
            continue
        roles.append(role)
    return roles


def _can_manage(session: Session, actor: Actor, row: Staff) -> bool:
    if not actor.can(Permission.STAFF_WRITE):
        return False
    try:
        place = service.resolve_place(
            session, row.brand_id, Role(row.role), row.region_id, row.store_id, row.franchisee_id
        )
        check_can_manage_staff(actor, replace(place, staff_id=row.id))
    except SiyuError:
        return False
    return True


def _optional_id(value: str, field: str) -> int | None:
    value = value.strip()
    if not value:
        return None
    if not value.isdigit():
        raise InvalidInput(f"'{value}' is not a valid {FIELD_LABELS[field].lower()}.", field=field)
    return int(value)


def _optional_role(value: str) -> Role | None:
    if not value.strip():
        return None
    try:
        return Role(value.strip())
    except ValueError:
        raise InvalidInput(f"'{value}' is not a role.", field="role") from None


def _store_names(groups: list[tuple[str, list[Store]]]) -> dict[int, str]:
    return {store.id: f"{store.name} ({store.code})" for _, stores in groups for store in stores}


# ---------------------------------------------------------------- the staff list


@router.get("/staff", response_class=HTMLResponse)
def staff_page(
    request: Request,
    session: Uow,
    ctx: ConsoleContext,
    q: Annotated[str, Query(max_length=100)] = "",
    role: Annotated[str, Query(max_length=32)] = "",
    store_id: Annotated[str, Query(max_length=20)] = "",
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
) -> Response:
    chosen_role = _optional_role(role)
    store = _optional_id(store_id, "store_id")
    rows, total = service.list_staff(
        session,
        ctx.actor,
        store_id=store,
        role=chosen_role,
        search=q.strip() or None,
        limit=PAGE_SIZE,
        offset=(page - 1) * PAGE_SIZE,
    )
    groups = _stores_in_scope(session, ctx.actor)
    filters = {"q": q.strip(), "role": chosen_role.value if chosen_role else "", "store_id": store}
    context: dict[str, Any] = {
        "ctx": ctx,
        "people": [staff_out(row) for row in rows],
        "store_names": _store_names(groups),
        "store_groups": groups,
        "roles": list(ROLE_LABELS.items()),
        "filters": filters,
        "pager": pager(total, page, filters, PAGE_SIZE),
    }
    if is_partial(request):
        response = render(request, "staff/_staff_results.html", context)
    else:
        context["can_hire"] = bool(
            _hireable_roles(ctx.actor, [s for _, stores in groups for s in stores])
        )
        response = render(request, "staff/staff.html", context)
    response.headers["Vary"] = "HX-Request"
    return response


# ---------------------------------------------------------------- hiring


def _hire_page(
    request: Request,
    session: Session,
    ctx: SessionContext,
    form: dict[str, Any],
    problem: FormProblem | None = None,
) -> Response:
    groups = _stores_in_scope(session, ctx.actor)
    roles = _hireable_roles(ctx.actor, [s for _, stores in groups for s in stores])
    if not roles:
        raise PermissionDenied("You may not hire anyone.", extra={"permission": "staff:write"})
    return render(
        request,
        "staff/staff_new.html",
        {
            "ctx": ctx,
            "form": form,
            **problem_context(problem),
            "role_options": [(r.value, ROLE_LABELS[r]) for r in roles],
            "store_groups": groups if {Role.STORE_MANAGER, Role.GUIDE} & set(roles) else [],
            "region_options": [
                (str(r.id), f"{r.name} ({r.code})") for r in list_regions(session, ctx.actor)
            ]
            if Role.REGION_MANAGER in roles
            else [],
            "franchisee_options": [
                (str(f.id), f"{f.name} ({f.code})") for f in list_franchisees(session, ctx.actor)
            ]
            if Role.FRANCHISEE_OWNER in roles
            else [],
        },
        status_code=problem.status if problem else 200,
    )


@router.get("/staff/new", response_class=HTMLResponse)
def hire_form(request: Request, session: Uow, ctx: ConsoleContext) -> Response:
    ctx.actor.require(Permission.STAFF_WRITE)
    return _hire_page(request, session, ctx, {})


@router.post("/staff/new", response_class=HTMLResponse)
def hire(
    request: Request,
    session: Uow,
    ctx: ConsoleForm,
    code: Text = None,
    name: Text = None,
    role: Text = None,
    store_id: Text = None,
    region_id: Text = None,
    franchisee_id: Text = None,
    phone: Text = None,
    email: Text = None,
    login: Text = None,
    password: Text = None,
) -> Response:
    """Hire someone. Blank optional fields are left out; the place is whichever of store,
    region and franchisee was chosen (the service says if the role needs another)."""
    form = {
        "code": code,
        "name": name,
        "role": role,
        "store_id": store_id,
        "region_id": region_id,
        "franchisee_id": franchisee_id,
        "phone": phone,
        "email": email,
        "login": login,
    }
    values: dict[str, Any] = {k: v for k, v in form.items() if v is not None and v.strip()}
    if password:
        values["password"] = password
    try:
        data = StaffCreate.model_validate(values)
        row = service.hire_staff(session, ctx.actor, data)
    except (ValidationError, SiyuError) as error:
        problem = form_problem(session, error, FIELD_LABELS)
        return _hire_page(request, session, ctx, form, problem)
    return RedirectResponse(f"/console/staff/{row.id}?saved=hired", status_code=303)


# ---------------------------------------------------------------- one person


NOTICES = {"1": "Saved.", "hired": "Hired.", "password": "Password set."}


def _edit_form_of(row: Staff) -> dict[str, Any]:
    return {
        "name": row.name,
        "phone": "",
        "email": row.email or "",
        "login": row.login or "",
        "active": "true" if row.status == "active" else "false",
    }


def _person_page(
    request: Request,
    session: Session,
    ctx: SessionContext,
    row: Staff,
    form: dict[str, Any] | None = None,
    problem: FormProblem | None = None,
    notice: str | None = None,
    password_problem: FormProblem | None = None,
) -> Response:
    groups = _stores_in_scope(session, ctx.actor)
    is_self = ctx.actor.staff_id == row.id
    can_manage = _can_manage(session, ctx.actor, row)
    refusal = problem or password_problem
    return render(
        request,
        "staff/person.html",
        {
            "ctx": ctx,
            "person": staff_out(row),
            "store_names": _store_names(groups),
            "region_names": {r.id: r.name for r in list_regions(session, ctx.actor)},
            "franchisee_names": {f.id: f.name for f in list_franchisees(session, ctx.actor)},
            "is_self": is_self,
            "can_edit": can_manage,
            "can_set_password": can_manage or is_self,
            "form": form if form is not None else _edit_form_of(row),
            **problem_context(problem),
            "password_error": password_problem.message if password_problem else None,
            "notice": notice,
        },
        status_code=refusal.status if refusal else 200,
    )


@router.get("/staff/{staff_id}", response_class=HTMLResponse)
def person_page(
    request: Request,
    staff_id: int,
    session: Uow,
    ctx: ConsoleContext,
    saved: Annotated[str, Query(max_length=10)] = "",
) -> Response:
    row = service.get_staff(session, ctx.actor, staff_id)
    return _person_page(request, session, ctx, row, notice=NOTICES.get(saved))


@router.post("/staff/{staff_id}", response_class=HTMLResponse)
def change_person(
    request: Request,
    staff_id: int,
    session: Uow,
    ctx: ConsoleForm,
    name: Text = None,
    phone: Text = None,
    clear_phone: Text = None,
    email: Text = None,
    login: Text = None,
    active: Text = None,
) -> Response:
    """Change the fields the form sent. A blank phone keeps the number on file (never shown
    unmasked), ``clear_phone`` removes it; a blank email removes the email."""
    row = service.get_staff(session, ctx.actor, staff_id)
    form = {"name": name, "phone": phone, "email": email, "login": login, "active": active}
    values: dict[str, Any] = {}
    if name is not None:
        values["name"] = name
    if phone is not None and phone.strip():
        values["phone"] = phone
    elif clear_phone:
        values["phone"] = None
    if email is not None:
        values["email"] = email.strip() or None
    if login is not None and login.strip():
        values["login"] = login
    if active is not None:
        values["active"] = active
    try:
        data = StaffUpdate.model_validate(values)
        service.change_staff(session, ctx.actor, staff_id, data)
    except (ValidationError, SiyuError) as error:
        problem = form_problem(session, error, FIELD_LABELS)
        return _person_page(request, session, ctx, row, form, problem)
    return RedirectResponse(f"/console/staff/{staff_id}?saved=1", status_code=303)


@router.post("/staff/{staff_id}/password", response_class=HTMLResponse)
def set_password(
    request: Request,
    staff_id: int,
    session: Uow,
    ctx: ConsoleForm,
    password: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    row = service.get_staff(session, ctx.actor, staff_id)
    try:
        data = PasswordSet.model_validate({"password": password})
        service.set_password(session, ctx.actor, staff_id, data.password)
    except (ValidationError, SiyuError) as error:
        problem = form_problem(session, error, FIELD_LABELS)
        return _person_page(request, session, ctx, row, password_problem=problem)
    return RedirectResponse(f"/console/staff/{staff_id}?saved=password", status_code=303)
