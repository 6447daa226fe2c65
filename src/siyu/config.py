"""Settings read from ``SIYU_*`` environment variables.

Every knob an operator may turn lives here, so that the README can list them from one place.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("siyu", appauthor=False))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SIYU_", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL (>= 14). Unset: siyu runs its own embedded server.",
    )
    data_dir: Path = Field(default_factory=default_data_dir)
    host: str = "127.0.0.1"
    port: int = 8000
    log_format: Literal["console", "json"] = "console"
    log_level: str = "INFO"
    cookie_secure: Literal["auto", "always", "never"] = Field(
        default="auto",
        description="auto: Secure cookies whenever the request came over HTTPS.",
    )
    session_ttl_hours: int = 12
    login_max_failures: int = 5
    login_window_seconds: int = 900
    password_time_cost: int = 3
    password_memory_kib: int = 65536
    in_process_worker: bool = True
    cart_reservation_minutes: int = Field(
        default=10, description="How long a cart's reservation holds its stock."
    )
    order_payment_minutes: int = Field(
        default=15, description="Unpaid orders are cancelled this long after being placed."
    )
    complaint_response_hours: int = Field(
        default=24, description="A complaint (客诉) must be answered within this many hours."
    )
    sql_echo: bool = False
    pool_size: int = 10
    wechat_mode: Literal["sandbox", "live"] = Field(
        default="sandbox",
        description="sandbox: the built-in WeChat look-alike (no network); live: real WeChat.",
    )
    wechat_notify_base_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Public https origin WeChat Pay posts notifications to (live mode).",
    )
    wechat_secrets_dir: Path | None = Field(
        default=None,
        description="Live mode: directory of WeChat secrets (<AppID>.appsecret, pay keys). "
        "Unset: <data_dir>/wechat-secrets.",
    )
    wechat_sandbox_notify_delay_seconds: int = Field(
        default=0, description="Sandbox: deliver each pay/refund notification this late."
    )
    wechat_sandbox_notify_copies: int = Field(
        default=1, description="Sandbox: deliver each notification this many times (like WeChat)."
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
