"""Refusals of the touchpoint domain, each with a stable code."""

from __future__ import annotations

from siyu.core.errors import Conflict, InvalidInput, NotFound


class TouchpointNotFound(NotFound):
    code = "touchpoint_not_found"


class DuplicateTouchpointCode(Conflict):
    code = "duplicate_code"


class UnknownKind(InvalidInput):
    code = "unknown_touchpoint_kind"


class PlacementRequired(InvalidInput):
    code = "placement_required"


class GuideRequired(InvalidInput):
    code = "guide_required"
