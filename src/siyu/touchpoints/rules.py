"""Touchpoint kinds, scene keys, code media, and drawing codes to print: pure rules, no I/O.

A touchpoint (触点) is any place a customer can reach the brand; its codes (布码) carry a short
*scene key* that the server resolves. The mini-program's ``scene`` is at most 32 visible
characters from ``[0-9A-Za-z!#$&'()*+,/:;=?@-._~]`` (no ``%``); a WeCom 联系我 / 加入群聊
``state`` is at most 30 characters; an official account's parametric QR ``scene_str`` at most
64 (see /work/shared/notes/wechat.md, "Codes and attribution").

Drawing: each code is encoded once (segno) and that one symbol gives both its PNG and its
vector SVG; a printed sheet is an SVG template around the symbol. A mini-program code is a PNG
only WeChat draws, so its sheet embeds the PNG.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import re
import secrets
import string
import struct
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from html import escape
from urllib.parse import quote

import segno

SCENE_MAX_LENGTH = 32
STATE_MAX_LENGTH = 30
SCENE_CHARSET = frozenset(string.ascii_letters + string.digits + "!#$&'()*+,/:;=?@-._~")
# Lower-case Crockford base32 (no i, l, o, u): unambiguous when printed under a code.
KEY_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
SCENE_PREFIX = "t"
SCENE_RANDOM_LENGTH = 12  # 60 bits: collisions are retried, not expected
STATE_PREFIX = "tp_"
SCENE_STR_MAX_LENGTH = 64  # official-account parametric QR
# The content of a link QR (普通链接二维码): a URL carrying the scene key that opens the
# mini program; in the sandbox the domain is a stand-in.
SANDBOX_LAUNCH_URL = "https://mp.example/launch?scene="
# What the sandbox's official account and WeCom put in their QR codes (the live ones are drawn
# by the platforms).
SANDBOX_OFFICIAL_ACCOUNT_URL = "https://oa.example/qrcode?scene_str="
SANDBOX_WECOM_URL = "https://work.example/contact?state="
HOME_PAGE = "pages/index/index"
PAGE_MAX_LENGTH = 128
PAGE_PATTERN = r"^[A-Za-z0-9_\-]+(/[A-Za-z0-9_\-]+)*$"
MINI_PROGRAM_CODE_WIDTH = 430  # WeChat's default, px
QR_SCALE = 8  # px per module: a version-4 symbol is 328 px with its quiet zone
MAX_CODES_PER_TOUCHPOINT = 200
DEFAULT_CODE_LABEL = "默认"  # the label of a touchpoint's first code


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
    """The link-QR content for ``scene_key``."""
    return SANDBOX_LAUNCH_URL + scene_key


def is_valid_page(page: str) -> bool:
    """A mini-program page as WeChat takes it: a path without a leading ``/`` or a query."""
    return len(page) <= PAGE_MAX_LENGTH and re.fullmatch(PAGE_PATTERN, page) is not None


class Medium(StrEnum):
    """What a code is printed as."""

    LINK_QR = "link_qr"  # 普通链接二维码: a QR of the launch URL
    MINI_PROGRAM_CODE = "mini_program_code"  # 小程序码 (wxacode.getUnlimited, scene = key)
    OFFICIAL_ACCOUNT_QR = "official_account_qr"  # 公众号带参二维码 (scene_str = key)
    WECOM_CONTACT_WAY = "wecom_contact_way"  # 企业微信联系我 (state = tp_ + key)


MEDIUM_LABELS: dict[Medium, str] = {
    Medium.LINK_QR: "普通二维码",
    Medium.MINI_PROGRAM_CODE: "小程序码",
    Medium.OFFICIAL_ACCOUNT_QR: "公众号带参二维码",
    Medium.WECOM_CONTACT_WAY: "企业微信联系我",
}


def medium_parameter(medium: Medium, scene_key: str, wecom_state: str, page: str | None) -> str:
    """What a code of ``medium`` carries to the platform, as the platform names it."""
    if medium is Medium.MINI_PROGRAM_CODE:
        return f"{page or HOME_PAGE}?scene={scene_key}"
    if medium is Medium.OFFICIAL_ACCOUNT_QR:
        return f"scene_str={scene_key}"
    if medium is Medium.WECOM_CONTACT_WAY:
        return f"state={wecom_state}"
    return launch_url(scene_key)


def sandbox_content(medium: Medium, scene_key: str, wecom_state: str) -> str | None:
    """The QR content siyu draws itself for ``medium``; None for a mini-program code (WeChat
    draws it). Official-account and WeCom codes are the sandbox platforms' URLs."""
    if medium is Medium.LINK_QR:
        return launch_url(scene_key)
    if medium is Medium.OFFICIAL_ACCOUNT_QR:
        if len(scene_key) > SCENE_STR_MAX_LENGTH:
            raise ValueError(f"scene_str {scene_key!r} is longer than {SCENE_STR_MAX_LENGTH}")
        return SANDBOX_OFFICIAL_ACCOUNT_URL + quote(scene_key, safe="")
    if medium is Medium.WECOM_CONTACT_WAY:
        return SANDBOX_WECOM_URL + quote(wecom_state, safe="")
    return None


