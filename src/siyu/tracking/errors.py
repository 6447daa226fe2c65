"""Refusals of tracking, each with a stable code. A single bad event in a batch is never one of
these: it is reported in the batch's answer (siyu.tracking.rules.Rejection)."""

from __future__ import annotations

from siyu.core.errors import InvalidInput, NotAuthenticated, NotFound, SiyuError


class InvalidJson(SiyuError):
    status = 400
    code = "invalid_json"


class InvalidBatch(InvalidInput):
    code = "invalid_batch"


class BatchTooLarge(SiyuError):
    status = 413
    code = "batch_too_large"


class InvalidWriteKey(NotAuthenticated):
    code = "invalid_write_key"


class WriteKeyNotFound(NotFound):
    code = "write_key_not_found"
