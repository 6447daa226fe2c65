"""Request dependencies: the unit of work and the acting principal.

``Uow`` opens one transaction per request; it commits after the endpoint returns and before
the response is sent (FastAPI's function scope), and rolls back on any error. ``CurrentActor``
authenticates the API's bearer token; ``ConsoleContext`` the console's session cookie;
``CurrentConsumer`` a mini-program consumer's ``siyuc_`` bearer token (storefront API).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from siyu.access.rules import Actor
from siyu.access.service import (
    SessionContext,
    TokenContext,
    authenticate_token,
    resolve_session,
)
from siyu.consumers.service import ConsumerContext, authenticate_consumer
from siyu.core.errors import NotAuthenticated
from siyu.db.session import Database

SESSION_COOKIE = "siyu_session"


def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


def unit_of_work(request: Request) -> Iterator[Session]:
    with get_database(request).unit_of_work() as session:
        yield session


Uow = Annotated[Session, Depends(unit_of_work, scope="function")]


def token_context(request: Request, session: Uow) -> TokenContext:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated("Send an API token as 'Authorization: Bearer siyu_...'.")
    return authenticate_token(session, token.strip())


def current_actor(
    context: Annotated[TokenContext, Depends(token_context, scope="function")],
) -> Actor:
    return context.actor


CurrentToken = Annotated[TokenContext, Depends(token_context, scope="function")]
CurrentActor = Annotated[Actor, Depends(current_actor, scope="function")]


def console_context(request: Request, session: Uow) -> SessionContext:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise NotAuthenticated("Please log in.")
    return resolve_session(session, token)


ConsoleContext = Annotated[SessionContext, Depends(console_context, scope="function")]


def consumer_context(request: Request, session: Uow) -> ConsumerContext:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated("Send a consumer token as 'Authorization: Bearer siyuc_...'.")
    return authenticate_consumer(session, token.strip())


CurrentConsumer = Annotated[ConsumerContext, Depends(consumer_context, scope="function")]
