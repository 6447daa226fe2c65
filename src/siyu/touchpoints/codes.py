"""The codes of a touchpoint (布码): several per touchpoint, and their images, drawn once.

A touchpoint issues a code per print batch, shelf or medium; each has its own scene key, a
label, a medium and an active flag, and the first (lowest id) is the touchpoint's default.
Issuing and changing codes need touchpoint:write and lock the touchpoint (then the code);
reading needs org:read; both follow the touchpoint's scope (not found otherwise).

Images: a link QR, an official-account or a WeCom code is a QR siyu draws (segno); a
mini-program code is drawn by WeChat (``wxacode.getUnlimited`` through
``siyu.wechat.service.mini_program_codes``: the sandbox or the platform). Either is kept in
``touchpoint_code_image`` with the source it was made from, so printing a code again, one at a
time or 1,000 in a run, never draws it or asks WeChat again; a changed page, AppID or mode
makes a new one. Keeping an image is a cache write, neither audited nor published. In live
mode the official account and WeCom draw their own codes (CodeImageUnavailable here).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from siyu.access.rules import Actor, Permission
from siyu.audit.service import record_creation, record_update
from siyu.core.errors import SiyuError
from siyu.core.snapshot import row_snapshot
from siyu.outbox.service import record_event
from siyu.touchpoints import events, rules
from siyu.touchpoints.errors import (
    CodeImageUnavailable,
    InvalidCodePage,
    TooManyCodes,
    TouchpointCodeNotFound,
    WeChatRateLimited,
    WeChatUnavailable,
)
from siyu.touchpoints.locks import lock_touchpoint, lock_touchpoint_code
from siyu.touchpoints.models import TouchpointCode, TouchpointCodeImage
from siyu.touchpoints.rules import CodeImage, Medium
from siyu.touchpoints.schemas import TouchpointCodeCreate, TouchpointCodeUpdate
from siyu.touchpoints.service import check_page, issue_scene_code, visible_touchpoint
from siyu.wechat.adapters import ERR_CODE_MINUTE_QUOTA, ERR_INVALID_PAGE, WeChatError
from siyu.wechat.service import is_sandbox, mini_program_app_id, mini_program_codes


def list_codes(session: Session, actor: Actor, touchpoint_id: int) -> list[TouchpointCode]:
    """The touchpoint's codes, the default (first) first. Raises TouchpointNotFound."""
    actor.require(Permission.ORG_READ)
    touchpoint = visible_touchpoint(session, actor, touchpoint_id)
    return list(
        session.scalars(
            select(TouchpointCode)
            .where(
                TouchpointCode.brand_id == actor.brand_id,
                TouchpointCode.touchpoint_id == touchpoint.id,
            )
            .order_by(TouchpointCode.id)
        )
    )


def _visible_code(
    session: Session, actor: Actor, touchpoint_id: int, code_id: int | None
) -> TouchpointCode:
    touchpoint = visible_touchpoint(session, actor, touchpoint_id)
    query = select(TouchpointCode).where(
        TouchpointCode.brand_id == actor.brand_id, TouchpointCode.touchpoint_id == touchpoint.id
    )
    if code_id is not None:
        query = query.where(TouchpointCode.id == code_id)
    code = session.scalar(query.order_by(TouchpointCode.id).limit(1))
    if code is None:
        raise TouchpointCodeNotFound(f"Code {code_id} of touchpoint {touchpoint_id} was not found.")
    return code


def issue_code(
    session: Session, actor: Actor, touchpoint_id: int, data: TouchpointCodeCreate
) -> TouchpointCode:
    """Issue another code of the touchpoint, with a fresh scene key. Locks the touchpoint.
    Audited (touchpoint_code.create) and published (TouchpointCodeIssued). Raises
    PermissionDenied, TouchpointNotFound, PageNotApplicable, TooManyCodes."""
    actor.require(Permission.TOUCHPOINT_WRITE)
    visible_touchpoint(session, actor, touchpoint_id)
    lock_touchpoint(session, actor.brand_id, touchpoint_id)
    issued = session.scalar(
        select(func.count())
        .select_from(TouchpointCode)
        .where(
            TouchpointCode.brand_id == actor.brand_id,
            TouchpointCode.touchpoint_id == touchpoint_id,
        )
    )
    if (issued or 0) >= rules.MAX_CODES_PER_TOUCHPOINT:
        raise TooManyCodes(
            f"A touchpoint issues at most {rules.MAX_CODES_PER_TOUCHPOINT} codes; "
            "deactivate old ones or create another touchpoint."
        )
    code = issue_scene_code(
        session,
        actor.brand_id,
        touchpoint_id,
        label=data.label,
        medium=data.medium,
        page=data.page,
    )
    record_creation(session, actor, object_type="touchpoint_code", row=code)
    record_event(
        session,
        actor.brand_id,
        events.TouchpointCodeIssued(
            touchpoint_code_id=code.id,
            touchpoint_id=touchpoint_id,
            scene_key=code.scene_key,
            medium=code.medium,
            label=code.label,
        ),
    )
    return code


