"""What a brand's events may name, cached per process: scene keys, stores (by id and by code),
products, SKUs and members.

The API checks each event against it before accepting a batch (siyu.tracking.ingestion), and
the loader resolves scene keys and store codes through it (siyu.tracking.loading). ``fill``
loads what a set of events names and the cache misses with a few queries (never one per
event); the lookups after it cost no query. Entries live ``REFERENCE_TTL`` seconds, so a
store, product or SKU deleted is refused at most that long after; a store missing from the
cached list reloads it at most once per ``STORE_RELOAD_SECONDS``, so a store opened a moment
ago is not refused for a minute.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from siyu.db.session import Database
from siyu.tracking import service
from siyu.tracking.rules import EventIn, Rejection

REFERENCE_TTL = 60.0
STORE_RELOAD_SECONDS = 1.0
CACHE_LIMIT = 200_000


@dataclass(slots=True)
class _Stores:
    deadline: float
    loaded_at: float
    by_code: dict[str, int]
    ids: frozenset[int]

    def stale_for(self, event: EventIn, now: float) -> bool:
        """Whether the list must be loaded again for ``event``: expired, or missing the
        store it names and older than STORE_RELOAD_SECONDS."""
        if self.deadline < now:
            return True
        missing = (
            event.store_id not in self.ids
            if event.store_id is not None
            else event.store_code not in self.by_code
        )
        return missing and now - self.loaded_at > STORE_RELOAD_SECONDS


def unknown(index: int, what: str, field_name: str) -> Rejection:
    return Rejection(index, f"unknown_{what}", f"the brand has no such {what}", field_name)


class ReferenceCache:
    """Thread-safe enough for its use: entries are replaced whole, and a lookup racing a
    ``fill`` at worst misses and is filled again."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._scenes: dict[tuple[int, str], tuple[float, int | None]] = {}
        self._stores: dict[int, _Stores] = {}
        self._known: dict[tuple[str, int, int], float] = {}
        self._lock = threading.Lock()

    def fill(self, events: Iterable[tuple[int, list[EventIn]]], *, scenes: bool) -> None:
        """Load what the (brand_id, events) pairs name and the cache lacks; scene keys only
        when ``scenes``. A few queries, or none when everything is cached."""
        now = time.monotonic()
        wanted_scenes: dict[int, set[str]] = {}
        store_brands: set[int] = set()
        ids: dict[tuple[str, int], set[int]] = {}
        known = self._known
        for brand_id, batch in events:
            stores = self._stores.get(brand_id)
            for event in batch:
                if scenes and event.scene_key is not None:
                    cached = self._scenes.get((brand_id, event.scene_key))
                    if cached is None or cached[0] < now:
                        wanted_scenes.setdefault(brand_id, set()).add(event.scene_key)
                if (event.store_id is not None or event.store_code is not None) and (
                    stores is None or stores.stale_for(event, now)
                ):
                    store_brands.add(brand_id)
                for table, value in (
                    ("product", event.product_id),
                    ("sku", event.sku_id),
                    ("member", event.member_id),
                ):
                    if value is not None and known.get((table, brand_id, value), 0.0) < now:
                        ids.setdefault((table, brand_id), set()).add(value)
        if not (wanted_scenes or store_brands or ids):
            return
        with self._lock, self.database.sessions() as session:
            for brand_id, keys in wanted_scenes.items():
                found = service.scene_touchpoints(session, brand_id, keys)
                for key in keys:
                    self._scenes[(brand_id, key)] = (now + REFERENCE_TTL, found.get(key))
            for brand_id in store_brands:
                by_code = service.store_codes(session, brand_id)
                self._stores[brand_id] = _Stores(
                    now + REFERENCE_TTL, now, by_code, frozenset(by_code.values())
                )
            for (table, brand_id), wanted in ids.items():
                for value in service.existing_ids(session, brand_id, table, wanted):
                    known[(table, brand_id, value)] = now + REFERENCE_TTL
            session.rollback()
            for cache in (self._scenes, self._known):
                if len(cache) >= CACHE_LIMIT:
                    cache.clear()

    def problem(self, brand_id: int, index: int, event: EventIn, now: float) -> Rejection | None:
        """Why ``event`` names something the brand does not have (after ``fill``), or None.
        ``now`` is ``time.monotonic()``, taken once per batch."""
        if event.store_code is not None:
            stores = self._stores.get(brand_id)
            if stores is None or event.store_code not in stores.by_code:
                return unknown(index, "store", "store_code")
        elif event.store_id is not None:
            stores = self._stores.get(brand_id)
            if stores is None or event.store_id not in stores.ids:
                return unknown(index, "store", "store_id")
        known = self._known
        if (
            event.product_id is not None
            and known.get(("product", brand_id, event.product_id), 0.0) < now
        ):
            return unknown(index, "product", "product_id")
        if event.sku_id is not None and known.get(("sku", brand_id, event.sku_id), 0.0) < now:
            return unknown(index, "sku", "sku_id")
        if (
            event.member_id is not None
            and known.get(("member", brand_id, event.member_id), 0.0) < now
        ):
            return unknown(index, "member", "member_id")
        return None

    def store_id(self, brand_id: int, event: EventIn) -> int | None:
        """The event's store id (its code resolved), once ``problem`` found none."""
        if event.store_code is None:
            return event.store_id
        stores = self._stores.get(brand_id)
        return stores.by_code.get(event.store_code) if stores is not None else None

    def touchpoint_id(self, brand_id: int, scene_key: str) -> int | None:
        """The touchpoint that issued ``scene_key``, None for an unknown source (after a
        ``fill`` with ``scenes``)."""
        scene = self._scenes.get((brand_id, scene_key))
        return scene[1] if scene is not None else None
