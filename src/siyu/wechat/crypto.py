"""WeChat Pay APIv3 notification cryptography, as documented, shared by sandbox and live.

A notification is signed by the platform with RSA-SHA256 (PKCS#1 v1.5) over
``"{Wechatpay-Timestamp}\\n{Wechatpay-Nonce}\\n{body}\\n"``, the signature base64 in
``Wechatpay-Signature``, the key named by ``Wechatpay-Serial``. The business data is the
``resource``: AEAD_AES_256_GCM with the merchant's 32-byte APIv3 key, a 12-character nonce and
``associated_data``; ``ciphertext`` is base64(ciphertext || 16-byte tag).
"""

from __future__ import annotations

import base64
import secrets
import string
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from siyu.wechat.adapters import InvalidNotification, PaymentNotice, RefundNotice

SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
MAX_NOTIFICATION_AGE = timedelta(minutes=5)
HEADERS = (
    "Wechatpay-Timestamp",
    "Wechatpay-Nonce",
    "Wechatpay-Signature",
    "Wechatpay-Serial",
    "Wechatpay-Signature-Type",
)
_NONCE_ALPHABET = string.ascii_letters + string.digits


def nonce_str(length: int = 32) -> str:
    return "".join(secrets.choice(_NONCE_ALPHABET) for _ in range(length))


def rsa_sign(private_key: rsa.RSAPrivateKey, message: str) -> str:
    signature = private_key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode()


