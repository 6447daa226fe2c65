"""The live WeChat Pay adapter's notification parsing, against notifications built here with
the documented APIv3 algorithm (RSA-SHA256 signature, AEAD_AES_256_GCM resource)."""

from __future__ import annotations

import base64
import json
import secrets
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from siyu.core.clock import utc_now
from siyu.wechat.adapters import InvalidNotification, PaymentNotice, RefundNotice
from siyu.wechat.live import LivePayGateway

APIV3_KEY = "0123456789abcdefABCDEF0123456789"
SERIAL = "PUB_KEY_ID_0114232134912410000000000000"


def _pem_private(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _pem_public(key: rsa.RSAPublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


@pytest.fixture(scope="module")
def platform_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def merchant_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def gateway(platform_key: rsa.RSAPrivateKey, merchant_key: rsa.RSAPrivateKey) -> LivePayGateway:
    return LivePayGateway(
        app_id="wxd678efh567hg6787",
        mch_id="1230000109",
        cert_serial_no="444F4864EA9B34415",
        private_key=_pem_private(merchant_key),
        apiv3_key=APIV3_KEY,
        public_key=_pem_public(platform_key.public_key()),
        public_key_id=SERIAL,
    )


def encrypt(
    plain: dict[str, object], *, key: str = APIV3_KEY, ad: str = "transaction"
) -> dict[str, str]:
    nonce = secrets.token_hex(6)  # 12 characters, as WeChat sends
    cipher = AESGCM(key.encode()).encrypt(nonce.encode(), json.dumps(plain).encode(), ad.encode())
    return {
        "algorithm": "AEAD_AES_256_GCM",
        "ciphertext": base64.b64encode(cipher).decode(),
        "associated_data": ad,
        "nonce": nonce,
        "original_type": "transaction",
    }


def sign(key: rsa.RSAPrivateKey, timestamp: str, nonce: str, body: bytes) -> str:
    message = timestamp.encode() + b"\n" + nonce.encode() + b"\n" + body + b"\n"
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


def notification(
    key: rsa.RSAPrivateKey,
    resource: dict[str, str],
    *,
    event_type: str = "TRANSACTION.SUCCESS",
    at: datetime | None = None,
    serial: str = SERIAL,
) -> tuple[dict[str, str], bytes]:
    body = json.dumps(
        {
            "id": "EV-2018022511223320873",
            "create_time": "2026-11-22T10:00:00+08:00",
            "resource_type": "encrypt-resource",
            "event_type": event_type,
            "summary": "支付成功",
            "resource": resource,
        },
        ensure_ascii=False,
    ).encode()
    timestamp = str(int((at or utc_now()).timestamp()))
    nonce = secrets.token_hex(16)
    return {
        "wechatpay-timestamp": timestamp,
        "wechatpay-nonce": nonce,
        "wechatpay-signature": sign(key, timestamp, nonce, body),
        "wechatpay-serial": serial,
        "wechatpay-signature-type": "WECHATPAY2-SHA256-RSA2048",
    }, body


TRANSACTION = {
    "mchid": "1230000109",
    "appid": "wxd678efh567hg6787",
    "out_trade_no": "SY20261122000001",
    "transaction_id": "1217752501201407033233368018",
    "trade_type": "JSAPI",
    "trade_state": "SUCCESS",
    "trade_state_desc": "支付成功",
    "bank_type": "CMC",
    "success_time": "2026-11-22T10:34:56+08:00",
    "payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
    "amount": {"total": 12900, "payer_total": 12900, "currency": "CNY", "payer_currency": "CNY"},
}


def test_a_genuine_payment_notification_is_verified_and_decrypted(
    gateway: LivePayGateway, platform_key: rsa.RSAPrivateKey
) -> None:
    headers, body = notification(platform_key, encrypt(TRANSACTION))
    notice = gateway.parse_payment_notification(headers, body)
    assert notice == PaymentNotice(
        out_trade_no="SY20261122000001",
        transaction_id="1217752501201407033233368018",
        trade_state="SUCCESS",
        amount_fen=12900,
        payer_openid="oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
        success_time=datetime(2026, 11, 22, 2, 34, 56, tzinfo=UTC),
        notification_id="EV-2018022511223320873",
        event_type="TRANSACTION.SUCCESS",
        mch_id="1230000109",
    )


def test_a_genuine_refund_notification_is_verified_and_decrypted(
    gateway: LivePayGateway, platform_key: rsa.RSAPrivateKey
) -> None:
    refund = {
        "mchid": "1230000109",
        "out_trade_no": "SY20261122000001",
        "transaction_id": "1217752501201407033233368018",
        "out_refund_no": "RF20261122000001",
        "refund_id": "50000000382019052709732678859",
        "refund_status": "SUCCESS",
        "success_time": "2026-11-22T11:00:00+08:00",
        "amount": {"total": 12900, "refund": 2900, "payer_total": 12900, "payer_refund": 2900},
    }
    headers, body = notification(
        platform_key, encrypt(refund, ad="refund"), event_type="REFUND.SUCCESS"
    )
    assert gateway.parse_refund_notification(headers, body) == RefundNotice(
        out_trade_no="SY20261122000001",
        out_refund_no="RF20261122000001",
        refund_id="50000000382019052709732678859",
        refund_status="SUCCESS",
        refund_fen=2900,
        total_fen=12900,
        success_time=datetime(2026, 11, 22, 3, 0, tzinfo=UTC),
        notification_id="EV-2018022511223320873",
        event_type="REFUND.SUCCESS",
    )


def test_a_tampered_body_is_refused(
    gateway: LivePayGateway, platform_key: rsa.RSAPrivateKey
) -> None:
    headers, body = notification(platform_key, encrypt(TRANSACTION))
    tampered = body.replace(b"TRANSACTION.SUCCESS", b"TRANSACTION.SUCCES ")
    with pytest.raises(InvalidNotification) as refused:
        gateway.parse_payment_notification(headers, tampered)
    assert refused.value.reason == "bad_signature"


def test_a_signature_by_another_key_is_refused(gateway: LivePayGateway) -> None:
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    headers, body = notification(forger, encrypt(TRANSACTION))
    with pytest.raises(InvalidNotification) as refused:
        gateway.parse_payment_notification(headers, body)
    assert refused.value.reason == "bad_signature"


def test_garbage_in_the_signature_header_is_refused(
    gateway: LivePayGateway, platform_key: rsa.RSAPrivateKey
) -> None:
    headers, body = notification(platform_key, encrypt(TRANSACTION))
    headers["wechatpay-signature"] = "not base64!"
    with pytest.raises(InvalidNotification) as refused:
        gateway.parse_payment_notification(headers, body)
    assert refused.value.reason == "bad_signature"


@pytest.mark.parametrize("age", [timedelta(minutes=5, seconds=2), -timedelta(minutes=6)])
def test_a_stale_or_future_timestamp_is_refused(
    gateway: LivePayGateway, platform_key: rsa.RSAPrivateKey, age: timedelta
) -> None:
    headers, body = notification(platform_key, encrypt(TRANSACTION), at=utc_now() - age)
    with pytest.raises(InvalidNotification) as refused:
        gateway.parse_payment_notification(headers, body)
    assert refused.value.reason == "stale_timestamp"


def test_a_four_minute_old_notification_is_accepted(
    gateway: LivePayGateway, platform_key: rsa.RSAPrivateKey
) -> None:
    headers, body = notification(
        platform_key, encrypt(TRANSACTION), at=utc_now() - timedelta(minutes=4)
    )
    assert gateway.parse_payment_notification(headers, body).out_trade_no == "SY20261122000001"


def test_a_resource_encrypted_with_another_key_is_refused(
    gateway: LivePayGateway, platform_key: rsa.RSAPrivateKey
) -> None:
    headers, body = notification(platform_key, encrypt(TRANSACTION, key="X" * 32))
    with pytest.raises(InvalidNotification) as refused:
        gateway.parse_payment_notification(headers, body)
    assert refused.value.reason == "undecryptable"


def test_a_resource_with_tampered_associated_data_is_refused(
    gateway: LivePayGateway, platform_key: rsa.RSAPrivateKey
) -> None:
    resource = encrypt(TRANSACTION)
    resource["associated_data"] = "refund"
    headers, body = notification(platform_key, resource)
    with pytest.raises(InvalidNotification) as refused:
        gateway.parse_payment_notification(headers, body)
    assert refused.value.reason == "undecryptable"


def test_an_unknown_signing_key_and_missing_headers_are_refused(
    gateway: LivePayGateway, platform_key: rsa.RSAPrivateKey
) -> None:
    headers, body = notification(platform_key, encrypt(TRANSACTION), serial="PUB_KEY_ID_OTHER")
    with pytest.raises(InvalidNotification) as refused:
        gateway.parse_payment_notification(headers, body)
    assert refused.value.reason == "unknown_serial"
    with pytest.raises(InvalidNotification) as missing:
        gateway.parse_payment_notification({}, body)
    assert missing.value.reason == "missing_headers"


def test_mini_program_pay_params_are_signed_by_the_merchant(
    gateway: LivePayGateway, merchant_key: rsa.RSAPrivateKey
) -> None:
    params = gateway.mini_program_pay_params("wx201410272009395522657a690389285100")
    assert params["package"] == "prepay_id=wx201410272009395522657a690389285100"
    assert params["signType"] == "RSA"
    message = (
        f"wxd678efh567hg6787\n{params['timeStamp']}\n{params['nonceStr']}\n{params['package']}\n"
    )
    merchant_key.public_key().verify(
        base64.b64decode(params["paySign"]), message.encode(), padding.PKCS1v15(), hashes.SHA256()
    )
