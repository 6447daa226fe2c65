"""Phone numbers from WeChat (getuserphonenumber): the sandbox behaves like the platform, and
the live adapter speaks the platform's protocol (against an in-process fake of it)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from siyu.config import get_settings
from siyu.core.clock import utc_now
from siyu.wechat.adapters import PhoneNumber, WeChatError
from siyu.wechat.live import AccessTokens, LiveMiniProgramAuth
from siyu.wechat.sandbox import SandboxMiniProgram

APP = "wxphone"


def test_the_sandbox_exchanges_a_phone_code_once() -> None:
    platform = SandboxMiniProgram()
    code = platform.issue_phone_code(APP, "13800138000")
    assert platform.phone_number(APP, code) == PhoneNumber("13800138000", "13800138000", "86")
    with pytest.raises(WeChatError) as again:
        platform.phone_number(APP, code)
    assert again.value.errcode == 40029


def test_the_sandbox_refuses_expired_foreign_app_and_login_codes() -> None:
    platform = SandboxMiniProgram()
    expired = platform.issue_phone_code(APP, "13800138000", now=utc_now() - timedelta(minutes=6))
    other_app = platform.issue_phone_code("wxother", "13800138000")
    login = platform.issue_login_code(APP, "alice")
    for code in (expired, other_app, login, "made-up"):
        with pytest.raises(WeChatError) as refused:
            platform.phone_number(APP, code)
        assert refused.value.errcode == 40029


def test_the_sandbox_limits_exchanges_per_minute() -> None:
    platform = SandboxMiniProgram(rate_limit_per_minute=1)
    platform.phone_number(APP, platform.issue_phone_code(APP, "13800138000"))
    with pytest.raises(WeChatError) as limited:
        platform.phone_number(APP, platform.issue_phone_code(APP, "13800138001"))
    assert limited.value.errcode == 45011


def test_the_sandbox_gives_foreign_numbers_with_their_country_code() -> None:
    platform = SandboxMiniProgram()
    code = platform.issue_phone_code(APP, "4155550100", country_code="1")
    assert platform.phone_number(APP, code) == PhoneNumber("+14155550100", "4155550100", "1")


# ---------------------------------------------------------------- live


class FakePlatform:
    """api.weixin.qq.com as far as stable_token and getuserphonenumber go."""

    def __init__(self) -> None:
        self.tokens_issued = 0
        self.phone_requests: list[dict[str, object]] = []
        self.invalidate_next_token = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if request.url.path == "/cgi-bin/stable_token":
            assert (body["appid"], body["secret"]) == (APP, "the-app-secret")
            self.tokens_issued += 1
            return httpx.Response(
                200, json={"access_token": f"T{self.tokens_issued}", "expires_in": 7200}
            )
        assert request.url.path == "/wxa/business/getuserphonenumber"
        self.phone_requests.append({"token": request.url.params["access_token"], **body})
        if self.invalidate_next_token:
            self.invalidate_next_token = False
            return httpx.Response(200, json={"errcode": 40001, "errmsg": "invalid credential"})
        if body["code"] != "good":
            return httpx.Response(200, json={"errcode": 40029, "errmsg": "invalid code"})
        return httpx.Response(
            200,
            json={
                "errcode": 0,
                "errmsg": "ok",
                "phone_info": {
                    "phoneNumber": "13800138000",
                    "purePhoneNumber": "13800138000",
                    "countryCode": 86,
                    "watermark": {"timestamp": 1637744274, "appid": APP},
                },
            },
        )


@pytest.fixture
def platform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakePlatform]:
    (tmp_path / f"{APP}.appsecret").write_text("the-app-secret\n")
    monkeypatch.setenv("SIYU_WECHAT_SECRETS_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield FakePlatform()
    get_settings.cache_clear()


def _live(platform: FakePlatform) -> LiveMiniProgramAuth:
    client = httpx.Client(transport=httpx.MockTransport(platform))
    return LiveMiniProgramAuth(client=client, tokens=AccessTokens())


def test_the_live_adapter_exchanges_a_code_with_a_cached_token(platform: FakePlatform) -> None:
    auth = _live(platform)
    first = auth.phone_number(APP, "good")
    second = auth.phone_number(APP, "good")
    assert first == second == PhoneNumber("13800138000", "13800138000", "86")
    assert platform.tokens_issued == 1
    assert platform.phone_requests == [{"token": "T1", "code": "good"}] * 2


def test_the_live_adapter_renews_a_token_wechat_calls_invalid(platform: FakePlatform) -> None:
    auth = _live(platform)
    auth.phone_number(APP, "good")
    platform.invalidate_next_token = True
    assert auth.phone_number(APP, "good").pure_phone_number == "13800138000"
    assert [r["token"] for r in platform.phone_requests] == ["T1", "T1", "T2"]


def test_the_live_adapter_raises_the_platforms_refusal(platform: FakePlatform) -> None:
    with pytest.raises(WeChatError) as refused:
        _live(platform).phone_number(APP, "used")
    assert refused.value.errcode == 40029
