"""The pricing pipeline: how a cart's lines become the amounts a consumer pays. Pure: no I/O.

Every stage names the base it works from and returns adjustments; the pipeline applies them in
stage order, never lets a line (or the order) go below zero, and keeps each adjustment with
its explanation so that every fen on a receipt can be accounted for. Later features plug in as
stages in this order (the roadmap's discount pipeline): store price (the base), activity price,
member price, automatic promotions, coupons, points, shipping.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Protocol


class Base(StrEnum):
    """What a stage's amounts are computed from."""

    LINE_TOTAL = "line_total"  # the line after all earlier stages
    LIST_PRICE = "list_price"  # the brand list price × quantity, before any stage
    ORDER_TOTAL = "order_total"  # the goods total after all earlier stages


@dataclass(frozen=True)
class Adjustment:
    """A change to a line (``sku_id``) or to the order (``sku_id`` None). Positive ``amount_fen``
    lowers the price; negative raises it (a fee)."""

    stage: str
    source: str
    amount_fen: int
    explanation: str
    base: Base
    base_fen: int
    sku_id: int | None = None


@dataclass(frozen=True)
class LineInput:
    sku_id: int
    quantity: int
    unit_price_fen: int
    list_price_fen: int


@dataclass(frozen=True)
class PricedLine:
    sku_id: int
    quantity: int
    unit_price_fen: int
    list_price_fen: int
    subtotal_fen: int
    adjustments: tuple[Adjustment, ...] = ()

    @property
    def discount_fen(self) -> int:
        return sum(a.amount_fen for a in self.adjustments)

    @property
    def total_fen(self) -> int:
        return self.subtotal_fen - self.discount_fen


@dataclass(frozen=True)
class PricingContext:
    fulfilment_method: str
    consumer_id: int | None = None
    store_id: int | None = None


@dataclass(frozen=True)
class Priced:
    lines: tuple[PricedLine, ...]
    order_adjustments: tuple[Adjustment, ...] = ()

    @property
    def subtotal_fen(self) -> int:
        return sum(line.subtotal_fen for line in self.lines)

    @property
    def line_discount_fen(self) -> int:
        return sum(line.discount_fen for line in self.lines)

    @property
    def goods_total_fen(self) -> int:
        return sum(line.total_fen for line in self.lines)

    @property
    def order_discount_fen(self) -> int:
        return sum(a.amount_fen for a in self.order_adjustments if a.amount_fen > 0)

    @property
    def shipping_fen(self) -> int:
        return -sum(a.amount_fen for a in self.order_adjustments if a.amount_fen < 0)

    @property
    def discount_fen(self) -> int:
        return self.line_discount_fen + self.order_discount_fen

    @property
    def total_fen(self) -> int:
        return self.goods_total_fen - self.order_discount_fen + self.shipping_fen


class Stage(Protocol):
    @property
    def name(self) -> str: ...

    def adjustments(self, context: PricingContext, priced: Priced) -> list[Adjustment]:
        """Adjustments this stage makes to ``priced`` as it stands after the earlier stages."""
        ...


def start(lines: Sequence[LineInput]) -> Priced:
    """The base of every price: the store's unit price times the quantity."""
    for line in lines:
        if line.quantity <= 0:
            raise ValueError(f"quantity must be positive (sku {line.sku_id})")
        if line.unit_price_fen < 0 or line.list_price_fen < 0:
            raise ValueError(f"prices must not be negative (sku {line.sku_id})")
    return Priced(
        tuple(
            PricedLine(
                sku_id=line.sku_id,
                quantity=line.quantity,
                unit_price_fen=line.unit_price_fen,
                list_price_fen=line.list_price_fen,
                subtotal_fen=line.unit_price_fen * line.quantity,
            )
            for line in lines
        )
    )


def _apply(priced: Priced, adjustments: list[Adjustment]) -> Priced:
    """Apply one stage's adjustments, capping discounts so nothing goes below zero."""
    lines = {line.sku_id: line for line in priced.lines}
    order_adjustments = list(priced.order_adjustments)
    for adjustment in adjustments:
        if adjustment.sku_id is None:
            current = priced.goods_total_fen - sum(
                a.amount_fen for a in order_adjustments if a.amount_fen > 0
            )
            capped = min(adjustment.amount_fen, max(current, 0))
            order_adjustments.append(replace(adjustment, amount_fen=capped))
            continue
        line = lines[adjustment.sku_id]
        capped = min(adjustment.amount_fen, line.total_fen)
        lines[adjustment.sku_id] = replace(
            line, adjustments=(*line.adjustments, replace(adjustment, amount_fen=capped))
        )
    return Priced(tuple(lines[line.sku_id] for line in priced.lines), tuple(order_adjustments))


def run_pipeline(
    lines: Sequence[LineInput], stages: Sequence[Stage], context: PricingContext
) -> Priced:
    priced = start(lines)
    for stage in stages:
        priced = _apply(priced, stage.adjustments(context, priced))
    return priced


