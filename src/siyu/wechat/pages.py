"""The sandbox WeChat Pay cashier: what the payer sees after ``wx.requestPayment``.

Served at /sandbox/pay/{prepay_id} in sandbox mode only (404 in live mode). With
``?return_to=/shop/...`` (a path of the web shop, nothing else) paying goes back there, as
``wx.requestPayment`` returns to the mini-program.
"""

from __future__ import annotations

from html import escape
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from siyu.core.errors import NotFound
from siyu.web.deps import Uow
from siyu.wechat.models import SandboxPayTransaction
from siyu.wechat.sandbox_pay import get_prepaid, sandbox_pay
from siyu.wechat.service import is_sandbox

router = APIRouter(prefix="/sandbox/pay", tags=["sandbox"])

PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>WeChat Pay sandbox</title>
<style>body{{font-family:sans-serif;max-width:26rem;margin:3rem auto;text-align:center}}
.amount{{font-size:2.4rem;margin:1rem 0}}button{{background:#07c160;color:#fff;border:0;
padding:.8rem 3rem;font-size:1.1rem;border-radius:.4rem}}</style></head>
<body><p>WeChat Pay (sandbox: no money moves)</p><h1>{description}</h1>
<p class="amount">¥{amount}</p><p>{state}</p>{action}{back}</body></html>
"""
ReturnTo = Annotated[str, Query(max_length=300)]


def safe_return_to(value: str) -> str | None:
    """``value`` when it is a path of the web shop on this site, else None (no open redirect)."""
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or "\\" in value or "//" in value or ".." in value:
        return None
    if parts.path != "/shop" and not parts.path.startswith("/shop/"):
        return None
    return value


def _page(tx: SandboxPayTransaction, note: str = "", return_to: str | None = None) -> HTMLResponse:
    query = f"?return_to={quote(return_to, safe='/')}" if return_to else ""
    action = (
        f'<form method="post" action="/sandbox/pay/{escape(tx.prepay_id)}{escape(query)}">'
        '<button type="submit">Pay</button></form>'
        if tx.trade_state == "NOTPAY"
        else ""
    )
    back = f'<p><a href="{escape(return_to)}">Back to the shop</a></p>' if return_to else ""
    return HTMLResponse(
        PAGE.format(
            description=escape(tx.description),
            amount=f"{tx.amount_fen // 100}.{tx.amount_fen % 100:02d}",
            state=escape(note or tx.trade_state),
            action=action,
            back=back,
        )
    )


def _require_sandbox() -> None:
    if not is_sandbox():
        raise NotFound("There is no sandbox in live mode.")


@router.get("/{prepay_id}", response_class=HTMLResponse)
def pay_page(prepay_id: str, session: Uow, return_to: ReturnTo = "") -> HTMLResponse:
    _require_sandbox()
    return _page(get_prepaid(session, prepay_id), return_to=safe_return_to(return_to))


@router.post("/{prepay_id}", response_class=HTMLResponse)
def pay(prepay_id: str, session: Uow, return_to: ReturnTo = "") -> Response:
    _require_sandbox()
    tx = sandbox_pay(session, prepay_id)
    back = safe_return_to(return_to)
    if back:
        return RedirectResponse(back, status_code=303)
    return _page(tx, "Paid. The merchant is being notified.")
