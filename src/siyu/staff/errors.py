"""Refusals of the staff domain."""

from __future__ import annotations

from siyu.core.errors import Conflict, InvalidInput, NotFound


class StaffNotFound(NotFound):
    code = "staff_not_found"


class DuplicateStaffCode(Conflict):
    code = "duplicate_code"


class DuplicateLogin(Conflict):
    code = "duplicate_login"


class InvalidStaffPlace(InvalidInput):
    """The role's scope anchor (region, store or franchisee) is missing or inconsistent."""

    code = "invalid_staff_place"


class WeakPassword(InvalidInput):
    code = "weak_password"
