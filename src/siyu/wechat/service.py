"""WeChat configuration of a brand: which mini program and merchant, in which mode."""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy.orm import Session

from siyu.config import get_settings
from siyu.wechat.adapters import MiniProgramCodes
from siyu.wechat.errors import WeChatNotConfigured
from siyu.wechat.live import LiveMiniProgramCodes
from siyu.wechat.models import WeChatAccount
from siyu.wechat.sandbox import SANDBOX_MINI_PROGRAM


def is_sandbox() -> bool:
    return get_settings().wechat_mode == "sandbox"


@lru_cache(maxsize=1)
def _live_codes() -> LiveMiniProgramCodes:
    # One HTTP client (and its connection pool) for the process.
    return LiveMiniProgramCodes()


def mini_program_codes() -> MiniProgramCodes:
    """Who draws mini-program codes: the sandbox (default) or WeChat itself (live)."""
    if is_sandbox():
        return SANDBOX_MINI_PROGRAM
    return _live_codes()


def sandbox_app_id(brand_id: int) -> str:
    """The mini-program AppID the sandbox gives a brand with no wechat_account row."""
    return f"wxsandbox{brand_id:09d}"


def sandbox_mch_id(brand_id: int) -> str:
    return f"19{brand_id:08d}"


def get_wechat_account(session: Session, brand_id: int) -> WeChatAccount | None:
    return session.get(WeChatAccount, brand_id)


def mini_program_app_id(session: Session, brand_id: int) -> str:
    """The brand's mini-program AppID. In sandbox mode a brand without configuration gets
    ``sandbox_app_id``; in live mode it raises WeChatNotConfigured."""
    account = get_wechat_account(session, brand_id)
    if account is not None:
        return account.mini_program_app_id
    if is_sandbox():
        return sandbox_app_id(brand_id)
    raise WeChatNotConfigured("This brand has no mini program configured.")
