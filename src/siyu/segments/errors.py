"""Refusals of tags and segments, each with a stable code."""

from __future__ import annotations

from siyu.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied


class TagNotFound(NotFound):
    code = "tag_not_found"


class SegmentNotFound(NotFound):
    """Also for segments outside the actor's brand or scope."""

    code = "segment_not_found"


class DuplicateTagCode(Conflict):
    code = "duplicate_tag_code"


class DuplicateSegmentName(Conflict):
    code = "duplicate_segment_name"


class SegmentRuleInvalid(InvalidInput):
    """The rule is malformed or names objects that do not exist (or are out of scope).

    ``field`` is the JSON path of the first problem (``rule.all[1].tier.in``); ``extra`` holds
    every problem as ``errors: [{"path", "message"}]``."""

    code = "segment_rule_invalid"


class RuleTagNotTaggable(InvalidInput):
    """A rule tag's members come from its rule; staff cannot put it on or take it off."""

    code = "rule_tag_not_taggable"


class RuleRequired(InvalidInput):
    """A rule tag needs a rule, and a manual tag cannot have one."""

    code = "tag_rule_mismatch"


class TagInUse(Conflict):
    """Segments or rule tags still name the tag in their rules."""

    code = "tag_in_use"


class GuideTagsOnly(PermissionDenied):
    """Guides keep their own tags on their customers; brand tags are put on by managers."""

    code = "guide_tags_only"


class GuideRequired(InvalidInput):
    code = "guide_required"
