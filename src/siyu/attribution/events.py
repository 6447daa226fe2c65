"""Domain events of attribution."""

from __future__ import annotations

from siyu.outbox.events import DomainEvent


class AttributionModelChanged(DomainEvent):
    """The brand's model or lookback window changed; every paid order is being re-attributed
    (job ``siyu:recompute_attribution``). ``settings_id`` is the attribution_setting row."""

    aggregate_type = "attribution_setting"
    attribution_setting_id: int
    model: str
    lookback_days: int
    previous_model: str
    previous_lookback_days: int


class MemberAcquisitionAttributed(DomainEvent):
    """A member who joined without a known source got one from their last touch before
    joining (within the lookback window)."""

    aggregate_type = "member"
    member_id: int
    source_touchpoint_id: int
