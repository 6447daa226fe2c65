"""The base of every domain event: a past fact with a payload that is plain JSON."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict


class DomainEvent(BaseModel):
    """Subclasses name a past fact (``StoreOpened``) and set ``aggregate_type``."""

    model_config = ConfigDict(frozen=True)

    aggregate_type: ClassVar[str]

    @classmethod
    def event_type(cls) -> str:
        return cls.__name__

    def aggregate_id(self) -> str:
        return str(getattr(self, f"{self.aggregate_type}_id"))

    def payload(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
