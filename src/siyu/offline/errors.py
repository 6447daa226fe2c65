"""Refusals of offline data, each with a stable code."""

from __future__ import annotations

from siyu.core.errors import InvalidInput


class InvalidMapping(InvalidInput):
    """The column mapping is wrong whatever the file holds (an unknown field, a field given
    twice, both amount_yuan and amount_fen); ``extra["reasons"]`` lists every problem."""

    code = "invalid_mapping"


class InvalidReportPeriod(InvalidInput):
    code = "invalid_report_period"
