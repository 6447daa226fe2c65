"""The conditions of the segment rule language: one Pydantic model per condition, each named by
its ``key`` in the JSON rule and able to describe itself. Pure: no I/O.

Parsing, normalising and combining them is siyu.segments.rules.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from datetime import date
from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_VALUES = 200
MAX_WINDOW_DAYS = 3660
LifecycleStage = Literal[
    "prospect", "new", "first_purchase", "repeat", "loyal", "dormant", "churned"
]
EventKind = Literal["scan", "visit", "view_item", "add_to_cart", "share", "claim_coupon", "custom"]
Gender = Literal["male", "female", "unknown"]
LIFECYCLE_STAGES: tuple[str, ...] = get_args(LifecycleStage)
GENDERS: tuple[str, ...] = get_args(Gender)
Days = Annotated[int, Field(ge=1, le=MAX_WINDOW_DAYS)]
Id = Annotated[int, Field(ge=1)]
Code = Annotated[str, Field(min_length=1, max_length=64)]


class Condition(BaseModel):
    """One condition; ``key`` is its name in the JSON rule."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    key: ClassVar[str]

    def body(self) -> dict[str, Any]:
        """The condition's parameters as JSON (without defaults left unset)."""
        dumped: dict[str, Any] = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        return dumped

    @abstractmethod
    def describe(self) -> str:
        """The condition in words, for the segment editor."""


def _list(values: Sequence[object]) -> str:
    return ", ".join("none" if v is None else str(v) for v in values)


class GenderIs(Condition):
    key = "gender"
    values: list[Gender] = Field(alias="in", min_length=1, max_length=len(GENDERS))

    def describe(self) -> str:
        return f"gender in ({_list(self.values)})"


class BirthdayMonthIs(Condition):
    key = "birthday_month"
    values: list[Annotated[int, Field(ge=1, le=12)]] = Field(
        alias="in", min_length=1, max_length=12
    )

    def describe(self) -> str:
        return f"birthday month in ({_list(self.values)})"


class JoinedAt(Condition):
    """When the member joined: within the last N days, on/after a day, before a day (days in
    Asia/Shanghai), or simply whether they joined at all (``present``)."""

    key = "joined_at"
    within_days: Days | None = None
    after: date | None = Field(default=None, description="on or after this day")
    before: date | None = Field(default=None, description="before this day")
    present: bool | None = None

    @model_validator(mode="after")
    def _check(self) -> JoinedAt:
        bounds = (self.within_days, self.after, self.before)
        if self.present is None and all(b is None for b in bounds):
            raise ValueError("give within_days, after, before or present")
        if self.present is False and any(b is not None for b in bounds):
            raise ValueError("present: false cannot be combined with a time bound")
        if self.after is not None and self.before is not None and self.after >= self.before:
            raise ValueError("after must be earlier than before")
        return self

    def describe(self) -> str:
        if self.present is False:
            return "has not joined"
        parts = []
        if self.within_days is not None:
            parts.append(f"in the last {self.within_days} days")
        if self.after is not None:
            parts.append(f"on or after {self.after.isoformat()}")
        if self.before is not None:
            parts.append(f"before {self.before.isoformat()}")
        return "joined " + " and ".join(parts) if parts else "has joined"


class DisplayNamePresent(Condition):
    key = "display_name_present"
    present: bool

    def describe(self) -> str:
        return "has a display name" if self.present else "has no display name"


class PhonePresent(Condition):
    key = "phone_present"
    present: bool

    def describe(self) -> str:
        return "has a phone number" if self.present else "has no phone number"


class TierIs(Condition):
    """Tier codes; ``null`` in the list stands for "no tier"."""

    key = "tier"
    values: list[Annotated[str, Field(min_length=1, max_length=32)] | None] = Field(
        alias="in", min_length=1, max_length=MAX_VALUES
    )

    def describe(self) -> str:
        return f"tier in ({_list(self.values)})"


class HasTag(Condition):
    """A brand tag by code: ``{"has": "vip"}`` or ``{"has_not": "vip"}`` (per-guide tags are
    private to their guide and never count here)."""

    key = "tag"
    has: Code | None = None
    has_not: Code | None = None

    @model_validator(mode="after")
    def _check(self) -> HasTag:
        if (self.has is None) == (self.has_not is None):
            raise ValueError("give exactly one of has or has_not")
        return self

    @property
    def code(self) -> str:
        code = self.has if self.has is not None else self.has_not
        assert code is not None
        return code

    def describe(self) -> str:
        return f"has tag {self.has}" if self.has is not None else f"has not tag {self.has_not}"


class LifecycleStageIs(Condition):
    key = "lifecycle_stage"
    values: list[LifecycleStage] = Field(alias="in", min_length=1, max_length=len(LIFECYCLE_STAGES))

    def describe(self) -> str:
        return f"lifecycle stage in ({_list(self.values)})"


class SourceTouchpointIs(Condition):
    key = "source_touchpoint"
    values: list[Id] = Field(alias="in", min_length=1, max_length=MAX_VALUES)

    def describe(self) -> str:
        return f"source touchpoint in ({_list(self.values)})"


class SourceTouchpointKindIs(Condition):
    key = "source_touchpoint_kind"
    values: list[Annotated[str, Field(min_length=1, max_length=48)]] = Field(
        alias="in", min_length=1, max_length=MAX_VALUES
    )

    def describe(self) -> str:
        return f"source touchpoint kind in ({_list(self.values)})"


