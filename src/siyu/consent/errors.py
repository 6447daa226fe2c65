"""Refusals of the consent domain, each with a stable code (a member outside the brand or
scope is ``siyu.members.errors.MemberNotFound``)."""

from __future__ import annotations

from siyu.core.errors import Conflict, InvalidInput, NotFound


class NotAMember(NotFound):
    """The consumer has no member profile yet, so there is no consent to read or change."""

    code = "not_a_member"


class TemplateRequired(InvalidInput):
    code = "template_required"


class TimezoneRequired(InvalidInput):
    code = "timezone_required"


class SendNotFound(NotFound):
    code = "send_not_found"


class SendNotAllowed(Conflict):
    """Only an allowed send can be released: a refused one never went out."""

    code = "send_not_allowed"
