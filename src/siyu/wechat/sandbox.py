"""The sandbox mini-program login: behaves like ``jscode2session``, limits and failures included.

The sandbox is the platform: it issues ``wx.login`` codes (``issue_login_code``, what the
mini program would get on a phone), each valid once for 5 minutes (reused: 40163; unknown or
expired: 40029), and answers at most ``rate_limit_per_minute`` exchanges per AppID per minute
(45011). The openid is stable per (AppID, user); a unionid comes back only when the AppID is
bound to an open-platform account (``bind_open_platform``), the same for every AppID bound to
that account. State lives in this process, like a phone talking to the server that runs it.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from siyu.core.clock import utc_now
from siyu.wechat.adapters import (
    ERR_CODE_USED,
    ERR_INVALID_CODE,
    ERR_RATE_LIMITED,
    MiniProgramSession,
    WeChatError,
)

CODE_TTL = timedelta(minutes=5)
DEFAULT_RATE_LIMIT_PER_MINUTE = 5000


def _stable_id(prefix: str, *parts: str) -> str:
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return prefix + base64.urlsafe_b64encode(digest).decode()[:27]


@dataclass
class _IssuedCode:
    app_id: str
    user: str
    issued_at: datetime
    used: bool = False


@dataclass
class SandboxMiniProgram:
    rate_limit_per_minute: int = DEFAULT_RATE_LIMIT_PER_MINUTE
    _codes: dict[str, _IssuedCode] = field(default_factory=dict)
    _calls: dict[str, deque[datetime]] = field(default_factory=dict)
    _open_platforms: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def issue_login_code(self, app_id: str, user: str, *, now: datetime | None = None) -> str:
        """What ``wx.login`` returns on the phone of ``user`` (any stable string)."""
        code = "sbx" + secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = _IssuedCode(app_id, user, now or utc_now())
        return code

    def bind_open_platform(self, app_id: str, open_platform_id: str) -> None:
        """From now on ``code_to_session`` for this AppID also returns a unionid."""
        with self._lock:
            self._open_platforms[app_id] = open_platform_id

    def openid_for(self, app_id: str, user: str) -> str:
        return _stable_id("o", "openid", app_id, user)

    def unionid_for(self, app_id: str, user: str) -> str | None:
        open_platform = self._open_platforms.get(app_id)
        return _stable_id("u", "unionid", open_platform, user) if open_platform else None

    def code_to_session(self, app_id: str, code: str) -> MiniProgramSession:
        now = utc_now()
        with self._lock:
            calls = self._calls.setdefault(app_id, deque())
            while calls and now - calls[0] >= timedelta(minutes=1):
                calls.popleft()
            if len(calls) >= self.rate_limit_per_minute:
                raise WeChatError(ERR_RATE_LIMITED, "api minute-quota reach limit")
            calls.append(now)
            issued = self._codes.get(code)
            if issued is None or issued.app_id != app_id or now - issued.issued_at > CODE_TTL:
                raise WeChatError(ERR_INVALID_CODE, "invalid code")
            if issued.used:
                raise WeChatError(ERR_CODE_USED, "code been used")
            issued.used = True
            # Forget long-expired codes so the table stays small.
            for stale in [c for c, i in self._codes.items() if now - i.issued_at > 2 * CODE_TTL]:
                del self._codes[stale]
        return MiniProgramSession(
            openid=self.openid_for(app_id, issued.user),
            unionid=self.unionid_for(app_id, issued.user),
            session_key=base64.b64encode(secrets.token_bytes(16)).decode(),
        )

    def reset(self) -> None:
        """Forget codes, call counts and bindings, and restore the default limit (tests)."""
        with self._lock:
            self._codes.clear()
            self._calls.clear()
            self._open_platforms.clear()
            self.rate_limit_per_minute = DEFAULT_RATE_LIMIT_PER_MINUTE


SANDBOX_MINI_PROGRAM = SandboxMiniProgram()


def issue_login_code(app_id: str, openid_seed: str, *, now: datetime | None = None) -> str:
    """A fresh ``wx.login`` code from the process-wide sandbox (tests and the demo)."""
    return SANDBOX_MINI_PROGRAM.issue_login_code(app_id, openid_seed, now=now)
