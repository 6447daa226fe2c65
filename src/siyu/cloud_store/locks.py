"""Row locks of the cloud stores, in one place and one order.

Changing a region's or a store's overrides first locks that region or store row (through
``siyu.org.locks``, so the organization's order holds: region, then store), then the override
row itself. Two people changing the same store's overrides are thus serialized, and the
check-then-insert of an upsert cannot race into the unique index. Locks are ``FOR UPDATE`` and
held until the caller's transaction ends.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.cloud_store.models import ListingOverride
from siyu.org.locks import lock_region, lock_store


def lock_override_owner(
    session: Session, brand_id: int, *, region_id: int | None, store_id: int | None
) -> None:
    """Lock the region or the store whose overrides are about to change."""
    if region_id is not None:
        lock_region(session, brand_id, region_id)
    if store_id is not None:
        lock_store(session, brand_id, store_id)


def lock_override(
    session: Session,
    brand_id: int,
    *,
    region_id: int | None,
    store_id: int | None,
    product_id: int,
    sku_id: int | None,
) -> ListingOverride | None:
    """The one override row of this owner, product and SKU (or product level), locked."""
    owner = (
        ListingOverride.store_id == store_id
        if store_id is not None
        else ListingOverride.region_id == region_id
    )
    sku = ListingOverride.sku_id.is_(None) if sku_id is None else ListingOverride.sku_id == sku_id
    return session.scalar(
        select(ListingOverride)
        .where(
            ListingOverride.brand_id == brand_id,
            owner,
            ListingOverride.product_id == product_id,
            sku,
        )
        .with_for_update()
    )
