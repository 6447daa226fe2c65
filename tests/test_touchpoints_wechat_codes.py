"""Mini-program codes (wxacode.getUnlimited): the sandbox behaves like the platform (scene and
page checks, the per-minute limit, a PNG carrying the scene); the live adapter speaks the
platform's HTTPS protocol with a cached access token (against an in-process fake platform)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import segno

from siyu.config import get_settings
from siyu.core.clock import utc_now
from siyu.touchpoints.rules import png_size
from siyu.wechat import sandbox
from siyu.wechat.adapters import (
    ERR_CODE_MINUTE_QUOTA,
    ERR_INVALID_PAGE,
    ERR_INVALID_SCENE,
    ERR_SCENE_LENGTH,
    WeChatError,
)
from siyu.wechat.live import AccessTokens, LiveMiniProgramCodes
from siyu.wechat.sandbox import SandboxMiniProgram

APP = "wxsandbox000000042"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_the_sandbox_draws_a_png_carrying_the_scene() -> None:
    # when
    png = SandboxMiniProgram().unlimited_code(APP, "tAbc-12:x=1", "pages/store/index", 430)
    # then it is the QR of the sandbox's launch URL with the (escaped) scene, about 430 px
    qr = segno.make(
        f"https://mp.example/wxacode/{APP}/pages/store/index?scene=tAbc-12%3Ax%3D1", error="m"
    )
    modules = qr.symbol_size(scale=1, border=4)[0]
    expected = io.BytesIO()
    qr.save(expected, kind="png", scale=430 // modules, border=4)
    assert png.startswith(PNG_SIGNATURE)
    assert png == expected.getvalue()
    width, height = png_size(png)
    assert width == height
    assert 430 - modules < width <= 430


def test_the_sandbox_opens_the_home_page_without_a_page_and_keeps_the_width_in_range() -> None:
    platform = SandboxMiniProgram()
    small = platform.unlimited_code(APP, "t1", "", 10)
    large = platform.unlimited_code(APP, "t1", "", 5000)
    assert 280 - 50 < png_size(small)[0] <= 280
    assert 1280 - 50 < png_size(large)[0] <= 1280


@pytest.mark.parametrize(
    ("scene", "page", "errcode"),
    [
        ("", "pages/index/index", ERR_SCENE_LENGTH),
        ("a" * 33, "pages/index/index", ERR_SCENE_LENGTH),
        ("货架", "pages/index/index", ERR_INVALID_SCENE),
        ("a%20b", "pages/index/index", ERR_INVALID_SCENE),
        ("a b", "pages/index/index", ERR_INVALID_SCENE),
        ("tabc", "/pages/index/index", ERR_INVALID_PAGE),
        ("tabc", "pages/index/index?store=1", ERR_INVALID_PAGE),
        ("tabc", "pages/" + "x" * 130, ERR_INVALID_PAGE),
    ],
)
def test_the_sandbox_refuses_what_wechat_refuses(scene: str, page: str, errcode: int) -> None:
    with pytest.raises(WeChatError) as refused:
        SandboxMiniProgram().unlimited_code(APP, scene, page, 430)
    assert refused.value.errcode == errcode


def test_the_sandbox_accepts_every_allowed_scene_character() -> None:
    scene = "A1!#$&'()*+,/:;=?@-._~zZ"
    assert SandboxMiniProgram().unlimited_code(APP, scene, "", 430).startswith(PNG_SIGNATURE)


def test_the_sandbox_draws_at_most_its_limit_per_minute_and_app(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given a limit of two codes a minute
    platform = SandboxMiniProgram(code_rate_limit_per_minute=2)
    start = utc_now()
    monkeypatch.setattr(sandbox, "utc_now", lambda: start)
    platform.unlimited_code(APP, "t1", "", 430)
    platform.unlimited_code(APP, "t2", "", 430)
    # when a third is asked within the minute, then it is refused with 45009
    with pytest.raises(WeChatError) as refused:
        platform.unlimited_code(APP, "t3", "", 430)
    assert refused.value.errcode == ERR_CODE_MINUTE_QUOTA
    # and another mini program is not affected, nor logins of this one
    assert platform.unlimited_code("wxother", "t3", "", 430).startswith(PNG_SIGNATURE)
    platform.issue_login_code(APP, "alice")
    # and a minute later the mini program may draw again
    monkeypatch.setattr(sandbox, "utc_now", lambda: start + timedelta(seconds=61))
    assert platform.unlimited_code(APP, "t3", "", 430).startswith(PNG_SIGNATURE)


# ---------------------------------------------------------------- live, against a fake platform


class FakePlatform:
    """api.weixin.qq.com as far as stable_token and getwxacodeunlimit go."""

    def __init__(self) -> None:
        self.tokens_issued = 0
        self.code_requests: list[dict[str, object]] = []
        self.invalidate_next_token = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if request.url.path == "/cgi-bin/stable_token":
            assert body == {
                "grant_type": "client_credential",
                "appid": "wxlive",
                "secret": "the-app-secret",
                "force_refresh": False,
            }
            self.tokens_issued += 1
            return httpx.Response(
                200, json={"access_token": f"T{self.tokens_issued}", "expires_in": 7200}
            )
        assert request.url.path == "/wxa/getwxacodeunlimit"
        token = request.url.params["access_token"]
        self.code_requests.append({"token": token, **body})
        if self.invalidate_next_token:
            self.invalidate_next_token = False
            return httpx.Response(200, json={"errcode": 40001, "errmsg": "invalid credential"})
        if len(body["scene"]) > 32:
            return httpx.Response(200, json={"errcode": 40169, "errmsg": "invalid length"})
        return httpx.Response(
            200, content=PNG_SIGNATURE + b"fake", headers={"content-type": "image/png"}
        )


@pytest.fixture
def platform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakePlatform]:
    (tmp_path / "wxlive.appsecret").write_text("the-app-secret\n")
    monkeypatch.setenv("SIYU_WECHAT_SECRETS_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield FakePlatform()
    get_settings.cache_clear()


def _live(platform: FakePlatform) -> LiveMiniProgramCodes:
    client = httpx.Client(transport=httpx.MockTransport(platform))
    return LiveMiniProgramCodes(client=client, tokens=AccessTokens())


def test_the_live_adapter_fetches_a_token_once_and_returns_the_image(
    platform: FakePlatform,
) -> None:
    codes = _live(platform)
    first = codes.unlimited_code("wxlive", "tabc", "pages/store/index", 430)
    second = codes.unlimited_code("wxlive", "tdef", "", 280)
    assert first == second == PNG_SIGNATURE + b"fake"
    assert platform.tokens_issued == 1
    assert platform.code_requests == [
        {
            "token": "T1",
            "scene": "tabc",
            "page": "pages/store/index",
            "width": 430,
            "check_path": True,
        },
        {"token": "T1", "scene": "tdef", "width": 280, "check_path": True},
    ]


def test_the_live_adapter_renews_a_token_wechat_calls_invalid(platform: FakePlatform) -> None:
    codes = _live(platform)
    codes.unlimited_code("wxlive", "tabc", "", 430)
    platform.invalidate_next_token = True
    assert codes.unlimited_code("wxlive", "tdef", "", 430) == PNG_SIGNATURE + b"fake"
    assert platform.tokens_issued == 2
    assert [r["token"] for r in platform.code_requests] == ["T1", "T1", "T2"]


def test_the_live_adapter_raises_the_platforms_refusal(platform: FakePlatform) -> None:
    with pytest.raises(WeChatError) as refused:
        _live(platform).unlimited_code("wxlive", "a" * 40, "", 430)
    assert refused.value.errcode == ERR_SCENE_LENGTH
