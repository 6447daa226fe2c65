"""Touchpoint kinds, scene keys and WeCom states: pure rules, no I/O.

A touchpoint (触点) is any place a customer can reach the brand; its codes (布码) carry a short
*scene key* that the server resolves. The mini-program's ``scene`` is at most 32 visible
characters from ``[0-9A-Za-z!#$&'()*+,/:;=?@-._~]`` (no ``%``); a WeCom 联系我 / 加入群聊
``state`` is at most 30 characters (see /work/shared/notes/wechat.md, "Codes and attribution").
"""

from __future__ import annotations

import csv
import io
import secrets
import string
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from html import escape

import segno

SCENE_MAX_LENGTH = 32
STATE_MAX_LENGTH = 30
SCENE_CHARSET = frozenset(string.ascii_letters + string.digits + "!#$&'()*+,/:;=?@-._~")
# Lower-case Crockford base32 (no i, l, o, u): unambiguous when printed under a code.
KEY_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
SCENE_PREFIX = "t"
SCENE_RANDOM_LENGTH = 12  # 60 bits: collisions are retried, not expected
STATE_PREFIX = "tp_"
# The sandbox's stand-in for a mini-program code: a URL carrying the scene key.
SANDBOX_LAUNCH_URL = "https://mp.example/launch?scene="


class Carrier(StrEnum):
    OFFICIAL_ACCOUNT = "official_account"
    MINI_PROGRAM = "mini_program"
    WECOM = "wecom"
    COMMUNITY = "community"
    STORE = "store"
    ADS = "ads"
    OFFLINE_EVENT = "offline_event"


CARRIER_LABELS: dict[Carrier, str] = {
    Carrier.OFFICIAL_ACCOUNT: "公众号",
    Carrier.MINI_PROGRAM: "小程序",
    Carrier.WECOM: "企业微信与导购",
    Carrier.COMMUNITY: "社群",
    Carrier.STORE: "门店",
    Carrier.ADS: "广告",
    Carrier.OFFLINE_EVENT: "线下活动",
}


@dataclass(frozen=True)
class Kind:
    code: str
    label: str
    carrier: Carrier


def _kinds(carrier: Carrier, *pairs: tuple[str, str]) -> tuple[Kind, ...]:
    return tuple(Kind(code, label, carrier) for code, label in pairs)


BUILT_IN_KINDS: tuple[Kind, ...] = (
    *_kinds(
        Carrier.OFFICIAL_ACCOUNT,
        ("oa_menu", "公众号菜单"),
        ("oa_article", "公众号文章"),
        ("oa_template_message", "模板消息"),
        ("oa_follow_reply", "关注回复"),
        ("oa_qr_code", "公众号带参二维码"),
    ),
    *_kinds(
        Carrier.MINI_PROGRAM,
        ("mp_search", "小程序搜索"),
        ("mp_share_card", "小程序分享卡片"),
        ("mp_moments_ad_landing", "朋友圈广告落地页"),
        ("mp_payment_entry", "支付完成页入口"),
        ("mp_wallet_entry", "卡包入口"),
        ("mp_live_room", "小程序直播间"),
        ("mp_subscribe_message", "订阅消息"),
    ),
    *_kinds(
        Carrier.WECOM,
        ("guide_code", "导购码"),
        ("guide_share", "导购分享"),
        ("guide_moments_post", "导购朋友圈"),
        ("guide_one_to_one", "导购一对一私聊"),
    ),
    *_kinds(
        Carrier.COMMUNITY,
        ("group_code", "群码"),
        ("group_message", "群消息"),
        ("group_announcement", "群公告"),
    ),
    *_kinds(
        Carrier.STORE,
        ("shelf_code", "货架码"),
        ("counter_code", "收银台码"),
        ("receipt_code", "小票码"),
        ("poster", "门店海报"),
        ("smart_screen", "智慧屏"),
        ("store_join_code", "入会码"),
        ("package_insert", "包裹卡"),
    ),
    *_kinds(
        Carrier.ADS,
        ("ad_moments", "朋友圈广告"),
        ("ad_channels", "视频号广告"),
        ("ad_outdoor", "户外广告"),
        ("ad_ecommerce", "电商平台广告"),
    ),
    *_kinds(
        Carrier.OFFLINE_EVENT,
        ("event_booth", "活动展位"),
        ("event_roadshow", "路演"),
        ("event_workshop", "线下课堂"),
    ),
)
BUILT_IN_BY_CODE: dict[str, Kind] = {kind.code: kind for kind in BUILT_IN_KINDS}


