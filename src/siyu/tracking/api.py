"""HTTP API of tracking: the batched event endpoint (storefront) and write keys (staff).

``POST /api/storefront/events`` is ``async def``, unlike the house's sync endpoints, because
it spends its time waiting for a group commit (siyu.tracking.ingestion), not holding a
connection: a sync endpoint would park a threadpool thread per waiting request and pay a
thread hop on siyu's hottest path. For
the same reason ``EventsFastPath`` (installed by siyu.web.app) answers that one path before
FastAPI's routing, which with 200+ routes cost more per request than ingesting 100 events;
the FastAPI route below documents it in the OpenAPI document and answers the same way when
the fast path is not installed. Both read the raw body and validate it with msgspec
(siyu.tracking.rules); ``EventBatchIn`` only documents the body.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
import orjson
from fastapi import APIRouter, BackgroundTasks, FastAPI, Request, Response, status

from siyu.core.clock import utc_now
from siyu.core.errors import SiyuError
from siyu.tracking import rules, service
from siyu.tracking.credentials import credential_of
from siyu.tracking.errors import BatchTooLarge
from siyu.tracking.ingestion import EventIngestor
from siyu.tracking.models import TrackingWriteKey
from siyu.tracking.schemas import (
    EventBacklogOut,
    EventBatchIn,
    IngestResultOut,
    RetriedBatchesOut,
    WriteKeyCreate,
    WriteKeyIssuedOut,
    WriteKeyOut,
)
from siyu.web.deps import CurrentActor, Uow
from siyu.web.problems import problem_response

EVENTS_PATH = "/api/storefront/events"


def ingestor_of(app: Any) -> EventIngestor:
    """The app's event ingestor, created on first use (flusher threads start on first
    submit); stopped by this module's router lifespan."""
    ingestor: EventIngestor | None = getattr(app.state, "tracking_ingestor", None)
    if ingestor is None:
        ingestor = EventIngestor(app.state.database)
        app.state.tracking_ingestor = ingestor
    return ingestor


@asynccontextmanager
async def _stop_ingestor(app: FastAPI) -> AsyncIterator[None]:
    yield
    ingestor: EventIngestor | None = getattr(app.state, "tracking_ingestor", None)
    if ingestor is not None:
        app.state.tracking_ingestor = None
        await anyio.to_thread.run_sync(ingestor.stop)


