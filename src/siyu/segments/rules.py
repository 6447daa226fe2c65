"""The segment rule language (分组规则): parsing, validation, normalisation, description.

Pure: no I/O. A rule is JSON: a node is an object with exactly one key, either a combinator

- ``{"all": [node, ...]}``: every child holds,
- ``{"any": [node, ...]}``: at least one child holds,
- ``{"not": node}``: the child does not hold,

or a condition (the key names it, the value holds its parameters; see ``CONDITIONS``)::

    {"all": [
        {"tier": {"in": ["gold", "platinum"]}},
        {"tag": {"has": "vip"}},
        {"events": {"kind": "visit", "within_days": 30, "at_least": 2}}
    ]}

Windows ("within_days": N) are rolling: the N days before the moment the segment is evaluated.
``parse_rule`` validates with Pydantic and reports every problem at its JSON path
(``rule.all[2].events.within_days``); the result is normalised (nested ``all``/``any``
flattened, single-child combinators and double negations removed, duplicates dropped) so that
equal rules are stored equally. ``siyu.segments.compiler`` turns a parsed rule into SQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from siyu.segments.conditions import (
    BOOLEAN_CONDITIONS,
    CONDITIONS,
    Bought,
    Condition,
    Events,
    HasTag,
    HomeStoreIs,
    OrderCount,
    RegionIs,
    SourceStoreIs,
    SourceTouchpointIs,
    SourceTouchpointKindIs,
    Spend,
)

MAX_DEPTH = 8
MAX_CONDITIONS = 60
MAX_CHILDREN = 40
ROOT = "rule"


class Schedule(StrEnum):
    """How often a saved segment or a rule tag is recomputed."""

    MANUAL = "manual"
    HOURLY = "hourly"
    DAILY = "daily"


class TagKind(StrEnum):
    MANUAL = "manual"
    RULE = "rule"


class TagSource(StrEnum):
    """Why a member holds a tag: put by staff, computed from the tag's rule, or bulk-applied
    from a segment."""

    MANUAL = "manual"
    RULE = "rule"
    SEGMENT = "segment"


SCHEDULE_INTERVALS: dict[Schedule, timedelta] = {
    Schedule.HOURLY: timedelta(hours=1),
    Schedule.DAILY: timedelta(days=1),
}


def is_due(schedule: Schedule, last_refreshed_at: datetime | None, now: datetime) -> bool:
    """Whether a segment (or rule tag) on ``schedule`` must be recomputed at ``now``.

    A manual schedule is never due; a scheduled one is due when never computed, or when its
    interval has passed since the last computation."""
    interval = SCHEDULE_INTERVALS.get(schedule)
    if interval is None:
        return False
    return last_refreshed_at is None or now - last_refreshed_at >= interval


# ---------------------------------------------------------------- the tree


@dataclass(frozen=True)
class AllOf:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class AnyOf:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class NotOf:
    child: Node


Node = AllOf | AnyOf | NotOf | Condition


class ReferenceKind(StrEnum):
    """Objects a rule names by id or code; the service checks they exist and are visible."""

    TAG = "tag"
    STORE = "store"
    REGION = "region"
    TOUCHPOINT = "touchpoint"
    TOUCHPOINT_KIND = "touchpoint_kind"
    PRODUCT = "product"
    CATEGORY = "category"


@dataclass(frozen=True)
class Reference:
    kind: ReferenceKind
    value: int | str
    path: str


@dataclass(frozen=True)
class RuleProblem:
    path: str
    message: str


class RuleInvalid(ValueError):
    """The rule is not valid; ``problems`` lists each one at its JSON path (first first)."""

    def __init__(self, problems: Sequence[RuleProblem]) -> None:
        self.problems = list(problems)
        first = self.problems[0]
        super().__init__(f"{first.path}: {first.message}")


@dataclass(frozen=True)
class ParsedRule:
    node: Node
    references: tuple[Reference, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return rule_json(self.node)


@dataclass
class _Parser:
    problems: list[RuleProblem] = field(default_factory=list)
    references: list[Reference] = field(default_factory=list)
    conditions: int = 0

    def node(self, value: object, path: str, depth: int) -> Node | None:
        if depth > MAX_DEPTH:
            self.problems.append(RuleProblem(path, f"rules nest at most {MAX_DEPTH} levels deep"))
            return None
        if not isinstance(value, Mapping) or len(value) != 1:
            self.problems.append(
                RuleProblem(
                    path,
                    "expected an object with exactly one key: all, any, not or a condition "
                    f"({', '.join(sorted(CONDITIONS))})",
                )
            )
            return None
        [(key, body)] = value.items()
        here = f"{path}.{key}"
        if key in ("all", "any"):
            return self._combination(str(key), body, here, depth)
        if key == "not":
            child = self.node(body, here, depth + 1)
            return NotOf(child) if child is not None else None
        model = CONDITIONS.get(str(key))
        if model is None:
            self.problems.append(
                RuleProblem(
                    here,
                    f"unknown condition '{key}'; expected all, any, not or one of "
                    f"{', '.join(sorted(CONDITIONS))}",
                )
            )
            return None
        return self._condition(model, body, here)

    def _combination(self, key: str, body: object, path: str, depth: int) -> Node | None:
        if not isinstance(body, list) or not body:
            self.problems.append(RuleProblem(path, f"'{key}' needs a non-empty list of rules"))
            return None
        if len(body) > MAX_CHILDREN:
            self.problems.append(RuleProblem(path, f"'{key}' takes at most {MAX_CHILDREN} rules"))
            return None
        children = [self.node(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(body)]
        kept = tuple(c for c in children if c is not None)
        if len(kept) != len(children):
            return None
        return AllOf(kept) if key == "all" else AnyOf(kept)

    def _condition(self, model: type[Condition], body: object, path: str) -> Node | None:
        self.conditions += 1
        if self.conditions == MAX_CONDITIONS + 1:
            self.problems.append(
                RuleProblem(path, f"a rule holds at most {MAX_CONDITIONS} conditions")
            )
        if model.key in BOOLEAN_CONDITIONS:
            if not isinstance(body, bool):
                self.problems.append(RuleProblem(path, "expected true or false"))
                return None
            body = {"present": body}
        elif not isinstance(body, Mapping):
            self.problems.append(RuleProblem(path, "expected an object of the condition's fields"))
            return None
        try:
            condition = model.model_validate(body)
        except ValidationError as error:
            for problem in error.errors(include_url=False):
                where = path + "".join(
                    f"[{part}]" if isinstance(part, int) else f".{part}" for part in problem["loc"]
                )
                message = str(problem["msg"]).removeprefix("Value error, ")
                self.problems.append(RuleProblem(where, message))
            return None
        self.references.extend(_references_of(condition, path))
        return condition


def _references_of(condition: Condition, path: str) -> Iterator[Reference]:
    by_values: dict[type[Condition], ReferenceKind] = {
        SourceTouchpointIs: ReferenceKind.TOUCHPOINT,
        SourceTouchpointKindIs: ReferenceKind.TOUCHPOINT_KIND,
        SourceStoreIs: ReferenceKind.STORE,
        HomeStoreIs: ReferenceKind.STORE,
        RegionIs: ReferenceKind.REGION,
    }
    kind = by_values.get(type(condition))
    if kind is not None:
        for index, value in enumerate(getattr(condition, "values")):  # noqa: B009
            yield Reference(kind, value, f"{path}.in[{index}]")
    elif isinstance(condition, HasTag):
        yield Reference(
            ReferenceKind.TAG,
            condition.code,
            f"{path}.has" if condition.has is not None else f"{path}.has_not",
        )
    elif isinstance(condition, Bought):
        if condition.product is not None:
            yield Reference(ReferenceKind.PRODUCT, condition.product, f"{path}.product")
        if condition.category is not None:
            yield Reference(ReferenceKind.CATEGORY, condition.category, f"{path}.category")


def parse_rule(value: object) -> ParsedRule:
    """Validate and normalise a JSON rule.

    Raises RuleInvalid listing every problem with its path (``rule.all[1].tier.in``)."""
    parser = _Parser()
    node = parser.node(value, ROOT, 1)
    if parser.problems or node is None:
        raise RuleInvalid(parser.problems or [RuleProblem(ROOT, "invalid rule")])
    return ParsedRule(normalise(node), tuple(parser.references))


# ---------------------------------------------------------------- normal form and JSON


def normalise(node: Node) -> Node:
    """Flatten ``all`` in ``all`` and ``any`` in ``any``, drop duplicate children, unwrap
    single-child combinators and double negations. The meaning never changes."""
    if isinstance(node, NotOf):
        child = normalise(node.child)
        return child.child if isinstance(child, NotOf) else NotOf(child)
    if isinstance(node, AllOf | AnyOf):
        kind = type(node)
        flat: list[Node] = []
        seen: set[str] = set()
        for child in (normalise(c) for c in node.children):
            for part in child.children if isinstance(child, kind) else (child,):
                fingerprint = json.dumps(rule_json(part), sort_keys=True)
                if fingerprint not in seen:
                    seen.add(fingerprint)
                    flat.append(part)
        return flat[0] if len(flat) == 1 else kind(tuple(flat))
    return node


def rule_json(node: Node) -> dict[str, Any]:
    """The JSON form of a (parsed) rule; ``parse_rule(rule_json(n))`` gives ``n`` back."""
    if isinstance(node, AllOf):
        return {"all": [rule_json(c) for c in node.children]}
    if isinstance(node, AnyOf):
        return {"any": [rule_json(c) for c in node.children]}
    if isinstance(node, NotOf):
        return {"not": rule_json(node.child)}
    if node.key in BOOLEAN_CONDITIONS:
        return {node.key: node.body()["present"]}
    return {node.key: node.body()}


def describe(node: Node) -> str:
    """A one-line English reading of the rule, for lists and the editor."""
    if isinstance(node, AllOf | AnyOf):
        joiner = " AND " if isinstance(node, AllOf) else " OR "
        parts = [
            f"({describe(c)})" if isinstance(c, AllOf | AnyOf) else describe(c)
            for c in node.children
        ]
        return joiner.join(parts)
    if isinstance(node, NotOf):
        return f"NOT ({describe(node.child)})"
    return node.describe()


def conditions_of(node: Node) -> Iterator[Condition]:
    """Every condition of the rule, depth first."""
    if isinstance(node, AllOf | AnyOf):
        for child in node.children:
            yield from conditions_of(child)
    elif isinstance(node, NotOf):
        yield from conditions_of(node.child)
    else:
        yield node


# ---------------------------------------------------------------- evaluation planning

# Conditions answered from the member's own row (and its brand tags): cheap per member.
MEMBER_LOCAL: tuple[type[Condition], ...] = tuple(
    c for c in CONDITIONS.values() if c not in (Bought, Spend, OrderCount, Events)
)


def is_member_local(node: Node) -> bool:
    """Whether the rule is answered from the member row and its tags alone (lifetime spend and
    order counts are summary columns of the row; windows need the orders or events)."""
    if isinstance(node, AllOf | AnyOf):
        return all(is_member_local(c) for c in node.children)
    if isinstance(node, NotOf):
        return is_member_local(node.child)
    if isinstance(node, Spend | OrderCount):
        return node.within_days is None
    return isinstance(node, MEMBER_LOCAL)


def conjuncts(node: Node) -> tuple[Node, ...]:
    """The parts that must all hold: an ``all``'s children, or the rule itself."""
    return node.children if isinstance(node, AllOf) else (node,)


def is_windowed_count(condition: Condition) -> bool:
    """A count or sum over a window, which is evaluated either per member (a probe) or over
    the whole window at once (an aggregate)."""
    if isinstance(condition, Events):
        return condition.at_least > 1
    if isinstance(condition, Spend | OrderCount):
        return condition.within_days is not None
    return False
