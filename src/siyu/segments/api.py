"""HTTP API of tags and segments: definitions, tagging members (brand and per-guide tags),
saved segments with preview, refresh, bulk tagging and CSV export."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from siyu.access.rules import Actor
from siyu.core.pagination import MAX_PAGE_SIZE, Page
from siyu.db.session import Database
from siyu.segments import rules, service, tags
from siyu.segments.models import MemberGuideTag, Segment, Tag
from siyu.segments.rules import Schedule, TagKind
from siyu.segments.schemas import (
    GuideTagOut,
    GuideTagRef,
    MemberTagOut,
    MemberTagsOut,
    PreviewOut,
    PreviewRequest,
    RefreshOut,
    SegmentCreate,
    SegmentMemberOut,
    SegmentOut,
    SegmentUpdate,
    TagCreate,
    TaggingOut,
    TagOut,
    TagRef,
    TagUpdate,
)
from siyu.segments.scope import scope_label
from siyu.web.deps import CurrentActor, Uow, get_database

router = APIRouter(tags=["segments"])

CSV_TYPE = "text/csv; charset=utf-8"
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def tag_out(row: Tag) -> TagOut:
    return TagOut(
        id=row.id,
        code=row.code,
        name=row.name,
        group=row.group_name,
        kind=TagKind(row.kind),
        rule=row.rule,
        rule_description=(
            rules.describe(rules.parse_rule(row.rule).node) if row.rule is not None else None
        ),
        schedule=Schedule(row.schedule),
        last_refreshed_at=row.last_refreshed_at,
        scope=scope_label(row),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def segment_out(row: Segment) -> SegmentOut:
    return SegmentOut(
        id=row.id,
        name=row.name,
        description=row.description,
        rule=row.rule,
        rule_description=rules.describe(rules.parse_rule(row.rule).node),
        schedule=Schedule(row.schedule),
        last_refreshed_at=row.last_refreshed_at,
        member_count=row.member_count,
        scope=scope_label(row),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


# ---------------------------------------------------------------- tag definitions


@router.get("/tags", response_model=list[TagOut])
def list_tags(
    session: Uow,
    actor: CurrentActor,
    group: Annotated[str | None, Query(max_length=100)] = None,
    kind: TagKind | None = None,
) -> list[TagOut]:
    """The brand's tags, by group and code."""
    return [tag_out(t) for t in tags.list_tags(session, actor, group=group, kind=kind)]


@router.post("/tags", response_model=TagOut, status_code=status.HTTP_201_CREATED)
def create_tag(data: TagCreate, session: Uow, actor: CurrentActor) -> TagOut:
    """A manual tag, or a rule tag whose members are computed at once and on its schedule."""
    return tag_out(tags.create_tag(session, actor, data))


@router.get("/tags/{tag_id}", response_model=TagOut)
def get_tag(tag_id: int, session: Uow, actor: CurrentActor) -> TagOut:
    return tag_out(tags.get_tag(session, actor, tag_id))


@router.patch("/tags/{tag_id}", response_model=TagOut)
def update_tag(tag_id: int, data: TagUpdate, session: Uow, actor: CurrentActor) -> TagOut:
    return tag_out(tags.update_tag(session, actor, tag_id, data))