def qr_source(content: str, scale: int = QR_SCALE) -> str:
    """What a QR drawn here is made from (a kept image with another source is redrawn)."""
    return f"qr/{scale}:{content}"


def mini_program_code_source(sandbox: bool, app_id: str, scene: str, page: str | None) -> str:
    """What a mini-program code is made from: who drew it, for which AppID, page and scene."""
    mode = "sandbox" if sandbox else "live"
    return f"wxacode/{mode}/{MINI_PROGRAM_CODE_WIDTH}:{app_id}:{page or HOME_PAGE}?scene={scene}"


@dataclass(frozen=True)
class CodeImage:
    """A drawn code: its PNG and, when drawn here as a QR symbol, the symbol as an SVG element
    (no XML declaration; None for a mini-program code, which WeChat draws as a PNG only)."""

    png: bytes
    svg: str | None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.png).hexdigest()

    def svg_document(self) -> str:
        """A standalone SVG of the bare code (a mini-program code's PNG embedded)."""
        if self.svg is not None:
            return XML_DECLARATION + self.svg
        width, height = png_size(self.png)
        return (
            f'{XML_DECLARATION}<svg xmlns="{SVG_NS}" xmlns:xlink="{XLINK_NS}" width="{width}" '
            f'height="{height}" viewBox="0 0 {width} {height}">'
            f"{_embedded_png(self.png, width, height)}</svg>"
        )


XML_DECLARATION = '<?xml version="1.0" encoding="utf-8"?>\n'
SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"


def draw_qr(content: str, scale: int = QR_SCALE) -> CodeImage:
    """A QR code of ``content``, encoded once, as PNG and SVG (4-module quiet zone)."""
    qr = segno.make(content, error="m")
    svg = io.BytesIO()
    qr.save(svg, kind="svg", scale=scale, border=4, xmldecl=False, svgns=True)
    png = qr_matrix_png(qr.matrix, scale)
    return CodeImage(png, svg.getvalue().decode("utf-8"))


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def qr_matrix_png(matrix: Sequence[Sequence[int]], scale: int, border: int = 4) -> bytes:
    """A 1-bit greyscale PNG of a QR matrix (1 = dark) with a ``border``-module quiet zone,
    each module ``scale`` px square.

    segno draws the same pixels, but packs their bits one by one in Python and deflates at
    level 9 (about 3 ms for a version-4 code, more than encoding it); here each module row is
    packed at once from a string of bits and deflated at level 6 (smaller here, and 7 times
    faster), about 0.2 ms."""
    modules = ("1" * scale, "0" * scale)  # light, dark: 1-bit greyscale, 0 is black
    width = (len(matrix) + 2 * border) * scale
    quiet, padding = "1" * (border * scale), "1" * (-width % 8)
    row_bytes = (width + 7) // 8

    def scanlines(bits: str) -> bytes:
        return (b"\x00" + int(bits + padding, 2).to_bytes(row_bytes, "big")) * scale

    blank = scanlines("1" * width) * border
    body = b"".join(
        scanlines(quiet + "".join(map(modules.__getitem__, row)) + quiet) for row in matrix
    )
    header = struct.pack(">IIBBBBB", width, width, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(blank + body + blank, 6))
        + _png_chunk(b"IEND", b"")
    )


