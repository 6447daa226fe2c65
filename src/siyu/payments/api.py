"""WeChat Pay's notification endpoints (APIv3). Authenticated by the platform's signature."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status

from siyu.payments import service
from siyu.web.deps import Uow
from siyu.web.problems import problem_response

router = APIRouter(prefix="/payments/wechat", tags=["payments"])

SIGNATURE_NOTE = """
**No bearer token**: WeChat Pay calls this endpoint, and it is authenticated by the
`Wechatpay-Signature` header (RSA-SHA256 over timestamp, nonce and body with the platform key,
timestamps older than 5 minutes refused) and by the AEAD_AES_256_GCM resource decrypting with
the merchant's APIv3 key. Every call is logged in `payment_notification`, forged ones included.
Answers 204 when accepted; 401 `invalid_notification`, 404 `unknown_order` /
`unknown_refund`, 503 `notice_not_handled` otherwise (WeChat retries non-2xx answers).
"""


async def raw_body(request: Request) -> bytes:
    return await request.body()


Body = Annotated[bytes, Depends(raw_body)]


def _answer(receipt: service.NotificationReceipt) -> Response:
    # A refusal is answered, not raised, so the log row commits with the request.
    if receipt.error is not None:
        return problem_response(receipt.error.status, receipt.error.code, receipt.error.message)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/notify",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Payment notification from WeChat Pay",
    description=SIGNATURE_NOTE,
)
def payment_notify(request: Request, body: Body, session: Uow) -> Response:
    return _answer(service.receive_payment_notification(session, request.headers, body))


@router.post(
    "/refund-notify",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Refund notification from WeChat Pay",
    description=SIGNATURE_NOTE,
)
def refund_notify(request: Request, body: Body, session: Uow) -> Response:
    return _answer(service.receive_refund_notification(session, request.headers, body))
