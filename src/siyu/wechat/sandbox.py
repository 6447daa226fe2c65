"""The sandbox mini-program login: behaves like ``jscode2session``, limits and failures included.

The sandbox is the platform: it issues ``wx.login`` codes (``issue_login_code``, what the
mini program would get on a phone), each valid once for 5 minutes (reused: 40163; unknown or
expired: 40029), and answers at most ``rate_limit_per_minute`` exchanges per AppID per minute
(45011). The openid is stable per (AppID, user); a unionid comes back only when the AppID is
bound to an open-platform account (``bind_open_platform``), the same for every AppID bound to
that account. State lives in this process, like a phone talking to the server that runs it.

Phone numbers (``getuserphonenumber``): ``issue_phone_code`` is what the getPhoneNumber button
gives the mini program; ``phone_number`` exchanges it once within 5 minutes (anything else:
40029) under the same per-minute limit (45011).

It also draws mini-program codes (``unlimited_code``, like ``wxacode.getUnlimited``): the
scene and page are checked as WeChat checks them (40169, 40129, 41030), at most
``code_rate_limit_per_minute`` codes per AppID per minute are drawn (45009), and the PNG is a
QR code of ``https://mp.example/wxacode/<AppID>/<page>?scene=<scene>`` drawn with segno, so a
phone's camera reads the scene back.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import secrets
import string
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import quote

import segno

from siyu.core.clock import utc_now
from siyu.wechat.adapters import (
    ERR_CODE_MINUTE_QUOTA,
    ERR_CODE_USED,
    ERR_INVALID_CODE,
    ERR_INVALID_PAGE,
    ERR_INVALID_SCENE,
    ERR_RATE_LIMITED,
    ERR_SCENE_LENGTH,
    MiniProgramSession,
    PhoneNumber,
    WeChatError,
)

CODE_TTL = timedelta(minutes=5)
DEFAULT_RATE_LIMIT_PER_MINUTE = 5000
DEFAULT_CODE_RATE_LIMIT_PER_MINUTE = 5000  # wxacode.getUnlimited: 5,000 a minute
SCENE_MAX_LENGTH = 32
SCENE_CHARACTERS = frozenset(string.ascii_letters + string.digits + "!#$&'()*+,/:;=?@-._~")
PAGE_PATTERN = re.compile(r"[A-Za-z0-9_\-]+(/[A-Za-z0-9_\-]+)*")
PAGE_MAX_LENGTH = 128
HOME_PAGE = "pages/index/index"
CODE_WIDTH_MIN, CODE_WIDTH_MAX = 280, 1280
WXACODE_URL = "https://mp.example/wxacode/"


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
class _IssuedPhoneCode:
    app_id: str
    pure_phone_number: str
    country_code: str
    issued_at: datetime
    used: bool = False


@dataclass
class SandboxMiniProgram:
    rate_limit_per_minute: int = DEFAULT_RATE_LIMIT_PER_MINUTE
    code_rate_limit_per_minute: int = DEFAULT_CODE_RATE_LIMIT_PER_MINUTE
    _codes: dict[str, _IssuedCode] = field(default_factory=dict)
    _calls: dict[str, deque[datetime]] = field(default_factory=dict)
    _code_calls: dict[str, deque[datetime]] = field(default_factory=dict)
    _open_platforms: dict[str, str] = field(default_factory=dict)
    _phone_codes: dict[str, _IssuedPhoneCode] = field(default_factory=dict)
    _phone_calls: dict[str, deque[datetime]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def issue_login_code(self, app_id: str, user: str, *, now: datetime | None = None) -> str:
        """What ``wx.login`` returns on the phone of ``user`` (any stable string)."""
        code = "sbx" + secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = _IssuedCode(app_id, user, now or utc_now())
        return code

    def issue_phone_code(
        self,
        app_id: str,
        pure_phone_number: str,
        *,
        country_code: str = "86",
        now: datetime | None = None,
    ) -> str:
        """What the ``getPhoneNumber`` button gives the mini program once the user allows it."""
        code = "sbxp" + secrets.token_urlsafe(24)
        with self._lock:
            self._phone_codes[code] = _IssuedPhoneCode(
                app_id, pure_phone_number, country_code, now or utc_now()
            )
        return code

    def phone_number(self, app_id: str, code: str) -> PhoneNumber:
        """``getuserphonenumber``: each code once, for 5 minutes, for the AppID that issued it;
        anything else (a ``wx.login`` code too) is 40029, as on the platform."""
        now = utc_now()
        with self._lock:
            self._count_call(
                self._phone_calls, app_id, self.rate_limit_per_minute, now, ERR_RATE_LIMITED
            )
            issued = self._phone_codes.get(code)
            if (
                issued is None
                or issued.used
                or issued.app_id != app_id
                or now - issued.issued_at > CODE_TTL
            ):
                raise WeChatError(ERR_INVALID_CODE, "invalid code")
            issued.used = True
            for stale in [
                c for c, i in self._phone_codes.items() if now - i.issued_at > 2 * CODE_TTL
            ]:
                del self._phone_codes[stale]
        pure = issued.pure_phone_number
        shown = pure if issued.country_code == "86" else f"+{issued.country_code}{pure}"
        return PhoneNumber(
            phone_number=shown, pure_phone_number=pure, country_code=issued.country_code
        )

    def bind_open_platform(self, app_id: str, open_platform_id: str) -> None:
        """From now on ``code_to_session`` for this AppID also returns a unionid."""
        with self._lock:
            self._open_platforms[app_id] = open_platform_id

    def openid_for(self, app_id: str, user: str) -> str:
        return _stable_id("o", "openid", app_id, user)

    def unionid_for(self, app_id: str, user: str) -> str | None:
        open_platform = self._open_platforms.get(app_id)
        return _stable_id("u", "unionid", open_platform, user) if open_platform else None

    @staticmethod
    def _count_call(
        calls: dict[str, deque[datetime]], app_id: str, limit: int, now: datetime, errcode: int
    ) -> None:
        """Count a call of ``app_id`` in the sliding minute; refuse it beyond ``limit``.
        Call with the lock held."""
        made = calls.setdefault(app_id, deque())
        while made and now - made[0] >= timedelta(minutes=1):
            made.popleft()
        if len(made) >= limit:
            raise WeChatError(errcode, "api minute-quota reach limit")
        made.append(now)

    def code_to_session(self, app_id: str, code: str) -> MiniProgramSession:
        now = utc_now()
        with self._lock:
            self._count_call(self._calls, app_id, self.rate_limit_per_minute, now, ERR_RATE_LIMITED)
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

    def unlimited_code(self, app_id: str, scene: str, page: str, width: int) -> bytes:
        """``wxacode.getUnlimited``: see ``MiniProgramCodes``. A width outside 280-1280 px is
        brought within it; the PNG is about ``width`` px wide."""
        with self._lock:
            self._count_call(
                self._code_calls,
                app_id,
                self.code_rate_limit_per_minute,
                utc_now(),
                ERR_CODE_MINUTE_QUOTA,
            )
        if not 0 < len(scene) <= SCENE_MAX_LENGTH:
            raise WeChatError(ERR_SCENE_LENGTH, "invalid length for scene")
        if not set(scene) <= SCENE_CHARACTERS:
            raise WeChatError(ERR_INVALID_SCENE, "invalid scene")
        if page and (len(page) > PAGE_MAX_LENGTH or not PAGE_PATTERN.fullmatch(page)):
            raise WeChatError(ERR_INVALID_PAGE, "invalid page rid: sandbox")
        content = f"{WXACODE_URL}{app_id}/{page or HOME_PAGE}?scene={quote(scene, safe='')}"
        qr = segno.make(content, error="m")
        modules = qr.symbol_size(scale=1, border=4)[0]
        scale = max(1, min(max(width, CODE_WIDTH_MIN), CODE_WIDTH_MAX) // modules)
        buffer = io.BytesIO()
        qr.save(buffer, kind="png", scale=scale, border=4)
        return buffer.getvalue()

    def reset(self) -> None:
        """Forget codes, call counts and bindings, and restore the default limits (tests)."""
        with self._lock:
            self._codes.clear()
            self._calls.clear()
            self._code_calls.clear()
            self._open_platforms.clear()
            self._phone_codes.clear()
            self._phone_calls.clear()
            self.rate_limit_per_minute = DEFAULT_RATE_LIMIT_PER_MINUTE
            self.code_rate_limit_per_minute = DEFAULT_CODE_RATE_LIMIT_PER_MINUTE


SANDBOX_MINI_PROGRAM = SandboxMiniProgram()


def issue_phone_code(app_id: str, pure_phone_number: str, *, country_code: str = "86") -> str:
    """A fresh ``getPhoneNumber`` code from the process-wide sandbox (tests and the demo)."""
    return SANDBOX_MINI_PROGRAM.issue_phone_code(
        app_id, pure_phone_number, country_code=country_code
    )


def issue_login_code(app_id: str, openid_seed: str, *, now: datetime | None = None) -> str:
    """A fresh ``wx.login`` code from the process-wide sandbox (tests and the demo)."""
    return SANDBOX_MINI_PROGRAM.issue_login_code(app_id, openid_seed, now=now)
