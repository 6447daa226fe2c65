"""Refusals of the touchpoint domain, each with a stable code."""

from __future__ import annotations

from typing import ClassVar

from siyu.core.errors import Conflict, InvalidInput, NotFound, SiyuError, TooManyRequests


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


class TouchpointCodeNotFound(NotFound):
    code = "touchpoint_code_not_found"


class TooManyCodes(Conflict):
    """A touchpoint issues at most rules.MAX_CODES_PER_TOUCHPOINT codes."""

    code = "too_many_codes"


class PageNotApplicable(InvalidInput):
    """A page was given for a code that is not a mini-program code."""

    code = "page_not_applicable"


class InvalidCodePage(InvalidInput):
    """WeChat refused the page (41030: not a published page, a leading / or a query)."""

    code = "invalid_page"


class CodeImageUnavailable(Conflict):
    """Live mode draws official-account and WeCom codes on those platforms, not in siyu."""

    code = "code_image_unavailable"


class WeChatRateLimited(TooManyRequests):
    """WeChat draws at most 5,000 mini-program codes a minute per mini program (45009)."""

    code = "wechat_rate_limited"


class WeChatUnavailable(SiyuError):
    status: ClassVar[int] = 502
    code = "wechat_unavailable"


class StoreCodeRunNotFound(NotFound):
    code = "store_code_run_not_found"


class ArchiveNotReady(Conflict):
    """The run has not finished (or failed): there is no ZIP yet."""

    code = "archive_not_ready"


class ArchiveExpired(Conflict):
    """The run's ZIP was dropped after the retention period; run again for the same codes."""

    code = "archive_expired"


class TooManyStores(InvalidInput):
    """The synchronous endpoint prints at most runs.SYNC_STORE_LIMIT stores; start a run."""

    code = "too_many_stores"


class NoStores(InvalidInput):
    code = "no_stores"
