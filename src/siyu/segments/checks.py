"""Checking a rule against the brand: syntax (siyu.segments.rules) and the objects it names.

A rule may only name tags of the brand and stores, regions, touchpoints, products and
categories the actor can see, so a rule can neither point into another brand nor reveal that
an object outside the actor's scope exists. Each problem is reported at its JSON path.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.access.rules import Actor
from siyu.catalog.models import Category, Product
from siyu.org.models import Region, Store
from siyu.org.service import region_scope, store_scope
from siyu.segments import conditions, rules
from siyu.segments.errors import SegmentRuleInvalid
from siyu.segments.models import Tag
from siyu.segments.rules import ReferenceKind, RuleInvalid, RuleProblem
from siyu.touchpoints.models import Touchpoint, TouchpointKind
from siyu.touchpoints.rules import BUILT_IN_BY_CODE
from siyu.touchpoints.service import touchpoint_scope

NAMES = {
    ReferenceKind.TAG: "tag",
    ReferenceKind.STORE: "store",
    ReferenceKind.REGION: "region",
    ReferenceKind.TOUCHPOINT: "touchpoint",
    ReferenceKind.TOUCHPOINT_KIND: "touchpoint kind",
    ReferenceKind.PRODUCT: "product",
    ReferenceKind.CATEGORY: "category",
}


def rule_invalid(problems: list[RuleProblem]) -> SegmentRuleInvalid:
    first = problems[0]
    return SegmentRuleInvalid(
        f"The rule is not valid at {first.path}: {first.message}.",
        field=first.path,
        extra={"errors": [{"path": p.path, "message": p.message} for p in problems]},
    )


def _existing(session: Session, actor: Actor, kind: ReferenceKind, values: set[Any]) -> set[Any]:
    """Which of ``values`` name objects of ``kind`` the actor can see."""
    brand = actor.brand_id
    finders: dict[ReferenceKind, Callable[[], Collection[Any]]] = {
        ReferenceKind.TAG: lambda: session.scalars(
            select(Tag.code).where(Tag.brand_id == brand, Tag.code.in_(values))
        ).all(),
        ReferenceKind.STORE: lambda: session.scalars(
            select(Store.id).where(store_scope(actor), Store.id.in_(values))
        ).all(),
        ReferenceKind.REGION: lambda: session.scalars(
            select(Region.id).where(region_scope(actor), Region.id.in_(values))
        ).all(),
        ReferenceKind.TOUCHPOINT: lambda: session.scalars(
            select(Touchpoint.id).where(touchpoint_scope(actor), Touchpoint.id.in_(values))
        ).all(),
        ReferenceKind.TOUCHPOINT_KIND: lambda: (
            {v for v in values if v in BUILT_IN_BY_CODE}
            | set(
                session.scalars(
                    select(TouchpointKind.code).where(
                        TouchpointKind.brand_id == brand, TouchpointKind.code.in_(values)
                    )
                ).all()
            )
        ),
        ReferenceKind.PRODUCT: lambda: session.scalars(
            select(Product.id).where(Product.brand_id == brand, Product.id.in_(values))
        ).all(),
        ReferenceKind.CATEGORY: lambda: session.scalars(
            select(Category.id).where(Category.brand_id == brand, Category.id.in_(values))
        ).all(),
    }
    return set(finders[kind]())


def checked_rule(
    session: Session, actor: Actor, raw: object, *, own_tag_code: str | None = None
) -> rules.ParsedRule:
    """The parsed, normalised rule; raises SegmentRuleInvalid (422, the first problem's path
    in ``field``, all of them in ``errors``) when it is malformed or names an object that does
    not exist or is out of the actor's scope. ``own_tag_code``: a rule tag may not use itself."""
    try:
        parsed = rules.parse_rule(raw)
    except RuleInvalid as error:
        raise rule_invalid(error.problems) from error
    problems: list[RuleProblem] = []
    for kind in ReferenceKind:
        wanted = [r for r in parsed.references if r.kind is kind]
        if not wanted:
            continue
        found = _existing(session, actor, kind, {r.value for r in wanted})
        problems.extend(
            RuleProblem(r.path, f"there is no {NAMES[kind]} {r.value!r}")
            for r in wanted
            if r.value not in found
        )
    if own_tag_code is not None:
        problems.extend(
            RuleProblem(r.path, "a rule tag cannot depend on itself")
            for r in parsed.references
            if r.kind is ReferenceKind.TAG and r.value == own_tag_code
        )
    if problems:
        raise rule_invalid(problems)
    return parsed


def tag_codes_in(rule: dict[str, Any] | None) -> set[str]:
    """The tag codes a stored rule names."""
    if rule is None:
        return set()
    node = rules.parse_rule(rule).node
    return {c.code for c in rules.conditions_of(node) if isinstance(c, conditions.HasTag)}
