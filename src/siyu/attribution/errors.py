"""Refusals of attribution and its report, each with a stable code."""

from __future__ import annotations

from siyu.core.errors import InvalidInput


class InvalidAttributionSettings(InvalidInput):
    code = "invalid_attribution_settings"


class InvalidReportPeriod(InvalidInput):
    code = "invalid_report_period"


class TouchesStillLoading(Exception):
    """Tracking events accepted before the moment being attributed are not loaded yet: the
    outbox delivery fails and is retried with its backoff (seconds, then longer)."""
