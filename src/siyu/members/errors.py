"""Refusals of the members domain, each with a stable code."""

from __future__ import annotations

from siyu.core.errors import Conflict, InvalidInput, NotFound


class MemberNotFound(NotFound):
    """Also for members outside the actor's scope or brand."""

    code = "member_not_found"


class MemberMergePhoneConflict(Conflict):
    """The two members have different phone numbers: they are probably two people."""

    code = "member_merge_phone_conflict"


class MemberAlreadyMerged(Conflict):
    code = "member_already_merged"


class MergeWithItself(InvalidInput):
    code = "member_merge_same"


class InvalidPhoneCode(InvalidInput):
    """WeChat does not know the getPhoneNumber code, it has expired or was already used."""

    code = "invalid_phone_code"


class UnsupportedPhone(InvalidInput):
    """Only mainland mobile numbers identify members."""

    code = "unsupported_phone"


class InvalidLifecyclePolicy(InvalidInput):
    code = "invalid_lifecycle_policy"
