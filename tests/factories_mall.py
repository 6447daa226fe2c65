"""A small mall to shop in: one brand (tests.factories.build_world), a catalog, stock in a store
and a warehouse, and a logged-in consumer with an address."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from siyu.catalog.models import Sku
from siyu.consumers.models import Address
from siyu.db.session import Database
from siyu.jobs.app import make_job_app
from siyu.org.models import StockLocation
from siyu.wechat.sandbox_pay import NOTIFY_QUEUE
from tests.factories import World, build_world
from tests.factories_catalog import make_category, make_product, set_stock, store_location
from tests.factories_consumers import Shopper, make_address, make_consumer


@dataclass
class Mall:
    world: World
    tee_s: Sku  # 99.00 yuan; 5 in the store
    tee_m: Sku  # 99.00 yuan; none in the store, 10 in the warehouse (endless aisle)
    jacket: Sku  # 399.00 yuan; no stock anywhere
    store_location: StockLocation
    shopper: Shopper
    address: Address

    @property
    def store_id(self) -> int:
        return self.world.direct_store.id


def build_mall(session: Session) -> Mall:
    world = build_world(session)
    category = make_category(session, world.system, "TOPS")
    _, tees = make_product(session, world.system, category, "TEE", price_fen=9900)
    tee_s, tee_m = (next(sku for sku in tees if sku.code == f"TEE-{size}") for size in "SM")
    _, (jacket,) = make_product(
        session, world.system, category, "JKT", sizes=("L",), price_fen=39900
    )
    location = store_location(session, world.direct_store)
    set_stock(session, location, tee_s, 5)
    set_stock(session, world.warehouse, tee_m, 10)
    shopper = make_consumer(session, world.brand, "alice")
    address = make_address(session, shopper, is_default=True)
    session.commit()
    return Mall(world, tee_s, tee_m, jacket, location, shopper, address)


def run_payment_notifications(db: Database) -> None:
    """Deliver every sandbox WeChat Pay notification that is due, then return."""
    app = make_job_app(db.url)
    with app.open():
        app.run_worker(queues=[NOTIFY_QUEUE], wait=False, install_signal_handlers=False)