storefront_router = APIRouter(prefix="/storefront", tags=["storefront"], lifespan=_stop_ingestor)
router = APIRouter(prefix="/tracking", tags=["tracking"])


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with its ``$defs`` references replaced by the definitions (none recursive)."""
    definitions = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            reference = node.get("$ref")
            if isinstance(reference, str) and reference.startswith("#/$defs/"):
                return resolve(definitions[reference.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


_EVENTS_OPENAPI = {
    "parameters": [
        {
            "name": "X-Siyu-Write-Key",
            "in": "header",
            "required": False,
            "description": "The brand's storefront write key, for visitors who have not logged "
            "in (instead of an Authorization header)",
            "schema": {"type": "string"},
        }
    ],
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": _inline(EventBatchIn.model_json_schema())}},
    },
}


def _too_large() -> BatchTooLarge:
    return BatchTooLarge(f"A batch may hold at most {rules.MAX_BATCH_BYTES} bytes.", field="events")


def _check_declared_length(declared: str | None) -> None:
    if declared is not None and declared.isdigit() and int(declared) > rules.MAX_BATCH_BYTES:
        raise _too_large()


async def _read_body(receive: Any, declared: str | None) -> bytes:
    """The request body from the ASGI ``receive``, refused (BatchTooLarge) as soon as it
    declares or passes MAX_BATCH_BYTES."""
    _check_declared_length(declared)
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            raise ConnectionAbortedError("the client went away")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > rules.MAX_BATCH_BYTES:
            raise _too_large()
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


async def ingest_batch(
    app: Any,
    authorization: str | None,
    write_key: str | None,
    read_body: Callable[[], Awaitable[bytes]],
) -> bytes:
    """Authenticate, validate and ingest one batch; the JSON answer. Raises SiyuError."""
    ingestor = ingestor_of(app)
    credential = credential_of(authorization, write_key)
    principal = ingestor.credentials.cached(credential)
    if principal is None:
        principal = await anyio.to_thread.run_sync(ingestor.credentials.load, credential)
    body = await read_body()
    received_at = utc_now()
    parsed = rules.parse_batch(body, received_at, may_name_member=principal.may_name_member)
    outcome = await ingestor.ingest(principal, parsed, received_at, body)
    return orjson.dumps(outcome.as_json())


def _problem(error: SiyuError) -> Response:
    """The problem+json answer siyu.web.problems gives the same error."""
    headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
    return problem_response(
        error.status,
        error.code,
        error.message,
        field=error.field,
        extra=error.extra,
        headers=headers,
    )


class EventsFastPath:
    """ASGI middleware answering ``POST /api/storefront/events`` before FastAPI's routing
    (module doc); every other request passes through untouched."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or scope["path"][len(scope.get("root_path", "")) :] != EVENTS_PATH
        ):
            await self.app(scope, receive, send)
            return
        authorization = write_key = declared = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"x-siyu-write-key":
                write_key = value.decode("latin-1")
            elif name == b"content-length":
                declared = value.decode("latin-1")

        try:
            answer = await ingest_batch(
                scope["app"], authorization, write_key, lambda: _read_body(receive, declared)
            )
        except SiyuError as error:
            await _problem(error)(scope, receive, send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(answer)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": answer})


@storefront_router.post(
    "/events",
    response_model=IngestResultOut,
    openapi_extra=_EVENTS_OPENAPI,
    responses={
        400: {"description": "invalid_json"},
        401: {"description": "not_authenticated, invalid_token, invalid_write_key"},
        403: {"description": "permission_denied (a staff token without tracking:write)"},
        413: {"description": "batch_too_large (more than 500 events or 3 MiB)"},
        422: {"description": "invalid_batch (no events array)"},
    },
)
async def ingest_events(request: Request) -> Response:
    """Record up to 500 tracking events (scan, visit, view_item, add_to_cart, share,
    claim_coupon, custom) in one batch.

    Send a consumer token (``Authorization: Bearer siyuc_...``: the consumer's events), the
    brand's storefront write key (``X-Siyu-Write-Key``: anonymous visitors) or a staff or
    integration token with ``tracking:write`` (server-side events, which may name
    ``member_id``). The answer is 200 once the events are durably stored: ``accepted``
    events, ``duplicates`` (repeating an event id earlier in the same batch) and ``rejected``
    events with their index, code and reason; the other events of the batch are kept.
    Accepted events are queryable (journeys, segments, reports) within about a second, once
    the loader has moved them; an event id stored before is accepted again and stored once,
    so a resent batch changes nothing. A scene key the brand never issued is stored as an
    unknown source (no touchpoint).
    """
    answer = await ingest_batch(
        request.app,
        request.headers.get("authorization"),
        request.headers.get("x-siyu-write-key"),
        lambda: _read_body(request.receive, request.headers.get("content-length")),
    )
    return Response(answer, media_type="application/json")


# ---------------------------------------------------------------- the loader's backlog (staff)


@router.get("/backlog", response_model=EventBacklogOut)
def event_backlog(session: Uow, actor: CurrentActor) -> EventBacklogOut:
    """Accepted events not in the event tables yet: batches waiting for the loader (and how
    long the oldest has waited), and batches set aside with the reason. Needs tracking:write."""
    return service.event_backlog(session, actor)


@router.post("/backlog/retry", response_model=RetriedBatchesOut)
def retry_set_aside_batches(session: Uow, actor: CurrentActor) -> RetriedBatchesOut:
    """Hand every set-aside batch back to the loader (after fixing what refused it).
    Needs tracking:write."""
    batches, count = service.retry_set_aside_batches(session, actor)
    return RetriedBatchesOut(batches=batches, events=count)


# ---------------------------------------------------------------- write keys (staff)


def _key_out(row: TrackingWriteKey) -> WriteKeyOut:
    return WriteKeyOut.model_validate(row)


def _issued(row: TrackingWriteKey, key: str) -> WriteKeyIssuedOut:
    return WriteKeyIssuedOut(**_key_out(row).model_dump(), key=key)


def _forget(request: Request, background: BackgroundTasks, digest: str) -> None:
    """Drop a rotated or revoked key from this process's cache now, and again after the
    commit (background tasks run after it), so no request in between can cache it anew."""
    credentials = ingestor_of(request.app).credentials
    credentials.forget(digest)
    background.add_task(credentials.forget, digest)


@router.get("/write-keys", response_model=list[WriteKeyOut])
def list_write_keys(session: Uow, actor: CurrentActor) -> list[WriteKeyOut]:
    """The brand's storefront write keys (never the keys themselves). Needs tracking:write."""
    return [_key_out(row) for row in service.list_write_keys(session, actor)]


@router.post("/write-keys", response_model=WriteKeyIssuedOut, status_code=status.HTTP_201_CREATED)
def create_write_key(data: WriteKeyCreate, session: Uow, actor: CurrentActor) -> WriteKeyIssuedOut:
    """A new brand-level write key for anonymous storefront events; the key is shown once."""
    row, key = service.create_write_key(session, actor, data)
    return _issued(row, key)


@router.post("/write-keys/{write_key_id}/rotate", response_model=WriteKeyIssuedOut)
def rotate_write_key(
    write_key_id: int,
    request: Request,
    background: BackgroundTasks,
    session: Uow,
    actor: CurrentActor,
) -> WriteKeyIssuedOut:
    """Replace the key: the old one is refused from now on; the new one is shown once."""
    row, key, old_digest = service.rotate_write_key(session, actor, write_key_id)
    _forget(request, background, old_digest)
    return _issued(row, key)


@router.delete("/write-keys/{write_key_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_write_key(
    write_key_id: int,
    request: Request,
    background: BackgroundTasks,
    session: Uow,
    actor: CurrentActor,
) -> Response:
    """End the key: its events are refused from now on."""
    row = service.revoke_write_key(session, actor, write_key_id)
    _forget(request, background, row.key_digest)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