@dataclass(frozen=True)
class ShippingPolicy:
    """Fees per fulfilment method, free from a goods total (``None``: never free)."""

    fees_fen: dict[str, int] = field(
        default_factory=lambda: {"express": 1000, "local_delivery": 600, "pickup": 0}
    )
    free_from_fen: dict[str, int | None] = field(
        default_factory=lambda: {"express": 19900, "local_delivery": 9900, "pickup": None}
    )


@dataclass(frozen=True)
class ShippingStage:
    policy: ShippingPolicy = field(default_factory=ShippingPolicy)
    name: str = "shipping"

    def adjustments(self, context: PricingContext, priced: Priced) -> list[Adjustment]:
        method = context.fulfilment_method
        fee = self.policy.fees_fen.get(method, 0)
        free_from = self.policy.free_from_fen.get(method)
        base_fen = priced.goods_total_fen - priced.order_discount_fen
        if fee == 0:
            return []
        if free_from is not None and base_fen >= free_from:
            return []
        explanation = f"{method.replace('_', ' ')} fee"
        if free_from is not None:
            explanation += f" (free from ¥{free_from / 100:.2f})"
        return [
            Adjustment(
                stage=self.name,
                source=method,
                amount_fen=-fee,
                explanation=explanation,
                base=Base.ORDER_TOTAL,
                base_fen=base_fen,
            )
        ]


def share_out(
    amount_fen: int, weights: Sequence[int], priority: Sequence[int] | None = None
) -> list[int]:
    """Split ``amount_fen`` over ``weights`` in proportion, by largest remainder: floors first,
    then the leftover units one each to the largest remainders ``amount * weight mod sum``;
    equal remainders go first to the higher ``priority`` (distinct values; default: the
    earlier). The parts add up to ``amount_fen`` and none exceeds its weight when
    ``amount_fen`` <= the weights' sum. Used for discounts over lines and for attribution's
    credit over touchpoints (siyu.attribution.rules)."""
    total = sum(weights)
    if total <= 0 or amount_fen <= 0:
        return [0 for _ in weights]
    ranks = priority if priority is not None else [-index for index in range(len(weights))]
    parts = [amount_fen * weight // total for weight in weights]
    remainders = sorted(
        range(len(weights)), key=lambda i: (-(amount_fen * weights[i] % total), -ranks[i])
    )
    for index in remainders[: amount_fen - sum(parts)]:
        parts[index] += 1
    return parts


@dataclass(frozen=True)
class PointsStage:
    """积分抵扣: points pay for part of the goods, after every other discount and before
    shipping.

    Base: the goods total after the earlier stages (order discounts deducted). The points used
    are what was asked, capped by ``max_redeem_permille`` of the base and by ``balance`` (None:
    not capped here; placing an order checks the balance under a lock instead), rounded down to
    whole yuan (``redeem_points_per_yuan`` points = ¥1). The discount is shared out over the
    lines in proportion to their totals, so a refund of a line gives back its share."""

    points_requested: int
    redeem_points_per_yuan: int
    max_redeem_permille: int
    balance: int | None = None
    name: str = "points"

    def points_for(self, base_fen: int) -> int:
        """The points this stage uses on a base of ``base_fen``."""
        unit = self.redeem_points_per_yuan
        cap_points = base_fen * self.max_redeem_permille // 1000 // 100 * unit
        points = min(self.points_requested, cap_points)
        if self.balance is not None:
            points = min(points, self.balance)
        points = max(points, 0)
        return points - points % unit

    def adjustments(self, context: PricingContext, priced: Priced) -> list[Adjustment]:
        base_fen = priced.goods_total_fen - priced.order_discount_fen
        points = self.points_for(base_fen)
        if points == 0:
            return []
        discount_fen = points // self.redeem_points_per_yuan * 100
        explanation = (
            f"{points} points for ¥{discount_fen / 100:.2f}"
            f" ({self.redeem_points_per_yuan} points = ¥1,"
            f" at most {self.max_redeem_permille / 10:g}% of ¥{base_fen / 100:.2f})"
        )
        shares = share_out(discount_fen, [line.total_fen for line in priced.lines])
        return [
            Adjustment(
                stage=self.name,
                source="points",
                amount_fen=share,
                explanation=explanation,
                base=Base.ORDER_TOTAL,
                base_fen=base_fen,
                sku_id=line.sku_id,
            )
            for line, share in zip(priced.lines, shares, strict=True)
            if share > 0
        ]


def stage_discount_fen(priced: Priced, stage: str) -> int:
    """What one stage took off, over the lines and the order."""
    on_lines = sum(
        a.amount_fen for line in priced.lines for a in line.adjustments if a.stage == stage
    )
    return on_lines + sum(a.amount_fen for a in priced.order_adjustments if a.stage == stage)


def default_stages(points: PointsStage | None = None) -> list[Stage]:
    """The stages siyu runs today; discount stages are inserted before shipping, points
    last among them."""
    discounts: list[Stage] = [points] if points is not None else []
    return [*discounts, ShippingStage()]