def kinds_by_carrier(kinds: tuple[Kind, ...] = BUILT_IN_KINDS) -> dict[Carrier, list[Kind]]:
    """``kinds`` grouped by carrier, in carrier order, keeping each group's order."""
    groups: dict[Carrier, list[Kind]] = {carrier: [] for carrier in Carrier}
    for kind in kinds:
        groups[kind.carrier].append(kind)
    return {carrier: group for carrier, group in groups.items() if group}


def is_valid_scene_key(key: str) -> bool:
    return 0 < len(key) <= SCENE_MAX_LENGTH and all(c in SCENE_CHARSET for c in key)


def new_scene_key() -> str:
    """A fresh random scene key: ``t`` and 12 base32 characters (13 in all, <= 32)."""
    body = "".join(secrets.choice(KEY_ALPHABET) for _ in range(SCENE_RANDOM_LENGTH))
    return SCENE_PREFIX + body


def state_for(scene_key: str) -> str:
    """The WeCom ``state`` of a code: ``tp_`` and its scene key, at most 30 characters."""
    state = STATE_PREFIX + scene_key
    if len(state) > STATE_MAX_LENGTH:
        raise ValueError(f"state {state!r} is longer than {STATE_MAX_LENGTH} characters")
    return state


def launch_url(scene_key: str) -> str:
    """The sandbox QR content for ``scene_key``."""
    return SANDBOX_LAUNCH_URL + scene_key


def qr_png(content: str, scale: int = 8) -> bytes:
    """A QR code of ``content`` as PNG bytes (rendered in memory)."""
    buffer = io.BytesIO()
    segno.make(content, error="m").save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()


def qr_svg(content: str, scale: int = 8) -> str:
    """A QR code of ``content`` as an SVG document."""
    buffer = io.BytesIO()
    segno.make(content, error="m").save(buffer, kind="svg", scale=scale, border=4, xmldecl=True)
    return buffer.getvalue().decode("utf-8")


@dataclass(frozen=True)
class PrintedCode:
    """One code to print: where it goes and what it carries."""

    store_code: str
    store_name: str
    touchpoint_code: str
    kind_label: str
    scene_key: str
    wecom_state: str


def code_sheet_svg(code: PrintedCode, scale: int = 8) -> str:
    """A printable sheet: the QR code with the store's name, its code and the touchpoint kind
    under it, so a store can tell its own codes apart."""
    qr = segno.make(launch_url(code.scene_key), error="m")
    side = qr.symbol_size(scale=scale, border=4)[0]
    buffer = io.BytesIO()
    qr.save(buffer, kind="svg", scale=scale, border=4, xmldecl=False, svgns=True)
    inner = buffer.getvalue().decode("utf-8")
    lines = [code.store_name, f"{code.store_code} · {code.kind_label}", code.touchpoint_code]
    text = "".join(
        f'<text x="{side / 2}" y="{side + 24 + 22 * n}" text-anchor="middle" '
        f'font-family="sans-serif" font-size="{18 if n == 0 else 13}">{escape(line)}</text>'
        for n, line in enumerate(lines)
    )
    height = side + 24 + 22 * len(lines)
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" '
        f'width="{side}" height="{height}" viewBox="0 0 {side} {height}">'
        f'<rect width="100%" height="100%" fill="#fff"/>{inner}{text}</svg>'
    )


def codes_zip(codes: Sequence[PrintedCode]) -> bytes:
    """A ZIP ready to print: per store a sheet (SVG, with its name) and the bare QR code (PNG),
    and an index (CSV) of every code."""
    buffer = io.BytesIO()
    index = io.StringIO()
    writer = csv.writer(index)
    writer.writerow(
        ["store_code", "store_name", "touchpoint_code", "kind", "scene_key", "wecom_state", "url"]
    )
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for code in codes:
            stem = f"{code.store_code}_{code.touchpoint_code}"
            archive.writestr(f"sheets/{stem}.svg", code_sheet_svg(code))
            archive.writestr(f"png/{stem}.png", qr_png(launch_url(code.scene_key)))
            writer.writerow(
                [
                    code.store_code,
                    code.store_name,
                    code.touchpoint_code,
                    code.kind_label,
                    code.scene_key,
                    code.wecom_state,
                    launch_url(code.scene_key),
                ]
            )
        archive.writestr("index.csv", "\ufeff" + index.getvalue())
    return buffer.getvalue()
