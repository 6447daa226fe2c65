"""The pricing pipeline: explicit bases, never below zero, every adjustment explained."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from siyu.pricing.rules import (
    Adjustment,
    Base,
    LineInput,
    Priced,
    PricingContext,
    ShippingStage,
    run_pipeline,
)

SHIRT = LineInput(sku_id=1, quantity=2, unit_price_fen=9900, list_price_fen=12900)
SOCKS = LineInput(sku_id=2, quantity=1, unit_price_fen=1500, list_price_fen=1500)


@dataclass
class FixedDiscount:
    """A fake discount stage: a fixed amount off one line, or off the order."""

    amount_fen: int
    sku_id: int | None
    name: str = "coupon"

    def adjustments(self, context: PricingContext, priced: Priced) -> list[Adjustment]:
        base = (
            priced.goods_total_fen
            if self.sku_id is None
            else next(line.total_fen for line in priced.lines if line.sku_id == self.sku_id)
        )
        return [
            Adjustment(
                stage=self.name,
                source="TEST",
                amount_fen=self.amount_fen,
                explanation=f"¥{self.amount_fen / 100:.2f} off",
                base=Base.LINE_TOTAL if self.sku_id else Base.ORDER_TOTAL,
                base_fen=base,
                sku_id=self.sku_id,
            )
        ]


def test_the_base_is_the_store_price_times_quantity() -> None:
    priced = run_pipeline([SHIRT, SOCKS], [], PricingContext("pickup"))
    assert [(line.subtotal_fen, line.total_fen) for line in priced.lines] == [
        (19800, 19800),
        (1500, 1500),
    ]
    assert (priced.subtotal_fen, priced.discount_fen, priced.shipping_fen, priced.total_fen) == (
        21300,
        0,
        0,
        21300,
    )


@pytest.mark.parametrize(
    ("method", "lines", "shipping"),
    [
        ("express", [SOCKS], 1000),
        ("express", [SHIRT, SOCKS], 0),
        ("local_delivery", [SOCKS], 600),
        ("local_delivery", [SHIRT], 0),
        ("pickup", [SOCKS], 0),
    ],
)
def test_shipping_depends_on_method_and_goods_total(
    method: str, lines: list[LineInput], shipping: int
) -> None:
    priced = run_pipeline(lines, [ShippingStage()], PricingContext(method))
    assert priced.shipping_fen == shipping
    assert priced.total_fen == priced.goods_total_fen + shipping


def test_the_shipping_fee_is_explained_with_its_base() -> None:
    priced = run_pipeline([SOCKS], [ShippingStage()], PricingContext("express"))
    (fee,) = priced.order_adjustments
    assert fee.explanation == "express fee (free from ¥199.00)"
    assert (fee.base, fee.base_fen, fee.amount_fen) == (Base.ORDER_TOTAL, 1500, -1000)


def test_a_line_discount_never_takes_a_line_below_zero() -> None:
    priced = run_pipeline([SOCKS], [FixedDiscount(5000, sku_id=2)], PricingContext("pickup"))
    (line,) = priced.lines
    assert line.total_fen == 0
    assert line.adjustments[0].amount_fen == 1500
    assert priced.total_fen == 0


def test_stages_work_on_what_earlier_stages_left() -> None:
    # a 30 yuan line discount, then a 200 yuan order discount on the 183 yuan that remain
    stages = [FixedDiscount(3000, sku_id=1), FixedDiscount(20000, sku_id=None, name="promotion")]
    priced = run_pipeline([SHIRT, SOCKS], stages, PricingContext("pickup"))
    assert priced.line_discount_fen == 3000
    assert priced.order_adjustments[0].amount_fen == 18300
    assert priced.total_fen == 0


def test_free_shipping_is_judged_after_discounts() -> None:
    stages = [FixedDiscount(5000, sku_id=1), ShippingStage()]
    priced = run_pipeline([SHIRT, SOCKS], stages, PricingContext("express"))
    assert priced.goods_total_fen == 16300
    assert priced.shipping_fen == 1000
    assert priced.total_fen == 17300


@pytest.mark.parametrize(
    "line",
    [
        LineInput(sku_id=1, quantity=0, unit_price_fen=100, list_price_fen=100),
        LineInput(sku_id=1, quantity=1, unit_price_fen=-1, list_price_fen=100),
    ],
)
def test_nonsense_lines_are_refused(line: LineInput) -> None:
    with pytest.raises(ValueError):
        run_pipeline([line], [], PricingContext("pickup"))
