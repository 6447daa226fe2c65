"""Domain events of access control."""

from __future__ import annotations

from siyu.outbox.events import DomainEvent


class ApiTokenIssued(DomainEvent):
    aggregate_type = "api_token"
    api_token_id: int
    kind: str
    staff_id: int | None
    scopes: list[str]


class ApiTokenRevoked(DomainEvent):
    aggregate_type = "api_token"
    api_token_id: int
