"""The set-based SQL recompute equals the rules: the same credits, to the permille and the fen,
for 300 random orders under every model (property test on a randomized fixture)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.attribution.models import AttributionSetting, OrderTouchpointCredit
from siyu.attribution.recompute import recompute_batch
from siyu.attribution.rules import AttributionModel, ModelSettings
from siyu.attribution.service import credit_order
from siyu.orders.models import Order
from tests.factories import World, build_world
from tests.factories_attribution import Buyer, add_event, make_buyer, make_paid_order
from tests.factories_touchpoints import make_touchpoint

START = datetime(2026, 1, 1, tzinfo=UTC)
ORDERS = 300

Credits = dict[int, list[tuple[int | None, int, int]]]


def random_fixture(session: Session, world: World, generator: random.Random) -> list[int]:
    """Touchpoints, members with scans, visits and other events on an hourly grid (so equal
    times happen), and 300 paid orders: some refunded, some with an unknown touchpoint id,
    some of consumers without a member. Returns the order ids."""
    brand_id = world.brand.id
    touchpoints = [
        make_touchpoint(session, world.system, store_id=world.direct_store.id).touchpoint.id
        for _ in range(6)
    ]
    buyers: list[Buyer] = [make_buyer(session, brand_id) for _ in range(25)]
    buyers += [make_buyer(session, brand_id, with_member=False) for _ in range(3)]

    def moment() -> datetime:
        return START + timedelta(hours=generator.randint(0, 24 * 80))

    for buyer in buyers:
        if buyer.member is None:
            continue
        for _ in range(generator.randint(0, 30)):
            add_event(
                session,
                brand_id,
                kind=generator.choice(["scan", "visit", "visit", "view_item"]),
                at=moment(),
                member_id=buyer.member.id,
                touchpoint_id=generator.choice([*touchpoints, None]),
            )
    order_ids = []
    for _ in range(ORDERS):
        amount = generator.choice([0, 1, 99, 12_345, generator.randint(1, 10**7), 4 * 10**15 + 7])
        order = make_paid_order(
            session,
            generator.choice(buyers),
            world.direct_store.id,
            amount_fen=amount,
            placed_at=moment() + timedelta(seconds=generator.randint(0, 3599)),
            touchpoint_id=generator.choice([*touchpoints, None, None, 999_999_999]),
            refunded_fen=generator.choice([0, 0, 0, amount, amount // 3]),
        )
        order_ids.append(order.id)
    session.flush()
    return order_ids


def stored(session: Session, brand_id: int) -> Credits:
    session.expire_all()
    credits: Credits = {}
    for row in session.scalars(
        select(OrderTouchpointCredit)
        .where(OrderTouchpointCredit.brand_id == brand_id)
        .order_by(OrderTouchpointCredit.order_id, OrderTouchpointCredit.touchpoint_id)
    ):
        credits.setdefault(row.order_id, []).append(
            (row.touchpoint_id, row.credit_permille, row.credited_fen)
        )
    return credits


def settings_for(model: AttributionModel, generator: random.Random) -> ModelSettings:
    first = generator.randint(0, 60)
    last = generator.randint(0, 100 - first)
    return ModelSettings(
        model=model,
        lookback_days=generator.choice([14, 30, 45]),
        position_first_percent=first,
        position_middle_percent=100 - first - last,
        position_last_percent=last,
        half_life_days=generator.choice([1, 3, 7]),
    )


@pytest.mark.parametrize("model", list(AttributionModel))
def test_the_sql_recompute_gives_the_rules_credits(
    session: Session, model: AttributionModel
) -> None:
    # given a random brand (seeded per model, so a failure can be replayed)
    generator = random.Random(f"attribution-{model.value}")
    world = build_world(session)
    brand_id = world.brand.id
    order_ids = random_fixture(session, world, generator)
    settings = settings_for(model, generator)
    session.add(
        AttributionSetting(
            brand_id=brand_id,
            model=settings.model.value,
            lookback_days=settings.lookback_days,
            position_first_percent=settings.position_first_percent,
            position_middle_percent=settings.position_middle_percent,
            position_last_percent=settings.position_last_percent,
            half_life_days=settings.half_life_days,
        )
    )
    session.flush()
    # when every order is credited by the rules, one by one
    for order_id in order_ids:
        credit_order(session, brand_id, order_id)
    by_rules = stored(session, brand_id)
    # and then recomputed set-based in SQL, in uneven batches
    after = 0
    while True:
        batch = recompute_batch(
            session, brand_id, after_order_id=after, batch_size=generator.randint(40, 130)
        )
        if batch.last_order_id is None:
            break
        after = batch.last_order_id
    by_sql = stored(session, brand_id)
    # then both give every order exactly the same credits
    assert len(by_rules) == ORDERS
    assert by_sql == by_rules
    # and the fixture exercised what matters: several touches, ties, nothing at all
    if model not in {AttributionModel.FIRST_TOUCH, AttributionModel.LAST_TOUCH}:
        assert sum(1 for credits in by_rules.values() if len(credits) >= 3) >= 10
    assert any(credits == [(None, 1000, credits[0][2])] for credits in by_rules.values())
    for order_id, credits in by_sql.items():
        order = session.get(Order, (brand_id, order_id))
        assert order is not None
        assert sum(permille for _, permille, _ in credits) == 1000
        assert sum(fen for _, _, fen in credits) == order.paid_fen - order.refunded_fen