def png_size(png: bytes) -> tuple[int, int]:
    """(width, height) of a PNG, from its IHDR chunk."""
    if png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        raise ValueError("not a PNG")
    width, height = struct.unpack(">II", png[16:24])
    return int(width), int(height)


def _embedded_png(png: bytes, width: int, height: int) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<image width="{width}" height="{height}" xlink:href="data:image/png;base64,{data}"/>'


@dataclass(frozen=True)
class PrintedCode:
    """One code to print: where it goes and what it carries."""

    store_code: str
    store_name: str
    touchpoint_code: str
    kind_label: str
    scene_key: str
    wecom_state: str
    medium: Medium = Medium.LINK_QR
    label: str = DEFAULT_CODE_LABEL
    page: str | None = None

    @property
    def parameter(self) -> str:
        return medium_parameter(self.medium, self.scene_key, self.wecom_state, self.page)


# The sheet under the code: store name (18 px), "store code · kind", touchpoint code (13 px).
_SHEET_LINE = (
    '<text x="{x}" y="{y}" text-anchor="middle" font-family="sans-serif" '
    'font-size="{size}">{text}</text>'
)


def code_sheet_svg(code: PrintedCode, image: CodeImage) -> str:
    """A printable sheet: the code with the store's name, its code and the touchpoint kind
    under it, so a store can tell its own codes apart."""
    side, symbol_height = png_size(image.png)
    symbol = image.svg if image.svg is not None else _embedded_png(image.png, side, symbol_height)
    lines = (code.store_name, f"{code.store_code} · {code.kind_label}", code.touchpoint_code)
    text = "".join(
        _SHEET_LINE.format(
            x=side / 2,
            y=symbol_height + 24 + 22 * n,
            size=18 if n == 0 else 13,
            text=escape(line),
        )
        for n, line in enumerate(lines)
    )
    height = symbol_height + 24 + 22 * len(lines)
    return (
        f'{XML_DECLARATION}<svg xmlns="{SVG_NS}" xmlns:xlink="{XLINK_NS}" width="{side}" '
        f'height="{height}" viewBox="0 0 {side} {height}">'
        f'<rect width="100%" height="100%" fill="#fff"/>{symbol}{text}</svg>'
    )


INDEX_COLUMNS = (
    "store_code",
    "store_name",
    "touchpoint_code",
    "kind",
    "label",
    "medium",
    "scene_key",
    "wecom_state",
    "url",
)


class CodeArchive:
    """A ZIP ready to print, written one code at a time (so a run can add codes as it goes):
    per code a sheet (SVG, with the store's name) under ``sheets/`` and the bare code (PNG)
    under ``png/``, and on ``close`` an index (CSV, UTF-8 with BOM for Excel) of every code.
    PNGs are stored, not deflated: they are compressed already."""

    def __init__(self) -> None:
        self._buffer = io.BytesIO()
        self._zip = zipfile.ZipFile(self._buffer, "w", compression=zipfile.ZIP_DEFLATED)
        self._index = io.StringIO()
        self._writer = csv.writer(self._index)
        self._writer.writerow(INDEX_COLUMNS)
        self.count = 0

    def add(self, code: PrintedCode, image: CodeImage) -> None:
        stem = f"{code.store_code}_{code.touchpoint_code}"
        self._zip.writestr(f"sheets/{stem}.svg", code_sheet_svg(code, image))
        self._zip.writestr(f"png/{stem}.png", image.png, compress_type=zipfile.ZIP_STORED)
        self._writer.writerow(
            [
                code.store_code,
                code.store_name,
                code.touchpoint_code,
                code.kind_label,
                code.label,
                code.medium.value,
                code.scene_key,
                code.wecom_state,
                code.parameter,
            ]
        )
        self.count += 1

    def close(self) -> bytes:
        """The finished ZIP; the archive takes no more codes."""
        self._zip.writestr("index.csv", "\ufeff" + self._index.getvalue())
        self._zip.close()
        return self._buffer.getvalue()


def codes_zip(codes: Iterable[tuple[PrintedCode, CodeImage]]) -> bytes:
    """``CodeArchive`` of ``codes`` in one go."""
    archive = CodeArchive()
    for code, image in codes:
        archive.add(code, image)
    return archive.close()