def update_code(
    session: Session, actor: Actor, touchpoint_id: int, code_id: int, data: TouchpointCodeUpdate
) -> TouchpointCode:
    """Relabel, (de)activate or repoint a code; its scene key never changes (it is printed).
    A deactivated code still resolves, as inactive. Locks the touchpoint, then the code.
    Audited and published (TouchpointCodeChanged) when something changed. Raises
    PermissionDenied, TouchpointNotFound, TouchpointCodeNotFound, PageNotApplicable."""
    actor.require(Permission.TOUCHPOINT_WRITE)
    _visible_code(session, actor, touchpoint_id, code_id)
    lock_touchpoint(session, actor.brand_id, touchpoint_id)
    code = lock_touchpoint_code(session, actor.brand_id, touchpoint_id, code_id)
    assert code is not None
    changes = data.model_dump(exclude_unset=True)
    check_page(Medium(code.medium), changes.get("page"))
    before = row_snapshot(code)
    for key, value in changes.items():
        if value is not None or key == "page":
            setattr(code, key, value)
    session.flush()
    changed = record_update(session, actor, object_type="touchpoint_code", row=code, before=before)
    if changed:
        record_event(
            session,
            actor.brand_id,
            events.TouchpointCodeChanged(
                touchpoint_code_id=code.id, touchpoint_id=touchpoint_id, changes=changed
            ),
        )
    return code


def code_image(
    session: Session, actor: Actor, touchpoint_id: int, code_id: int | None = None
) -> CodeImage:
    """The image of a code (``code_id`` None: the touchpoint's default code), drawn or fetched
    once and kept. Raises PermissionDenied, TouchpointNotFound, TouchpointCodeNotFound and what
    ``images_of`` raises."""
    actor.require(Permission.ORG_READ)
    code = _visible_code(session, actor, touchpoint_id, code_id)
    return images_of(session, actor.brand_id, [code])[code.id]


# ---------------------------------------------------------------- images


def _wechat_refusal(error: WeChatError) -> SiyuError:
    if error.errcode == ERR_CODE_MINUTE_QUOTA:
        return WeChatRateLimited(
            "WeChat draws at most 5,000 mini-program codes a minute. Try again in a minute."
        )
    if error.errcode == ERR_INVALID_PAGE:
        return InvalidCodePage(
            "WeChat does not know this page: it must be a page of the published mini program.",
            field="page",
        )
    return WeChatUnavailable(f"WeChat did not draw the code ({error.errcode}: {error.errmsg}).")


def _fetch_mini_program_code(app_id: str, code: TouchpointCode) -> CodeImage:
    try:
        png = mini_program_codes().unlimited_code(
            app_id, code.scene_key, code.page or "", rules.MINI_PROGRAM_CODE_WIDTH
        )
    except WeChatError as error:
        raise _wechat_refusal(error) from error
    rules.png_size(png)  # WeChat answered with a PNG, or this raises
    return CodeImage(png, None)


def _check_drawable_here(medium: Medium, code: TouchpointCode, sandbox: bool) -> None:
    if not sandbox and medium is not Medium.LINK_QR:
        parameter = rules.medium_parameter(medium, code.scene_key, code.wecom_state, None)
        raise CodeImageUnavailable(
            f"In live mode a {rules.MEDIUM_LABELS[medium]} is drawn on its platform: "
            f"create it there with {parameter}.",
            extra={"code_id": code.id},
        )


def images_of(
    session: Session, brand_id: int, codes: Sequence[TouchpointCode]
) -> dict[int, CodeImage]:
    """The images of ``codes`` (all of ``brand_id``) by code id: kept ones whose source still
    matches, the others drawn (or fetched from WeChat, one call per code) and kept. Writes
    touchpoint_code_image rows. Raises CodeImageUnavailable (official-account or WeCom code in
    live mode), WeChatNotConfigured, WeChatRateLimited (45009), InvalidCodePage (41030),
    WeChatUnavailable."""
    if not codes:
        return {}
    kept = {
        row.touchpoint_code_id: row
        for row in session.scalars(
            select(TouchpointCodeImage).where(
                TouchpointCodeImage.brand_id == brand_id,
                TouchpointCodeImage.touchpoint_code_id.in_([code.id for code in codes]),
            )
        )
    }
    sandbox = is_sandbox()
    # Looked up once, and only if a mini-program code needs it.
    app_id = cache(lambda: mini_program_app_id(session, brand_id))
    images: dict[int, CodeImage] = {}
    fresh: list[dict[str, object]] = []
    for code in codes:
        medium = Medium(code.medium)
        content = rules.sandbox_content(medium, code.scene_key, code.wecom_state)
        if content is None:
            source = rules.mini_program_code_source(sandbox, app_id(), code.scene_key, code.page)
        else:
            _check_drawable_here(medium, code, sandbox)
            source = rules.qr_source(content)
        row = kept.get(code.id)
        if row is not None and row.source == source:
            images[code.id] = CodeImage(row.png, row.svg)
            continue
        image = (
            rules.draw_qr(content)
            if content is not None
            else _fetch_mini_program_code(app_id(), code)
        )
        images[code.id] = image
        fresh.append(
            {
                "brand_id": brand_id,
                "touchpoint_code_id": code.id,
                "source": source,
                "png": image.png,
                "svg": image.svg,
                "sha256": image.sha256,
            }
        )
    if fresh:
        statement = insert(TouchpointCodeImage).values(fresh)
        session.execute(
            statement.on_conflict_do_update(
                index_elements=["brand_id", "touchpoint_code_id"],
                set_={
                    "source": statement.excluded.source,
                    "png": statement.excluded.png,
                    "svg": statement.excluded.svg,
                    "sha256": statement.excluded.sha256,
                    "drawn_at": func.now(),
                },
            )
        )
    return images
