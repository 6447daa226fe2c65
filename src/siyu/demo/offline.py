"""The demo brand's offline (POS) data: a member export and a sales export of a few stores, in
the POS's own column names, imported through the real POS imports with their column mappings.

The files are ``siyu/demo/data/pos_members.csv`` and ``pos_orders.csv`` with their mappings
(``*.mapping.json``), which also work with ``siyu import pos-members|pos-orders --mapping``.
The sales export is dated up to 2026-11-21; the seed moves every sale by whole days so the last
one falls yesterday (Asia/Shanghai), the way the mall's history is dated back, so the
private-domain share of the last 30 days shows both channels. Receipt numbers stay the same, so
seeding again imports nothing twice.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from siyu.access.rules import system_actor
from siyu.brands.models import Brand
from siyu.core.clock import SHANGHAI, utc_now
from siyu.offline.member_imports import import_pos_members
from siyu.offline.order_imports import import_pos_orders

DATA = Path(__file__).parent / "data"
MEMBERS_FILE = DATA / "pos_members.csv"
ORDERS_FILE = DATA / "pos_orders.csv"
# The last day of the sales export as written.
ORDERS_LAST_DAY = date(2026, 11, 21)
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True)
class OfflineResult:
    """What seeding the POS data did (all zeros when it had been seeded before)."""

    members_created: int
    members_updated: int
    orders_created: int
    order_lines: int


def mapping_of(csv_file: Path) -> dict[str, str]:
    """The column mapping stored beside a demo POS file (``<name>.mapping.json``)."""
    mapping: dict[str, str] = json.loads(
        csv_file.with_suffix(".mapping.json").read_text(encoding="utf-8")
    )
    return mapping


def dated_orders(text: str, *, last_day: date) -> str:
    """The sales export with every sale moved by whole days so the last falls on ``last_day``."""
    mapping = mapping_of(ORDERS_FILE)
    column = next(c for c, field in mapping.items() if field == "placed_at")
    rows = list(csv.reader(io.StringIO(text)))
    header, body = rows[0], rows[1:]
    at = header.index(column)
    shift = last_day - ORDERS_LAST_DAY
    for row in body:
        row[at] = (datetime.strptime(row[at], TIME_FORMAT) + shift).strftime(TIME_FORMAT)
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([header, *body])
    return out.getvalue()


def seed_offline(session: Session, brand: Brand) -> OfflineResult:
    """Import the demo POS members, then the demo POS sales, into ``brand`` (whose stores and
    catalog the demo seed made). Idempotent: a second run creates nothing. Does not commit."""
    actor = system_actor(brand.id, "demo seed")
    members = import_pos_members(
        session,
        actor,
        MEMBERS_FILE.read_bytes(),
        mapping=mapping_of(MEMBERS_FILE),
        file_name=MEMBERS_FILE.name,
    )
    yesterday = utc_now().astimezone(SHANGHAI).date() - timedelta(days=1)
    orders = import_pos_orders(
        session,
        actor,
        dated_orders(ORDERS_FILE.read_text(encoding="utf-8"), last_day=yesterday),
        mapping=mapping_of(ORDERS_FILE),
        file_name=ORDERS_FILE.name,
    )
    return OfflineResult(
        members_created=members.created,
        members_updated=members.updated,
        orders_created=orders.created,
        order_lines=orders.lines,
    )
