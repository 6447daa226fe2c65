"""The demo brand's mall: catalog, stock, listing overrides, consumers and an order history.

Everything goes through the real services, as production would: the categories through
``seed_demo_categories``, the products through the CSV import (``examples/products.csv``, then
a few more rows in the same format), stock through ``receive_stock`` (so the movement ledger
is real), overrides through the cloud-store service, consumers through the sandbox
mini-program login, and every order through checkout, the sandbox WeChat Pay (notifications
delivered inline, signed and encrypted like the real ones), fulfilment and after-sales.

The sandbox cannot pay in the past, so the history is made now and then dated back: each
historical order's own timestamps (placed, paid, fulfilled, refunded, its event log and
after-sale) move back a whole number of days and its number is recomputed from the new date.
The settlement ledger is then posted (``backfill_ledger``, the same posting the outbox
subscriber does; later deliveries add nothing) and the period from 21 to 7 days ago is
settled, so a franchisee has statements to read and the last week is left for HQ to settle.

Deterministic apart from the dates and the codes WeChat and checkout draw at random (pickup
codes, prepay ids). Idempotent: ``seed_demo_mall`` does nothing when the brand has products.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.orm import Session

from siyu.access.rules import Actor
from siyu.aftersales.models import AfterSale
from siyu.aftersales.rules import AfterSaleKind
from siyu.aftersales.schemas import (
    AfterSaleApproval,
    AfterSaleCreate,
    AfterSaleLineIn,
    ReturnReceipt,
)
from siyu.aftersales.service import (
    approve_after_sale,
    receive_returned_goods,
    request_after_sale,
    settle_after_sale_refund,
)
from siyu.brands.models import Brand
from siyu.catalog.demo import seed_demo_categories
from siyu.catalog.imports import import_products
from siyu.catalog.models import Product, Sku
from siyu.cloud_store.models import ListingOverride, StockSource
from siyu.cloud_store.schemas import ListingOverrideSet
from siyu.cloud_store.service import set_region_override, set_store_override
from siyu.consumers.models import Address, Consumer
from siyu.consumers.schemas import AddressCreate
from siyu.consumers.service import add_address, authenticate_consumer, log_in_consumer
from siyu.core.clock import to_shanghai, utc_now
from siyu.inventory.schemas import StockReceiptCreate
from siyu.inventory.service import receive_stock
from siyu.loyalty.schemas import TierIn, TierSetIn
from siyu.loyalty.service import replace_tiers
from siyu.orders.checkout import Shopper, place_order
from siyu.orders.fulfilment import Shipment, mark_delivered, ship_order, write_off_pickup
from siyu.orders.models import FulfilmentMethod, Order, OrderEvent, OrderLine
from siyu.orders.payment import start_payment
from siyu.orders.rules import order_number
from siyu.orders.schemas import OrderLineIn, PlaceOrder
from siyu.orders.service import cancel_unpaid_order
from siyu.org.models import Region, StockLocation, Store
from siyu.org.rules import is_open_at
from siyu.payments.models import Payment, Refund
from siyu.payments.service import (
    get_pay_gateway,
    receive_payment_notification,
    receive_refund_notification,
)
from siyu.settlement.models import LedgerEntry, Statement
from siyu.settlement.posting import backfill_ledger
from siyu.settlement.rules import shanghai_date
from siyu.settlement.schemas import SettlementRuleIn
from siyu.settlement.service import run_settlement, set_settlement_rule
from siyu.wechat.adapters import PayGateway, RefundResult
from siyu.wechat.sandbox import SANDBOX_MINI_PROGRAM, issue_login_code
from siyu.wechat.sandbox_pay import (
    mark_refund_succeeded,
    payment_notification,
    refund_notification,
    sandbox_pay,
)
from siyu.wechat.service import mini_program_app_id

EXAMPLE_PRODUCTS = Path(__file__).resolve().parents[3] / "examples" / "products.csv"

# More of the brand's range, in the import's own format, so every category has a choice.
MORE_PRODUCTS = """\
category,product_code,product_name,sku_code,attributes,list_price,max_per_order
TOPS,JX-SHT-021,Linen shirt 亚麻衬衫,JX-SHT-021-WHT-M,colour=white;size=M,329.00,5
TOPS,JX-SHT-021,Linen shirt 亚麻衬衫,JX-SHT-021-WHT-L,colour=white;size=L,329.00,5
TOPS,JX-SHT-021,Linen shirt 亚麻衬衫,JX-SHT-021-BLU-M,colour=blue;size=M,329.00,5
TOPS,JX-SHT-021,Linen shirt 亚麻衬衫,JX-SHT-021-BLU-L,colour=blue;size=L,329.00,5
TOPS,JX-KNT-030,Merino sweater 美利奴羊毛衫,JX-KNT-030-GRY-M,colour=grey;size=M,599.00,3
TOPS,JX-KNT-030,Merino sweater 美利奴羊毛衫,JX-KNT-030-GRY-L,colour=grey;size=L,599.00,3
DRESSES,JX-DRS-022,Cotton shirt dress 棉质衬衫裙,JX-DRS-022-KHK-S,colour=khaki;size=S,459.00,3
DRESSES,JX-DRS-022,Cotton shirt dress 棉质衬衫裙,JX-DRS-022-KHK-M,colour=khaki;size=M,459.00,3
OUTERWEAR,JX-TRC-005,Trench coat 经典风衣,JX-TRC-005-BEI-M,colour=beige;size=M,1599.00,2
OUTERWEAR,JX-TRC-005,Trench coat 经典风衣,JX-TRC-005-BEI-L,colour=beige;size=L,1599.00,2
ACCESSORIES,JX-BAG-008,Canvas tote 帆布托特包,JX-BAG-008-NAT,colour=natural,129.00,5
"""

# Sold out everywhere, warehouses included: the storefront marks it.
SOLD_OUT_SKUS = frozenset({"JX-JKT-007-RED-L"})
# The walk-through store: what it has on its own shelves and what only a warehouse has
# (endless aisle, 无货成交); every other store's gaps are drawn at random.
SH01_HAS = frozenset(
    {"JX-TEE-001-WHT-S", "JX-TEE-001-WHT-M", "JX-SHT-021-WHT-M", "JX-SCF-003-GRY"}
    | {"JX-SOCK-010-MIX", "JX-BAG-008-NAT", "JX-JKT-007-RED-M"}
)
SH01_LACKS = frozenset(
    {"JX-DRS-014-NVY-S", "JX-DRS-014-NVY-M", "JX-TRC-005-BEI-M", "JX-TRC-005-BEI-L"}
)
STORE_STOCK_SHARE = 0.7

# (sandbox user, nickname, recipient, phone, province, city, district, detail)
DEMO_CONSUMERS: tuple[tuple[str, str, str, str, str, str, str, str], ...] = (
    (
        "demo-lilei",
        "Li Lei 李雷",
        "李雷",
        "13900001111",
        "上海市",
        "上海市",
        "黄浦区",
        "南京东路 100 号 1201 室",
    ),
    (
        "demo-hanmeimei",
        "Han Meimei 韩梅梅",
        "韩梅梅",
        "13900002222",
        "浙江省",
        "杭州市",
        "上城区",
        "湖滨路 8 号 3 幢 502",
    ),
    (
        "demo-wangfang",
        "Wang Fang 王芳",
        "王芳",
        "13900003333",
        "广东省",
        "广州市",
        "天河区",
        "天河路 208 号 18 楼",
    ),
)

# (what it shows, consumer index, store code, method, [(sku code, qty)], days ago, outcome)
# Outcomes: picked_up, ready (paid, waits at the store), delivered, shipped, paid (waits to
# ship), refunded_before_pickup, returned (delivered, one line returned and refunded),
# return_requested (delivered, a return waits for the store), cancelled (unpaid, withdrawn).
OrderSeed = tuple[int, str, str, tuple[tuple[str, int], ...], int, str]
HISTORY: tuple[OrderSeed, ...] = (
    (0, "SH01", "pickup", (("JX-TEE-001-WHT-M", 1), ("JX-SOCK-010-MIX", 2)), 19, "picked_up"),
    (1, "HZ02", "express", (("JX-SHT-021-BLU-M", 1),), 18, "delivered"),
    (
        2,
        "GZ01",
        "local_delivery",
        (("JX-DRS-022-KHK-M", 1), ("JX-BAG-008-NAT", 1)),
        17,
        "delivered",
    ),
    (2, "SZ12", "pickup", (("JX-TEE-001-WHT-S", 2),), 16, "picked_up"),
    (0, "SZ01", "express", (("JX-KNT-030-GRY-M", 1), ("JX-SCF-003-GRY", 1)), 15, "returned"),
    (1, "NB01", "pickup", (("JX-SOCK-010-MIX", 3),), 14, "picked_up"),
    (2, "FS01", "express", (("JX-TRC-005-BEI-M", 1),), 13, "delivered"),
    (0, "TJ01", "pickup", (("JX-DRS-014-NVY-S", 1),), 12, "refunded_before_pickup"),
    (
        1,
        "BJ01",
        "local_delivery",
        (("JX-SHT-021-WHT-L", 1), ("JX-TEE-001-BLK-M", 1)),
        11,
        "delivered",
    ),
    (2, "QD01", "express", (("JX-BAG-008-NAT", 2),), 10, "delivered"),
    (0, "DG01", "pickup", (("JX-JKT-007-RED-M", 1),), 9, "picked_up"),
    (1, "SJZ1", "express", (("JX-KNT-030-GRY-L", 1),), 8, "delivered"),
    (2, "HZ02", "pickup", (("JX-SCF-003-GRY", 1),), 6, "picked_up"),
    (0, "SZ01", "local_delivery", (("JX-TEE-001-WHT-M", 2),), 5, "delivered"),
    (1, "GZ02", "express", (("JX-DRS-014-NVY-M", 1),), 4, "cancelled"),
    (2, "TJ01", "express", (("JX-SHT-021-BLU-L", 1), ("JX-SOCK-010-MIX", 1)), 3, "shipped"),
    (0, "SH01", "express", (("JX-SHT-021-WHT-M", 1), ("JX-BAG-008-NAT", 1)), 2, "return_requested"),
    (1, "SH01", "pickup", (("JX-TEE-001-WHT-S", 1), ("JX-SCF-003-GRY", 1)), 1, "ready"),
    (2, "SZ12", "local_delivery", (("JX-TEE-001-WHT-M", 1),), 1, "paid"),
    (0, "BJ02", "pickup", (("JX-DRS-022-KHK-S", 1),), 0, "ready"),
)
SETTLED_FROM_DAYS_AGO = 21
SETTLED_UNTIL_DAYS_AGO = 7
DEFAULT_COMMISSION_BPS = 800  # 8 % of net sales
NANYUE_COMMISSION_BPS = 600  # a franchisee with its own terms
NANYUE_FIXED_FEE_FEN = 50_000  # ¥500 per statement


@dataclass
class MallResult:
    """What the demo mall holds (counts of the brand's rows)."""

    categories: int = 0
    products: int = 0
    skus: int = 0
    stock_levels: int = 0
    listing_overrides: int = 0
    consumers: int = 0
    orders: int = 0
    paid_orders: int = 0
    refunds: int = 0
    after_sales: int = 0
    ledger_entries: int = 0
    statements: int = 0
    demo_consumers: list[tuple[str, str]] = field(default_factory=list)


class InlineRefunds:
    """The brand's sandbox WeChat Pay, with refund notifications delivered by the seed itself
    (at once, in the same transaction) instead of queued for the background worker."""

    def __init__(self, gateway: PayGateway) -> None:
        self._gateway = gateway

    def __getattr__(self, name: str) -> Any:
        return getattr(self._gateway, name)

    def refund(self, **arguments: Any) -> RefundResult:
        return self._gateway.refund(**arguments, copies=0)  # type: ignore[call-arg]


def seed_demo_mall(session: Session, brand: Brand, actor: Actor) -> MallResult:
    """Seed the brand's mall unless it has products already; return its counts either way.
    Does not commit."""
    has_products = session.scalar(
        select(func.count()).select_from(Product).where(Product.brand_id == brand.id)
    )
    if not has_products:
        _seed(session, brand, actor)
    return mall_counts(session, brand.id)


def delete_brand_data(session: Session, brand_id: int) -> None:
    """Delete every row of the brand, children first, so that the brand itself can go (the
    mall's tables do not cascade from the brand: nothing should delete a brand's orders by
    accident). For ``siyu demo --reset``."""
    from siyu.db.models import Base

    for table in reversed(Base.metadata.sorted_tables):
        if "brand_id" in table.c and table.name != "brand":
            session.execute(table.delete().where(table.c.brand_id == brand_id))


def mall_counts(session: Session, brand_id: int) -> MallResult:
    def count(model: Any, *conditions: ColumnElement[bool]) -> int:
        return (
            session.scalar(
                select(func.count())
                .select_from(model)
                .where(model.brand_id == brand_id, *conditions)
            )
            or 0
        )

    from siyu.catalog.models import Category
    from siyu.inventory.models import StockLevel

    return MallResult(
        categories=count(Category),
        products=count(Product),
        skus=count(Sku),
        stock_levels=count(StockLevel),
        listing_overrides=count(ListingOverride),
        consumers=count(Consumer),
        orders=count(Order),
        paid_orders=count(Order, Order.paid_at.is_not(None)),
        refunds=count(Refund, Refund.status == "succeeded"),
        after_sales=count(AfterSale),
        ledger_entries=count(LedgerEntry),
        statements=count(Statement),
        demo_consumers=[(user, nickname) for user, nickname, *_ in DEMO_CONSUMERS],
    )


# ---------------------------------------------------------------- seeding


def _seed(session: Session, brand: Brand, actor: Actor) -> None:
    rng = random.Random(20261123)  # noqa: S311 - deterministic demo data
    seed_demo_categories(session, actor)
    import_products(session, actor, EXAMPLE_PRODUCTS.read_bytes())
    import_products(session, actor, MORE_PRODUCTS)
    skus = {
        sku.code: sku
        for sku in session.scalars(
            select(Sku).where(Sku.brand_id == brand.id, Sku.status == "active").order_by(Sku.code)
        )
    }
    stores = {
        store.code: store
        for store in session.scalars(
            select(Store).where(Store.brand_id == brand.id).order_by(Store.code)
        )
    }
    _receive_stock(session, actor, brand.id, stores, skus, rng)
    _set_overrides(session, actor, brand.id, stores, skus)
    _set_tiers(session, actor)
    shoppers = _log_in_consumers(session, brand)
    _make_history(session, actor, brand, stores, skus, shoppers)
    _settle(session, actor, brand.id)


def _set_tiers(session: Session, actor: Actor) -> None:
    """The member tier ladder (会员等级): growth value is +1 per yuan paid."""
    ladder = [("normal", "普卡", 0, 1000), ("silver", "银卡", 500, 1200)]
    ladder += [("gold", "金卡", 2000, 1500), ("diamond", "钻石卡", 10000, 2000)]
    replace_tiers(
        session,
        actor,
        TierSetIn(
            tiers=[
                TierIn(
                    code=code,
                    name=name,
                    min_growth_value=threshold,
                    points_multiplier_permille=multiplier,
                    sort=index + 1,
                )
                for index, (code, name, threshold, multiplier) in enumerate(ladder)
            ]
        ),
    )


def _receive_stock(
    session: Session,
    actor: Actor,
    brand_id: int,
    stores: dict[str, Store],
    skus: dict[str, Sku],
    rng: random.Random,
) -> None:
    locations = session.execute(
        select(StockLocation.id, StockLocation.store_id, StockLocation.kind)
        .where(StockLocation.brand_id == brand_id)
        .order_by(StockLocation.code)
    ).all()
    code_of_store = {store.id: code for code, store in stores.items()}
    for location_id, store_id, kind in locations:
        for code, sku in skus.items():
            if code in SOLD_OUT_SKUS:
                continue
            if kind == "warehouse":
                quantity = rng.randint(20, 60)
            else:
                store_code = code_of_store.get(store_id or 0, "")
                drawn = rng.random() < STORE_STOCK_SHARE
                if store_code == "SH01":
                    drawn = code in SH01_HAS or (code not in SH01_LACKS and drawn)
                if not drawn:
                    continue
                quantity = rng.randint(2, 8)
            receive_stock(
                session,
                actor,
                location_id,
                StockReceiptCreate(sku_id=sku.id, quantity=quantity, reference="DEMO-OPENING"),
            )


def _set_overrides(
    session: Session, actor: Actor, brand_id: int, stores: dict[str, Store], skus: dict[str, Sku]
) -> None:
    """千店千面: a regional price, a store that does not sell a product, a store's own price
    and a store that sells only from its own shelves."""
    south = session.scalar(
        select(Region).where(Region.brand_id == brand_id, Region.code == "SOUTH")
    )
    assert south is not None
    tee = skus["JX-TEE-001-WHT-M"]
    set_region_override(
        session, actor, south.id, ListingOverrideSet(product_id=tee.product_id, price_fen=17900)
    )
    scarf = skus["JX-SCF-003-GRY"]
    set_store_override(
        session,
        actor,
        stores["BJ02"].id,
        ListingOverrideSet(product_id=scarf.product_id, is_listed=False),
    )
    shirt = skus["JX-SHT-021-WHT-M"]
    set_store_override(
        session,
        actor,
        stores["SH01"].id,
        ListingOverrideSet(product_id=shirt.product_id, sku_id=shirt.id, price_fen=29900),
    )
    socks = skus["JX-SOCK-010-MIX"]
    set_store_override(
        session,
        actor,
        stores["HZ02"].id,
        ListingOverrideSet(product_id=socks.product_id, stock_source=StockSource.STORE),
    )


def _log_in_consumers(session: Session, brand: Brand) -> list[Shopper]:
    """The demo consumers log in through the sandbox mini program, as on a phone."""
    app_id = mini_program_app_id(session, brand.id)
    shoppers: list[Shopper] = []
    for user, nickname, recipient, phone, province, city, district, detail in DEMO_CONSUMERS:
        _, token, consumer, _ = log_in_consumer(
            session,
            brand_slug=brand.slug,
            code=issue_login_code(app_id, user),
            gateway=SANDBOX_MINI_PROGRAM,
        )
        # The mini program would fill the profile in from wx.getUserProfile.
        consumer.nickname = nickname
        add_address(
            session,
            authenticate_consumer(session, token),
            AddressCreate(
                recipient=recipient,
                phone=phone,
                province=province,
                city=city,
                district=district,
                detail=detail,
                is_default=True,
            ),
        )
        shoppers.append(Shopper(brand.id, consumer.id, f"consumer:{consumer.id}"))
    return shoppers


def pay_in_sandbox(session: Session, shopper: Shopper, order: Order) -> None:
    """Pay in the sandbox and deliver WeChat Pay's notification at once."""
    started = start_payment(session, shopper, order.id, get_pay_gateway(session, order.brand_id))
    assert started.payment.prepay_id is not None
    tx = sandbox_pay(session, started.payment.prepay_id, copies=0)
    headers, body = payment_notification(tx, utc_now())
    receipt = receive_payment_notification(session, headers, body)
    if receipt.error is not None:
        raise receipt.error


def _deliver_refunds(session: Session, order: Order) -> None:
    """The sandbox bank completes the order's pending refunds and WeChat notifies."""
    for refund in session.scalars(
        select(Refund).where(
            Refund.brand_id == order.brand_id,
            Refund.order_id == order.id,
            Refund.status == "pending",
        )
    ).all():
        payment = session.scalar(
            select(Payment).where(
                Payment.brand_id == order.brand_id, Payment.id == refund.payment_id
            )
        )
        assert payment is not None
        found = mark_refund_succeeded(session, payment.out_trade_no, refund.out_refund_no)
        assert found is not None
        headers, body = refund_notification(*found, utc_now())
        receipt = receive_refund_notification(session, headers, body)
        if receipt.error is not None:
            raise receipt.error
        settle_after_sale_refund(session, order.brand_id, refund.id)


def _make_history(
    session: Session,
    actor: Actor,
    brand: Brand,
    stores: dict[str, Store],
    skus: dict[str, Sku],
    shoppers: list[Shopper],
) -> None:
    addresses = {
        consumer_id: address_id
        for consumer_id, address_id in session.execute(
            select(Address.consumer_id, Address.id).where(Address.brand_id == brand.id)
        )
    }
    gateway = InlineRefunds(get_pay_gateway(session, brand.id))
    for index, (who, store_code, method, lines, days_ago, outcome) in enumerate(HISTORY):
        shopper = shoppers[who]
        fulfilment = FulfilmentMethod(method)
        placed = place_order(
            session,
            shopper,
            stores[store_code].id,
            PlaceOrder(
                lines=[OrderLineIn(sku_id=skus[code].id, quantity=q) for code, q in lines],
                fulfilment_method=fulfilment,
                address_id=None
                if fulfilment is FulfilmentMethod.PICKUP
                else addresses[shopper.consumer_id],
            ),
            idempotency_key=f"demo-history-{index:03d}",
        )
        order = placed.order
        if outcome == "cancelled":
            cancel_unpaid_order(session, shopper, order.id)
        else:
            pay_in_sandbox(session, shopper, order)
            _fulfil(session, actor, shopper, order, outcome, gateway)
        if days_ago:
            _date_back(session, order, timedelta(days=days_ago))


def _fulfil(
    session: Session,
    actor: Actor,
    shopper: Shopper,
    order: Order,
    outcome: str,
    gateway: InlineRefunds,
) -> None:
    pay_gateway: PayGateway = gateway
    if outcome == "picked_up":
        assert order.pickup_code is not None
        write_off_pickup(session, actor, order.selling_store_id, order.pickup_code)
    elif outcome in {"delivered", "shipped", "returned", "return_requested"}:
        shipment = (
            Shipment(carrier="SF Express 顺丰", tracking_number=f"SF{order.id:012d}")
            if order.fulfilment_method == "express"
            else Shipment(courier_name="Zhou Qiang 周强", courier_phone="13700005555")
        )
        ship_order(session, actor, order.id, shipment)
        if outcome != "shipped":
            mark_delivered(session, actor, order.id)
    if outcome == "refunded_before_pickup":
        lines = session.scalars(
            select(OrderLine).where(
                OrderLine.brand_id == order.brand_id, OrderLine.order_id == order.id
            )
        ).all()
        after_sale = request_after_sale(
            session,
            shopper,
            order.id,
            AfterSaleCreate(
                kind=AfterSaleKind.REFUND_ONLY,
                reason="Changed my mind 不想要了",
                lines=[
                    AfterSaleLineIn(order_line_id=line.id, quantity=line.quantity) for line in lines
                ],
                requested_refund_fen=order.paid_fen,
            ),
        )
        approve_after_sale(session, actor, after_sale.id, AfterSaleApproval(), pay_gateway)
        _deliver_refunds(session, order)
    elif outcome in {"returned", "return_requested"}:
        last = session.scalars(
            select(OrderLine)
            .where(OrderLine.brand_id == order.brand_id, OrderLine.order_id == order.id)
            .order_by(OrderLine.id.desc())
        ).first()
        assert last is not None
        after_sale = request_after_sale(
            session,
            shopper,
            order.id,
            AfterSaleCreate(
                kind=AfterSaleKind.RETURN_AND_REFUND,
                reason="Wrong size 尺码不合适",
                lines=[AfterSaleLineIn(order_line_id=last.id, quantity=last.quantity)],
                requested_refund_fen=last.total_fen,
            ),
        )
        if outcome == "returned":
            approve_after_sale(session, actor, after_sale.id, AfterSaleApproval(), pay_gateway)
            receive_returned_goods(session, actor, after_sale.id, ReturnReceipt(), pay_gateway)
            _deliver_refunds(session, order)


def _date_back(session: Session, order: Order, shift: timedelta) -> None:
    """Move an order made now ``shift`` into the past: its own timestamps, its event log, its
    payments, refunds and after-sales, and its number (which carries the date)."""
    session.flush()
    brand_id, order_id = order.brand_id, order.id

    def earlier(value: datetime | None) -> datetime | None:
        return value - shift if value is not None else None

    order.placed_at = order.placed_at - shift
    order.payment_due_at = order.payment_due_at - shift
    order.paid_at = earlier(order.paid_at)
    order.cancelled_at = earlier(order.cancelled_at)
    order.fulfilled_at = earlier(order.fulfilled_at)
    order.number = order_number(order.id, order.placed_at)
    store = session.get(Store, (brand_id, order.selling_store_id))
    if store is not None:
        order.placed_after_hours = not is_open_at(store.opening_hours, to_shanghai(order.placed_at))
    session.flush()
    by_order = {"brand_id": brand_id, "order_id": order_id}

    def move(model: Any, *columns: str) -> None:
        session.execute(
            update(model)
            .filter_by(**by_order)
            .values({name: getattr(model, name) - shift for name in columns}),
            execution_options={"synchronize_session": False},
        )

    session.execute(
        update(Order)
        .where(Order.brand_id == brand_id, Order.id == order_id)
        .values(created_at=Order.created_at - shift, updated_at=Order.updated_at - shift),
        execution_options={"synchronize_session": False},
    )
    move(OrderEvent, "occurred_at")
    move(Payment, "created_at", "succeeded_at")
    move(Refund, "requested_at", "succeeded_at")
    move(AfterSale, "created_at", "updated_at", "decided_at")


def _settle(session: Session, actor: Actor, brand_id: int) -> None:
    """Post the ledger and settle the period from 21 to 7 days ago (Asia/Shanghai dates)."""
    set_settlement_rule(
        session, actor, None, SettlementRuleIn(commission_bps=DEFAULT_COMMISSION_BPS)
    )
    from siyu.org.models import Franchisee

    nanyue = session.scalar(
        select(Franchisee).where(Franchisee.brand_id == brand_id, Franchisee.code == "F-NANYUE")
    )
    assert nanyue is not None
    set_settlement_rule(
        session,
        actor,
        nanyue.id,
        SettlementRuleIn(commission_bps=NANYUE_COMMISSION_BPS, fixed_fee_fen=NANYUE_FIXED_FEE_FEN),
    )
    session.flush()
    backfill_ledger(session, brand_id)
    today = shanghai_date(utc_now())
    run_settlement(
        session,
        actor,
        period_start=today - timedelta(days=SETTLED_FROM_DAYS_AGO),
        period_end=today - timedelta(days=SETTLED_UNTIL_DAYS_AGO),
    )