class SourceStoreIs(Condition):
    key = "source_store"
    values: list[Id] = Field(alias="in", min_length=1, max_length=MAX_VALUES)

    def describe(self) -> str:
        return f"source store in ({_list(self.values)})"


class HomeStoreIs(Condition):
    key = "home_store"
    values: list[Id] = Field(alias="in", min_length=1, max_length=MAX_VALUES)

    def describe(self) -> str:
        return f"home store in ({_list(self.values)})"


class RegionIs(Condition):
    """The region of the member's home store."""

    key = "region"
    values: list[Id] = Field(alias="in", min_length=1, max_length=MAX_VALUES)

    def describe(self) -> str:
        return f"home store's region in ({_list(self.values)})"


class Bought(Condition):
    """Bought a product, or anything of a category (its subcategories included), in the last
    ``within_days`` days (ever, without it): paid online orders (lines not wholly refunded)
    and offline (POS) orders not wholly refunded."""

    key = "bought"
    product: Id | None = None
    category: Id | None = None
    within_days: Days | None = None

    @model_validator(mode="after")
    def _check(self) -> Bought:
        if (self.product is None) == (self.category is None):
            raise ValueError("give exactly one of product or category")
        return self

    def describe(self) -> str:
        what = f"product {self.product}" if self.product else f"category {self.category}"
        return f"bought {what}{_window(self.within_days)}"


def _window(days: int | None) -> str:
    return f" in the last {days} days" if days is not None else ""


class Spend(Condition):
    """Money spent (fen, net of refunds): over the member's life, or in the last N days."""

    key = "spend"
    at_least_fen: Annotated[int, Field(ge=0, le=10**13)] | None = None
    at_most_fen: Annotated[int, Field(ge=0, le=10**13)] | None = None
    within_days: Days | None = None

    @model_validator(mode="after")
    def _check(self) -> Spend:
        _check_bounds(self.at_least_fen, self.at_most_fen, "at_least_fen", "at_most_fen")
        return self

    def describe(self) -> str:
        return f"spent {_bounds(self.at_least_fen, self.at_most_fen, ' fen')}" + _window(
            self.within_days
        )


class OrderCount(Condition):
    """How many orders (online paid and offline, net of whole refunds): over the member's life,
    or placed in the last N days."""

    key = "orders"
    at_least: Annotated[int, Field(ge=0, le=10**6)] | None = None
    at_most: Annotated[int, Field(ge=0, le=10**6)] | None = None
    within_days: Days | None = None

    @model_validator(mode="after")
    def _check(self) -> OrderCount:
        _check_bounds(self.at_least, self.at_most, "at_least", "at_most")
        return self

    def describe(self) -> str:
        return f"ordered {_bounds(self.at_least, self.at_most, ' times')}" + _window(
            self.within_days
        )


def _check_bounds(low: int | None, high: int | None, low_name: str, high_name: str) -> None:
    if low is None and high is None:
        raise ValueError(f"give {low_name}, {high_name} or both")
    if low is not None and high is not None and low > high:
        raise ValueError(f"{low_name} must not exceed {high_name}")


def _bounds(low: int | None, high: int | None, unit: str) -> str:
    if low is not None and high is not None:
        return f"between {low} and {high}{unit}"
    if low is not None:
        return f"at least {low}{unit}"
    return f"at most {high}{unit}"


class LastOrder(Condition):
    """The member's latest order was in the last N days, and/or more than M days ago (a member
    who never ordered matches neither)."""

    key = "last_order"
    within_days: Days | None = None
    more_than_days_ago: Days | None = None

    @model_validator(mode="after")
    def _check(self) -> LastOrder:
        if self.within_days is None and self.more_than_days_ago is None:
            raise ValueError("give within_days, more_than_days_ago or both")
        if (
            self.within_days is not None
            and self.more_than_days_ago is not None
            and self.more_than_days_ago >= self.within_days
        ):
            raise ValueError("more_than_days_ago must be smaller than within_days")
        return self

    def describe(self) -> str:
        parts = []
        if self.within_days is not None:
            parts.append(f"in the last {self.within_days} days")
        if self.more_than_days_ago is not None:
            parts.append(f"more than {self.more_than_days_ago} days ago")
        return "last ordered " + " and ".join(parts)


class Events(Condition):
    """At least ``at_least`` tracking events of ``kind`` (and ``name``, for custom events) in
    the last ``within_days`` days: visits, scans, item views, shares..."""

    key = "events"
    kind: EventKind
    name: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    within_days: Days
    at_least: Annotated[int, Field(ge=1, le=10**6)] = 1

    def describe(self) -> str:
        what = f"{self.kind} '{self.name}'" if self.name else self.kind
        return f"at least {self.at_least} {what} events in the last {self.within_days} days"


CONDITIONS: dict[str, type[Condition]] = {
    c.key: c
    for c in (
        GenderIs,
        BirthdayMonthIs,
        JoinedAt,
        DisplayNamePresent,
        PhonePresent,
        TierIs,
        HasTag,
        LifecycleStageIs,
        SourceTouchpointIs,
        SourceTouchpointKindIs,
        SourceStoreIs,
        HomeStoreIs,
        RegionIs,
        Bought,
        Spend,
        OrderCount,
        LastOrder,
        Events,
    )
}
# Conditions whose JSON value is a bare boolean rather than an object.
BOOLEAN_CONDITIONS = frozenset({"display_name_present", "phone_present"})
