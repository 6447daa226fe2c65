"""Factories of consumers: mini-program logins through the sandbox and the real service."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session

from siyu.brands.models import Brand
from siyu.consumers.models import Address, Consumer
from siyu.consumers.schemas import AddressCreate
from siyu.consumers.service import add_address, authenticate_consumer, log_in_consumer
from siyu.core.clock import utc_now
from siyu.orders.models import Order
from siyu.payments.models import Payment
from siyu.wechat.sandbox import SANDBOX_MINI_PROGRAM, issue_login_code
from siyu.wechat.service import mini_program_app_id


@dataclass
class Shopper:
    """A logged-in consumer of a brand and the bearer token of their mini-program session."""

    consumer: Consumer
    token: str
    user: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def login_code(session: Session, brand: Brand, user: str) -> str:
    """A fresh wx.login code for ``user`` on the brand's (sandbox) mini program."""
    return issue_login_code(mini_program_app_id(session, brand.id), user)


def make_consumer(session: Session, brand: Brand, user: str = "alice") -> Shopper:
    """Log ``user`` in to the brand's mini program (creating the consumer the first time)."""
    _, token, consumer, _ = log_in_consumer(
        session,
        brand_slug=brand.slug,
        code=login_code(session, brand, user),
        gateway=SANDBOX_MINI_PROGRAM,
    )
    return Shopper(consumer, token, user)


def make_address(
    session: Session,
    shopper: Shopper,
    *,
    recipient: str = "Li Lei",
    phone: str = "13900001111",
    is_default: bool = False,
) -> Address:
    context = authenticate_consumer(session, shopper.token)
    return add_address(
        session,
        context,
        AddressCreate(
            recipient=recipient,
            phone=phone,
            province="Shanghai",
            city="Shanghai",
            district="Xuhui",
            detail="1 Caoxi Road",
            is_default=is_default,
        ),
    )


def make_payment(
    session: Session, shopper: Shopper, store_id: int, *, amount_fen: int = 12_900, number: str
) -> Payment:
    """An unpaid order of ``shopper`` with its pending WeChat Pay payment (out_trade_no =
    ``number``), inserted directly: the checkout service is another domain's."""
    brand_id = shopper.consumer.brand_id
    order = Order(
        brand_id=brand_id,
        number=number,
        consumer_id=shopper.consumer.id,
        selling_store_id=store_id,
        fulfilment_method="express",
        subtotal_fen=amount_fen,
        total_fen=amount_fen,
        payment_due_at=utc_now() + timedelta(minutes=30),
        idempotency_key=number,
    )
    session.add(order)
    session.flush()
    payment = Payment(
        brand_id=brand_id, order_id=order.id, out_trade_no=number, amount_fen=amount_fen
    )
    session.add(payment)
    session.flush()
    return payment
