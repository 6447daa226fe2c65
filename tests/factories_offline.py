"""Factories of offline data: POS files in a brand's own column names, members with identities,
and paid online orders (rows, as checkout would leave them) for the private-domain share."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from siyu.members.identity import IdentityKind, register_member
from siyu.members.models import Member
from siyu.orders.models import Order
from tests.factories_consumers import Shopper

_serial = itertools.count(1)

# A POS member export (the brand's headers) and the mapping that reads it.
MEMBER_HEADER = "会员卡号,手机号,姓名,性别,生日,门店编码,入会时间,积分"
MEMBER_MAPPING = {
    "会员卡号": "pos_member_number",
    "手机号": "phone",
    "姓名": "name",
    "性别": "gender",
    "生日": "birthday",
    "门店编码": "store_code",
    "入会时间": "joined_at",
}
# A POS sales export, one line per row.
ORDER_HEADER = "小票号,门店,销售时间,会员卡号,手机,商品编码,数量,金额,整单金额"
ORDER_MAPPING = {
    "小票号": "order_number",
    "门店": "store_code",
    "销售时间": "placed_at",
    "会员卡号": "pos_member_number",
    "手机": "phone",
    "商品编码": "sku_code",
    "数量": "quantity",
    "金额": "amount_yuan",
    "整单金额": "order_total",
}


def csv_text(header: str, *rows: str) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def make_member(
    session: Session,
    brand_id: int,
    *,
    pos_number: str | None = None,
    phone: str | None = None,
    store_id: int | None = None,
    joined_at: datetime | None = None,
    name: str | None = None,
) -> Member:
    """A member with the given identifiers, through the members domain."""
    identities = [(IdentityKind.POS_MEMBER_NUMBER.value, pos_number)] if pos_number else []
    return register_member(
        session,
        brand_id,
        identities=identities,
        source="test",
        joined_at=joined_at,
        join_channel="test" if joined_at else None,
        phone=phone,
        display_name=name,
        source_store_id=store_id,
    )


def make_paid_order(
    session: Session,
    shopper: Shopper,
    store_id: int,
    *,
    paid_at: datetime,
    paid_fen: int,
    refunded_fen: int = 0,
) -> Order:
    """A paid (maybe partly refunded) online order, inserted as a row."""
    number = f"ON{next(_serial):06d}"
    status = "paid" if not refunded_fen else "partially_refunded"
    if refunded_fen == paid_fen:
        status = "refunded"
    order = Order(
        brand_id=shopper.consumer.brand_id,
        number=number,
        consumer_id=shopper.consumer.id,
        selling_store_id=store_id,
        fulfilment_method="express",
        subtotal_fen=paid_fen,
        total_fen=paid_fen,
        paid_fen=paid_fen,
        refunded_fen=refunded_fen,
        payment_status=status,
        placed_at=paid_at - timedelta(minutes=5),
        paid_at=paid_at,
        payment_due_at=paid_at + timedelta(minutes=25),
        idempotency_key=number,
    )
    session.add(order)
    session.flush()
    return order