@router.delete("/tags/{tag_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_tag(tag_id: int, session: Uow, actor: CurrentActor) -> Response:
    """Delete a tag that no segment or rule tag uses, and take it off everyone."""
    tags.delete_tag(session, actor, tag_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/tags/{tag_id}/recompute", response_model=TagOut)
def recompute_tag(tag_id: int, session: Uow, actor: CurrentActor) -> TagOut:
    """Recompute a rule tag's members now."""
    tags.recompute_rule_tag(session, actor, tag_id)
    return tag_out(tags.get_tag(session, actor, tag_id))


# ---------------------------------------------------------------- a member's tags


@router.get("/members/{member_id}/tags", response_model=MemberTagsOut)
def member_tags(member_id: int, session: Uow, actor: CurrentActor) -> MemberTagsOut:
    """The member's brand tags and the per-guide tags the caller may see (a guide their own;
    managers in scope every guide's)."""
    return tags.list_member_tags(session, actor, member_id)


@router.post(
    "/members/{member_id}/tags", response_model=MemberTagOut, status_code=status.HTTP_201_CREATED
)
def tag_member(member_id: int, data: TagRef, session: Uow, actor: CurrentActor) -> MemberTagOut:
    """Put a manual brand tag on the member (not for guides: they keep per-guide tags)."""
    row = tags.tag_member(session, actor, member_id, data.tag_id)
    return next(
        t
        for t in tags.member_tags(session, actor.brand_id, member_id).tags
        if t.tag_id == row.tag_id
    )


@router.delete("/members/{member_id}/tags/{tag_id}", status_code=status.HTTP_204_NO_CONTENT)
def untag_member(member_id: int, tag_id: int, session: Uow, actor: CurrentActor) -> Response:
    tags.untag_member(session, actor, member_id, tag_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _guide_tag_out(session: Uow, actor: CurrentActor, row: MemberGuideTag) -> GuideTagOut:
    listed = tags.member_tags(session, actor.brand_id, row.member_id, viewer=actor).guide_tags
    return next(
        t for t in listed if t.tag_id == row.tag_id and t.guide_staff_id == row.guide_staff_id
    )


@router.post(
    "/members/{member_id}/guide-tags",
    response_model=GuideTagOut,
    status_code=status.HTTP_201_CREATED,
)
def add_guide_tag(
    member_id: int, data: GuideTagRef, session: Uow, actor: CurrentActor
) -> GuideTagOut:
    """Keep a tag on the member for one guide: a guide for themselves (on their customers),
    a manager for a guide in their scope (``guide_staff_id``)."""
    row = tags.add_guide_tag(session, actor, member_id, data.tag_id, data.guide_staff_id)
    return _guide_tag_out(session, actor, row)


@router.delete("/members/{member_id}/guide-tags/{tag_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_guide_tag(
    member_id: int,
    tag_id: int,
    session: Uow,
    actor: CurrentActor,
    guide_staff_id: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    tags.remove_guide_tag(session, actor, member_id, tag_id, guide_staff_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# ---------------------------------------------------------------- segments


@router.get("/segments", response_model=Page[SegmentOut])
def list_segments(
    session: Uow,
    actor: CurrentActor,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[SegmentOut]:
    rows, total = service.list_segments(session, actor, limit=limit, offset=offset)
    return Page[SegmentOut](
        items=[segment_out(r) for r in rows], total=total, limit=limit, offset=offset
    )


@router.post("/segments", response_model=SegmentOut, status_code=status.HTTP_201_CREATED)
def create_segment(data: SegmentCreate, session: Uow, actor: CurrentActor) -> SegmentOut:
    """Save a segment (members computed at once, within the caller's scope). A bad rule is
    answered 422 ``segment_rule_invalid`` with the JSON path of the problem in ``field``."""
    return segment_out(service.create_segment(session, actor, data))


@router.post("/segments/preview", response_model=PreviewOut)
def preview_segment(data: PreviewRequest, session: Uow, actor: CurrentActor) -> PreviewOut:
    """How many members the rule selects now and the first 20 (phones masked); saves nothing."""
    return service.preview_segment(session, actor, data.rule)


@router.get("/segments/{segment_id}", response_model=SegmentOut)
def get_segment(segment_id: int, session: Uow, actor: CurrentActor) -> SegmentOut:
    return segment_out(service.get_segment(session, actor, segment_id))


@router.patch("/segments/{segment_id}", response_model=SegmentOut)
def update_segment(
    segment_id: int, data: SegmentUpdate, session: Uow, actor: CurrentActor
) -> SegmentOut:
    return segment_out(service.update_segment(session, actor, segment_id, data))


@router.delete("/segments/{segment_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_segment(segment_id: int, session: Uow, actor: CurrentActor) -> Response:
    service.delete_segment(session, actor, segment_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/segments/{segment_id}/refresh", response_model=RefreshOut)
def refresh_segment(segment_id: int, session: Uow, actor: CurrentActor) -> RefreshOut:
    """Recompute the members now; answers how many joined and left."""
    row, difference = service.refresh_segment(session, actor, segment_id)
    assert row.last_refreshed_at is not None
    return RefreshOut(
        segment_id=row.id,
        added=difference.added,
        removed=difference.removed,
        member_count=difference.member_count,
        refreshed_at=row.last_refreshed_at,
    )


@router.post("/segments/{segment_id}/tagging", response_model=TaggingOut)
def tag_segment(segment_id: int, data: TagRef, session: Uow, actor: CurrentActor) -> TaggingOut:
    """Bulk tagging: refresh the segment and put the manual tag on all its members."""
    return service.tag_segment_members(session, actor, segment_id, data.tag_id)


@router.get("/segments/{segment_id}/members", response_model=Page[SegmentMemberOut])
def segment_members(
    segment_id: int,
    session: Uow,
    actor: CurrentActor,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[SegmentMemberOut]:
    """The members as of the last refresh (phones masked)."""
    items, total = service.list_segment_members(
        session, actor, segment_id, limit=limit, offset=offset
    )
    return Page[SegmentMemberOut](items=items, total=total, limit=limit, offset=offset)


def csv_cell(value: object) -> str:
    """A cell spreadsheets will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def csv_lines(database: Database, actor: Actor, segment_id: int) -> Iterator[str]:
    """The export's CSV text in chunks, read in a session of its own (the request's unit of
    work has ended by the time a streamed body is sent)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(service.EXPORT_HEADER)
    with database.sessions() as reading:
        lines = service.export_segment_members(reading, actor, segment_id)
        for n, line in enumerate(lines, start=1):
            writer.writerow(
                [
                    line.member_id,
                    csv_cell(line.name),
                    line.phone,
                    csv_cell(line.tier_code),
                    line.lifecycle_stage,
                    csv_cell(line.store),
                ]
            )
            if n % 500 == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
    yield buffer.getvalue()


def csv_export(
    request: Request, session: Session, actor: Actor, segment_id: int
) -> StreamingResponse:
    """The segment's CSV download (SegmentNotFound at once, before streaming begins)."""
    service.get_segment(session, actor, segment_id)
    return StreamingResponse(
        csv_lines(get_database(request), actor, segment_id),
        media_type=CSV_TYPE,
        headers={"Content-Disposition": f'attachment; filename="segment-{segment_id}.csv"'},
    )


@router.get(
    "/segments/{segment_id}/export.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "The members as CSV"}},
)
def export_segment(
    segment_id: int, request: Request, session: Uow, actor: CurrentActor
) -> StreamingResponse:
    """The members as of the last refresh, streamed as CSV: member id, name, phone (masked
    unless the caller has member:pii), tier, lifecycle stage, home store."""
    return csv_export(request, session, actor, segment_id)
