"""Row locks of the organization domain, in one place and one order.

Order when several are needed: region, franchisee, store, stock location (ascending id within
a kind). Every lock is ``FOR UPDATE`` and held until the caller's transaction ends.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.org.models import Franchisee, Region, StockLocation, Store


def lock_region(session: Session, brand_id: int, region_id: int) -> Region | None:
    return session.scalar(
        select(Region).where(Region.brand_id == brand_id, Region.id == region_id).with_for_update()
    )


def lock_franchisee(session: Session, brand_id: int, franchisee_id: int) -> Franchisee | None:
    return session.scalar(
        select(Franchisee)
        .where(Franchisee.brand_id == brand_id, Franchisee.id == franchisee_id)
        .with_for_update()
    )


def lock_store(session: Session, brand_id: int, store_id: int) -> Store | None:
    return session.scalar(
        select(Store).where(Store.brand_id == brand_id, Store.id == store_id).with_for_update()
    )


def lock_stock_location(session: Session, brand_id: int, location_id: int) -> StockLocation | None:
    return session.scalar(
        select(StockLocation)
        .where(StockLocation.brand_id == brand_id, StockLocation.id == location_id)
        .with_for_update()
    )
