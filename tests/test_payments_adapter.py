"""WeChat Pay notifications: the notify endpoints, the sandbox pay flow and its deliveries.

Deliveries run through the real procrastinate worker in burst mode (``wait=False``): it runs
what is due and returns, so nothing here waits on a clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from siyu.core.clock import utc_now
from siyu.core.errors import Conflict
from siyu.db.session import Database
from siyu.jobs.app import make_job_app
from siyu.payments import service as payments
from siyu.payments.models import Payment, PaymentNotification, Refund
from siyu.wechat import crypto
from siyu.wechat.adapters import PayError, PaymentNotice, RefundNotice
from siyu.wechat.models import SandboxPayTransaction
from siyu.wechat.sandbox_pay import (
    NOTIFY_QUEUE,
    PLATFORM_SERIAL,
    SandboxPayGateway,
    payment_notification,
    sandbox_keys,
    sandbox_pay,
)
from tests.factories import World, build_world
from tests.factories_consumers import Shopper, make_consumer, make_payment
from tests.helpers import assert_problem, row_counts

NOTIFY = "/api/payments/wechat/notify"
REFUND_NOTIFY = "/api/payments/wechat/refund-notify"


@dataclass
class FakeCheckout:
    """Stands in for the checkout side: records what it was handed, marks payments paid."""

    payments: list[tuple[str, str]] = field(default_factory=list)
    refunds: list[tuple[str, str]] = field(default_factory=list)
    refuse_with: Exception | None = None

    def on_payment(self, session: Session, payment: Payment, notice: PaymentNotice) -> str:
        self.payments.append((notice.out_trade_no, notice.trade_state))
        if payment.status == "succeeded":
            return "duplicate"
        payment.status = "succeeded"
        payment.transaction_id = notice.transaction_id
        session.flush()
        if self.refuse_with is not None:
            raise self.refuse_with
        return "paid"

    def on_refund(self, session: Session, refund: Refund, notice: RefundNotice) -> str:
        self.refunds.append((notice.out_refund_no, notice.refund_status))
        return "refunded"


@pytest.fixture
def checkout() -> Iterator[FakeCheckout]:
    fake = FakeCheckout()
    payments.clear_notice_handlers()
    payments.register_notice_handlers(payment=fake.on_payment, refund=fake.on_refund)
    yield fake
    payments.restore_notice_handlers()


@pytest.fixture
def world(session: Session) -> World:
    built = build_world(session)
    session.commit()
    return built


@pytest.fixture
def shopper(session: Session, world: World) -> Shopper:
    made = make_consumer(session, world.brand, "alice")
    session.commit()
    return made


def run_deliveries(db: Database) -> None:
    """Run every sandbox delivery that is due, then return."""
    app = make_job_app(db.url)
    with app.open():
        app.run_worker(queues=[NOTIFY_QUEUE], wait=False, install_signal_handlers=False)


def let_time_pass(session: Session) -> None:
    """Make every scheduled delivery due (the clock is not waited on)."""
    session.execute(text("UPDATE procrastinate_jobs SET scheduled_at = now() WHERE status='todo'"))
    session.commit()


def place(
    session: Session, world: World, shopper: Shopper, number: str, amount: int = 12_900
) -> str:
    make_payment(session, shopper, world.direct_store.id, amount_fen=amount, number=number)
    gateway = payments.get_pay_gateway(session, world.brand.id)
    prepay_id = gateway.create_jsapi_order(
        out_trade_no=number,
        description="Oolong tea 250g",
        amount_fen=amount,
        payer_openid="o-alice",
        notify_url=payments.notify_urls()[0],
        expires_at=utc_now() + timedelta(minutes=30),
    )
    session.commit()
    return prepay_id


def notifications(session: Session) -> list[tuple[str | None, bool, str]]:
    session.expire_all()
    return [
        (n.reference, n.signature_valid, n.outcome)
        for n in session.scalars(select(PaymentNotification).order_by(PaymentNotification.id))
    ]


def signed(
    data: dict[str, object], *, key: rsa.RSAPrivateKey | None = None, age: timedelta = timedelta()
) -> tuple[dict[str, str], bytes]:
    keys = sandbox_keys()
    return crypto.build_notification(
        private_key=key or keys.platform_private,
        serial=PLATFORM_SERIAL,
        apiv3_key=keys.apiv3_key,
        event_type="TRANSACTION.SUCCESS",
        resource_type="transaction",
        summary="支付成功",
        data=data,
        now=utc_now() - age,
    )


def transaction(number: str, amount: int = 12_900) -> dict[str, object]:
    return {
        "mchid": "1900000001",
        "out_trade_no": number,
        "transaction_id": "4200000000000001",
        "trade_state": "SUCCESS",
        "success_time": "2026-11-22T10:34:56+08:00",
        "payer": {"openid": "o-alice"},
        "amount": {"total": amount, "payer_total": amount},
    }


# ---------------------------------------------------------------- the notify endpoint


def test_the_sandbox_pay_flow_notifies_the_checkout_side(
    db: Database,
    session: Session,
    client: TestClient,
    world: World,
    shopper: Shopper,
    checkout: FakeCheckout,
) -> None:
    # given an order awaiting payment, and the cashier page
    prepay_id = place(session, world, shopper, "SY0000000001")
    page = client.get(f"/sandbox/pay/{prepay_id}")
    assert page.status_code == 200
    assert "¥129.00" in page.text
    assert f'action="/sandbox/pay/{prepay_id}"' in page.text
    # when the payer pays and the sandbox delivers
    paid = client.post(f"/sandbox/pay/{prepay_id}")
    assert paid.status_code == 200
    assert checkout.payments == []  # asynchronous, like WeChat
    run_deliveries(db)
    # then
    assert checkout.payments == [("SY0000000001", "SUCCESS")]
    assert notifications(session) == [("SY0000000001", True, "paid")]
    row = session.scalars(select(PaymentNotification)).one()
    assert row.brand_id == world.brand.id
    assert row.event_type == "TRANSACTION.SUCCESS"
    assert "payer_openid" not in row.detail
    payment = session.scalars(select(Payment)).one()
    assert payment.status == "succeeded"
    tx = session.get(SandboxPayTransaction, "SY0000000001")
    assert tx is not None and payment.transaction_id == tx.transaction_id


def test_the_sandbox_can_deliver_twice(
    db: Database, session: Session, world: World, shopper: Shopper, checkout: FakeCheckout
) -> None:
    prepay_id = place(session, world, shopper, "SY0000000002")
    sandbox_pay(session, prepay_id, copies=2)
    session.commit()
    run_deliveries(db)
    assert checkout.payments == [("SY0000000002", "SUCCESS")] * 2
    assert [o for _, _, o in notifications(session)] == ["paid", "duplicate"]


def test_the_sandbox_can_deliver_late_and_out_of_order(
    db: Database, session: Session, world: World, shopper: Shopper, checkout: FakeCheckout
) -> None:
    # given A paid first but its notification is late, B paid second and notified at once
    first = place(session, world, shopper, "SY0000000003")
    second = place(session, world, shopper, "SY0000000004")
    sandbox_pay(session, first, delay_seconds=600)
    sandbox_pay(session, second, delay_seconds=0)
    session.commit()
    # when
    run_deliveries(db)
    # then only B has arrived
    assert checkout.payments == [("SY0000000004", "SUCCESS")]
    # and when the delay has passed, A arrives
    let_time_pass(session)
    run_deliveries(db)
    assert checkout.payments == [("SY0000000004", "SUCCESS"), ("SY0000000003", "SUCCESS")]


def test_a_forged_notification_is_refused_and_only_logged(
    session: Session, client: TestClient, world: World, shopper: Shopper, checkout: FakeCheckout
) -> None:
    # given
    make_payment(session, shopper, world.direct_store.id, number="SY0000000005")
    session.commit()
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    headers, body = signed(transaction("SY0000000005"), key=forger)
    before = row_counts(session)
    # when
    response = client.post(NOTIFY, headers=headers, content=body)
    # then
    assert_problem(response, 401, "invalid_notification")
    assert checkout.payments == []
    assert row_counts(session) == {**before, "payment_notification": 1}
    assert notifications(session) == [(None, False, "rejected_bad_signature")]
    assert session.scalars(select(Payment.status)).one() == "pending"


def test_a_stale_notification_is_refused_and_only_logged(
    session: Session, client: TestClient, world: World, shopper: Shopper, checkout: FakeCheckout
) -> None:
    make_payment(session, shopper, world.direct_store.id, number="SY0000000006")
    session.commit()
    headers, body = signed(transaction("SY0000000006"), age=timedelta(minutes=6))
    before = row_counts(session)
    response = client.post(NOTIFY, headers=headers, content=body)
    assert_problem(response, 401, "invalid_notification")
    assert row_counts(session) == {**before, "payment_notification": 1}
    assert notifications(session) == [(None, False, "rejected_stale_timestamp")]
    assert checkout.payments == []


def test_a_tampered_resource_is_refused_and_only_logged(
    session: Session, client: TestClient, world: World, shopper: Shopper, checkout: FakeCheckout
) -> None:
    # given a correctly signed body whose resource was altered before signing
    keys = sandbox_keys()
    headers, body = signed(transaction("SY0000000007"))
    envelope = crypto.orjson.loads(body)
    cipher = bytearray(crypto.base64.b64decode(envelope["resource"]["ciphertext"]))
    cipher[0] ^= 1
    envelope["resource"]["ciphertext"] = crypto.base64.b64encode(bytes(cipher)).decode()
    body = crypto.orjson.dumps(envelope)
    timestamp, nonce = headers["Wechatpay-Timestamp"], headers["Wechatpay-Nonce"]
    headers["Wechatpay-Signature"] = crypto.rsa_sign(
        keys.platform_private, f"{timestamp}\n{nonce}\n{body.decode()}\n"
    )
    before = row_counts(session)
    # when
    response = client.post(NOTIFY, headers=headers, content=body)
    # then
    assert_problem(response, 401, "invalid_notification")
    assert row_counts(session) == {**before, "payment_notification": 1}
    assert notifications(session) == [(None, False, "rejected_undecryptable")]


def test_a_genuine_notification_for_an_unknown_order_is_refused(
    session: Session, client: TestClient, world: World, checkout: FakeCheckout
) -> None:
    headers, body = signed(transaction("SY9999999999"))
    before = row_counts(session)
    response = client.post(NOTIFY, headers=headers, content=body)
    assert_problem(response, 404, "unknown_order")
    assert row_counts(session) == {**before, "payment_notification": 1}
    assert notifications(session) == [("SY9999999999", True, "unknown_order")]
    assert checkout.payments == []


def test_a_refusal_by_the_checkout_side_changes_nothing_but_the_log(
    session: Session, client: TestClient, world: World, shopper: Shopper, checkout: FakeCheckout
) -> None:
    # given a handler that changes the payment and then refuses
    make_payment(session, shopper, world.direct_store.id, number="SY0000000008")
    session.commit()
    checkout.refuse_with = Conflict("Amount differs.", code="amount_mismatch")
    headers, body = signed(transaction("SY0000000008"))
    before = row_counts(session)
    # when
    response = client.post(NOTIFY, headers=headers, content=body)
    # then
    assert_problem(response, 409, "amount_mismatch")
    assert row_counts(session) == {**before, "payment_notification": 1}
    assert session.scalars(select(Payment.status)).one() == "pending"
    assert notifications(session) == [("SY0000000008", True, "amount_mismatch")]


def test_without_a_checkout_handler_wechat_is_asked_to_retry(
    session: Session,
    client: TestClient,
    world: World,
    shopper: Shopper,
    request: pytest.FixtureRequest,
) -> None:
    payments.clear_notice_handlers()
    request.addfinalizer(payments.restore_notice_handlers)
    make_payment(session, shopper, world.direct_store.id, number="SY0000000009")
    session.commit()
    headers, body = signed(transaction("SY0000000009"))
    response = client.post(NOTIFY, headers=headers, content=body)
    assert_problem(response, 503, "notice_not_handled")
    assert notifications(session) == [("SY0000000009", True, "notice_not_handled")]


def test_notify_endpoints_document_signature_authentication(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path in (NOTIFY, REFUND_NOTIFY):
        operation = spec["paths"][path]["post"]
        assert "Wechatpay-Signature" in operation["description"]
        assert "No bearer token" in operation["description"]
        assert "security" not in operation


# ---------------------------------------------------------------- the sandbox gateway


def test_pay_params_are_signed_with_the_sandbox_merchant_key(
    session: Session, world: World, shopper: Shopper
) -> None:
    prepay_id = place(session, world, shopper, "SY0000000010")
    gateway = payments.get_pay_gateway(session, world.brand.id)
    params = gateway.mini_program_pay_params(prepay_id)
    assert params["package"] == f"prepay_id={prepay_id}"
    assert isinstance(gateway, SandboxPayGateway)
    message = (
        f"{gateway.app_id}\n{params['timeStamp']}\n{params['nonceStr']}\n{params['package']}\n"
    )
    assert crypto.rsa_verify(
        sandbox_keys().merchant_private.public_key(), message, params["paySign"]
    )


def test_an_order_placed_twice_with_the_same_number_gets_the_same_prepay_id(
    session: Session, world: World, shopper: Shopper
) -> None:
    prepay_id = place(session, world, shopper, "SY0000000011")
    gateway = payments.get_pay_gateway(session, world.brand.id)
    again = gateway.create_jsapi_order(
        out_trade_no="SY0000000011",
        description="Oolong tea 250g",
        amount_fen=12_900,
        payer_openid="o-alice",
        notify_url="https://example.com/n",
        expires_at=utc_now() + timedelta(minutes=30),
    )
    assert again == prepay_id
    with pytest.raises(PayError) as used:
        gateway.create_jsapi_order(
            out_trade_no="SY0000000011",
            description="Oolong tea 250g",
            amount_fen=100,
            payer_openid="o-alice",
            notify_url="https://example.com/n",
            expires_at=utc_now() + timedelta(minutes=30),
        )
    assert used.value.code == "INVALID_REQUEST"


def test_closed_and_expired_trades_cannot_be_paid(
    session: Session, client: TestClient, world: World, shopper: Shopper
) -> None:
    closed = place(session, world, shopper, "SY0000000012")
    expired = place(session, world, shopper, "SY0000000013")
    payments.get_pay_gateway(session, world.brand.id).close_order("SY0000000012")
    tx = session.get(SandboxPayTransaction, "SY0000000013")
    assert tx is not None
    tx.expires_at = utc_now() - timedelta(seconds=1)
    session.commit()
    before = row_counts(session)
    assert_problem(client.post(f"/sandbox/pay/{closed}"), 409, "trade_not_payable")
    assert_problem(client.post(f"/sandbox/pay/{expired}"), 409, "trade_not_payable")
    assert_problem(client.get("/sandbox/pay/wxnothing"), 404, "prepay_not_found")
    assert row_counts(session) == before


def test_refunds_succeed_asynchronously_and_cannot_exceed_what_remains(
    db: Database, session: Session, world: World, shopper: Shopper, checkout: FakeCheckout
) -> None:
    # given a paid trade of 129.00 and its delivered payment notification
    prepay_id = place(session, world, shopper, "SY0000000014")
    sandbox_pay(session, prepay_id)
    session.commit()
    run_deliveries(db)
    payment = session.scalars(select(Payment)).one()
    session.add(
        Refund(
            brand_id=payment.brand_id,
            payment_id=payment.id,
            order_id=payment.order_id,
            out_refund_no="RF0000000014",
            amount_fen=10_000,
            reason="damaged",
            idempotency_key="r1",
        )
    )
    session.commit()
    gateway = payments.get_pay_gateway(session, world.brand.id)
    # when 100.00 is refunded
    result = gateway.refund(
        out_trade_no="SY0000000014",
        out_refund_no="RF0000000014",
        amount_fen=10_000,
        total_fen=12_900,
        reason="damaged",
        notify_url=payments.notify_urls()[1],
    )
    session.commit()
    # then it is processing, and succeeds with a notification
    assert result.status == "PROCESSING"
    run_deliveries(db)
    assert checkout.refunds == [("RF0000000014", "SUCCESS")]
    assert notifications(session)[-1] == ("RF0000000014", True, "refunded")
    # and a repeated request answers with the same refund
    again = gateway.refund(
        out_trade_no="SY0000000014",
        out_refund_no="RF0000000014",
        amount_fen=10_000,
        total_fen=12_900,
        reason="damaged",
        notify_url=payments.notify_urls()[1],
    )
    assert again.provider_refund_id == result.provider_refund_id
    assert again.status == "SUCCESS"
    # and more than the remaining 29.00 is refused
    session.rollback()
    before = row_counts(session)
    with pytest.raises(PayError) as refused:
        gateway.refund(
            out_trade_no="SY0000000014",
            out_refund_no="RF0000000015",
            amount_fen=2_901,
            total_fen=12_900,
            reason="more",
            notify_url=payments.notify_urls()[1],
        )
    session.rollback()
    assert refused.value.code == "NOT_ENOUGH"
    assert row_counts(session) == before
    tx = session.get(SandboxPayTransaction, "SY0000000014")
    assert tx is not None and tx.refunded_fen == 10_000


def test_a_sandbox_notification_is_what_the_documented_algorithm_produces(
    session: Session, world: World, shopper: Shopper
) -> None:
    prepay_id = place(session, world, shopper, "SY0000000016")
    tx = sandbox_pay(session, prepay_id)
    headers, body = payment_notification(tx, utc_now())
    keys = sandbox_keys()
    envelope, resource = crypto.open_notification(
        headers,
        body,
        apiv3_key=keys.apiv3_key,
        public_keys={PLATFORM_SERIAL: keys.platform_public},
        now=utc_now(),
    )
    assert envelope["event_type"] == "TRANSACTION.SUCCESS"
    assert resource["out_trade_no"] == "SY0000000016"
    assert resource["amount"]["total"] == 12_900
    assert resource["trade_state"] == "SUCCESS"