def rsa_verify(public_key: rsa.RSAPublicKey, message: str, signature: str) -> bool:
    try:
        public_key.verify(
            base64.b64decode(signature, validate=True),
            message.encode(),
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
    except (InvalidSignature, ValueError):
        return False
    return True


def aead_encrypt(apiv3_key: str, plaintext: bytes, associated_data: str) -> dict[str, str]:
    nonce = nonce_str(12)
    ciphertext = AESGCM(apiv3_key.encode()).encrypt(
        nonce.encode(), plaintext, associated_data.encode()
    )
    return {
        "algorithm": "AEAD_AES_256_GCM",
        "ciphertext": base64.b64encode(ciphertext).decode(),
        "associated_data": associated_data,
        "nonce": nonce,
    }


def aead_decrypt(apiv3_key: str, resource: Mapping[str, Any]) -> bytes:
    if resource.get("algorithm") != "AEAD_AES_256_GCM":
        raise InvalidNotification("undecryptable", "The resource algorithm is not supported.")
    try:
        return AESGCM(apiv3_key.encode()).decrypt(
            str(resource["nonce"]).encode(),
            base64.b64decode(str(resource["ciphertext"]), validate=True),
            str(resource.get("associated_data") or "").encode(),
        )
    except (InvalidTag, KeyError, ValueError) as error:
        raise InvalidNotification(
            "undecryptable", "The resource does not decrypt with the APIv3 key."
        ) from error


def load_private_key(pem: str | bytes) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem if isinstance(pem, bytes) else pem.encode(), None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("not an RSA private key")
    return key


def load_public_key(pem: str | bytes) -> rsa.RSAPublicKey:
    key = serialization.load_pem_public_key(pem if isinstance(pem, bytes) else pem.encode())
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("not an RSA public key")
    return key


def private_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_pem(key: rsa.RSAPublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def canonical_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The Wechatpay-* headers whatever their case (ASGI lower-cases them)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    return {name: lowered[name.lower()] for name in HEADERS if name.lower() in lowered}


def build_notification(
    *,
    private_key: rsa.RSAPrivateKey,
    serial: str,
    apiv3_key: str,
    event_type: str,
    resource_type: str,
    summary: str,
    data: Mapping[str, Any],
    now: datetime,
    notification_id: str | None = None,
) -> tuple[dict[str, str], bytes]:
    """A notification as WeChat Pay sends it: (headers, body)."""
    associated = "transaction" if event_type.startswith("TRANSACTION") else "refund"
    body = orjson.dumps(
        {
            "id": notification_id or nonce_str(36),
            "create_time": now.isoformat(timespec="seconds"),
            "resource_type": "encrypt-resource",
            "event_type": event_type,
            "summary": summary,
            "resource": {
                **aead_encrypt(apiv3_key, orjson.dumps(dict(data)), associated),
                "original_type": resource_type,
            },
        }
    )
    timestamp = str(int(now.timestamp()))
    nonce = nonce_str(32)
    headers = {
        "Wechatpay-Timestamp": timestamp,
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Signature": rsa_sign(private_key, f"{timestamp}\n{nonce}\n{body.decode()}\n"),
        "Wechatpay-Serial": serial,
        "Wechatpay-Signature-Type": SIGNATURE_TYPE,
        "Content-Type": "application/json",
    }
    return headers, body


SignatureCheck = Callable[[dict[str, str], str], bool]


def open_notification(
    headers: Mapping[str, str],
    body: bytes,
    *,
    apiv3_key: str,
    public_keys: Mapping[str, rsa.RSAPublicKey],
    now: datetime,
    fallback_check: SignatureCheck | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Verify and decrypt a notification: (envelope, decrypted resource).

    The signing key is ``public_keys[Wechatpay-Serial]``; for other serials ``fallback_check``
    (the live platform-certificate store) decides. Raises InvalidNotification with reason
    missing_headers, unsupported_signature, stale_timestamp, unknown_serial, bad_signature,
    malformed_body or undecryptable.
    """
    wx = canonical_headers(headers)
    if any(name not in wx for name in HEADERS[:4]):
        raise InvalidNotification("missing_headers", "The Wechatpay-* headers are missing.")
    if wx.get("Wechatpay-Signature-Type", SIGNATURE_TYPE) != SIGNATURE_TYPE:
        raise InvalidNotification("unsupported_signature", "The signature type is unsupported.")
    try:
        timestamp = int(wx["Wechatpay-Timestamp"])
    except ValueError as error:
        raise InvalidNotification("stale_timestamp", "The timestamp is not a number.") from error
    if abs(now.timestamp() - timestamp) > MAX_NOTIFICATION_AGE.total_seconds():
        raise InvalidNotification("stale_timestamp", "The notification is more than 5 minutes old.")
    try:
        text = body.decode()
    except UnicodeDecodeError as error:
        raise InvalidNotification("malformed_body", "The body is not UTF-8.") from error
    message = f"{wx['Wechatpay-Timestamp']}\n{wx['Wechatpay-Nonce']}\n{text}\n"
    key = public_keys.get(wx["Wechatpay-Serial"])
    if key is not None:
        valid = rsa_verify(key, message, wx["Wechatpay-Signature"])
    elif fallback_check is not None:
        valid = fallback_check(wx, text)
    else:
        raise InvalidNotification("unknown_serial", "The signing key is unknown.")
    if not valid:
        raise InvalidNotification("bad_signature", "The signature does not match.")
    try:
        envelope = orjson.loads(body)
        resource = orjson.loads(aead_decrypt(apiv3_key, envelope["resource"]))
    except (orjson.JSONDecodeError, KeyError, TypeError) as error:
        raise InvalidNotification("malformed_body", "The body is not a notification.") from error
    if not isinstance(envelope, dict) or not isinstance(resource, dict):
        raise InvalidNotification("malformed_body", "The body is not a notification.")
    return envelope, resource


def parse_time(value: object) -> datetime | None:
    """WeChat's RFC 3339 times (``2018-06-08T10:34:56+08:00``)."""
    if not isinstance(value, str) or not value:
        return None
    return datetime.fromisoformat(value)


def payment_notice_from(envelope: Mapping[str, Any], resource: Mapping[str, Any]) -> PaymentNotice:
    try:
        amount = resource["amount"]
        return PaymentNotice(
            out_trade_no=str(resource["out_trade_no"]),
            transaction_id=resource.get("transaction_id"),
            trade_state=str(resource["trade_state"]),
            amount_fen=int(amount.get("payer_total", amount["total"])),
            payer_openid=(resource.get("payer") or {}).get("openid"),
            success_time=parse_time(resource.get("success_time")),
            notification_id=envelope.get("id"),
            event_type=envelope.get("event_type"),
            mch_id=resource.get("mchid"),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise InvalidNotification("malformed_body", "The resource is not a transaction.") from error


def refund_notice_from(envelope: Mapping[str, Any], resource: Mapping[str, Any]) -> RefundNotice:
    try:
        amount = resource["amount"]
        return RefundNotice(
            out_trade_no=str(resource["out_trade_no"]),
            out_refund_no=str(resource["out_refund_no"]),
            refund_id=resource.get("refund_id"),
            refund_status=str(resource["refund_status"]),
            refund_fen=int(amount["refund"]),
            total_fen=int(amount["total"]),
            success_time=parse_time(resource.get("success_time")),
            notification_id=envelope.get("id"),
            event_type=envelope.get("event_type"),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise InvalidNotification("malformed_body", "The resource is not a refund.") from error
