"""Pure rules of touchpoints: the built-in kinds, scene keys and WeCom states."""

from __future__ import annotations

import base64
import io
import zipfile
import zlib
from xml.dom import minidom

import pytest
import segno

from siyu.touchpoints import rules
from siyu.touchpoints.rules import Carrier, Medium


def test_there_are_at_least_30_built_in_kinds_grouped_by_carrier() -> None:
    groups = rules.kinds_by_carrier()
    assert len(rules.BUILT_IN_KINDS) == 33
    assert list(groups) == list(Carrier)
    assert [k.code for k in groups[Carrier.OFFICIAL_ACCOUNT]][:4] == [
        "oa_menu",
        "oa_article",
        "oa_template_message",
        "oa_follow_reply",
    ]
    assert {"guide_code", "guide_share", "guide_moments_post"} <= {
        k.code for k in groups[Carrier.WECOM]
    }
    assert {"shelf_code", "counter_code", "receipt_code", "poster", "smart_screen"} <= {
        k.code for k in groups[Carrier.STORE]
    }
    assert rules.BUILT_IN_BY_CODE["shelf_code"].label == "货架码"
    assert len(rules.BUILT_IN_BY_CODE) == len(rules.BUILT_IN_KINDS)


def test_a_thousand_scene_keys_are_unique_short_and_in_the_allowed_set() -> None:
    keys = [rules.new_scene_key() for _ in range(1000)]
    assert len(set(keys)) == 1000
    for key in keys:
        assert len(key) == 13 <= rules.SCENE_MAX_LENGTH
        assert set(key) <= rules.SCENE_CHARSET
        assert rules.is_valid_scene_key(key)
        assert len(rules.state_for(key)) <= rules.STATE_MAX_LENGTH


def test_scene_key_validity() -> None:
    assert rules.is_valid_scene_key("a" * 32)
    assert rules.is_valid_scene_key("A1!#$&'()*+,/:;=?@-._~")
    assert not rules.is_valid_scene_key("a" * 33)
    assert not rules.is_valid_scene_key("")
    assert not rules.is_valid_scene_key("a%20b")
    assert not rules.is_valid_scene_key("货架")


def test_the_state_is_the_key_with_a_prefix() -> None:
    assert rules.state_for("tabc") == "tp_tabc"
    assert rules.launch_url("tabc") == "https://mp.example/launch?scene=tabc"


def _pixels(png: bytes) -> list[str]:
    """The rows of a 1-bit greyscale PNG as strings of 0 (black) and 1, whatever filters its
    rows use (segno's use 'Up' for repeated rows, ours none)."""
    width, _ = rules.png_size(png)
    position, data = 8, b""
    while position < len(png):
        length = int.from_bytes(png[position : position + 4], "big")
        if png[position + 4 : position + 8] == b"IDAT":
            data += png[position + 8 : position + 8 + length]
        position += 12 + length
    raw = zlib.decompress(data)
    stride = (width + 7) // 8
    rows, previous = [], bytes(stride)
    for start in range(0, len(raw), stride + 1):
        line = raw[start + 1 : start + 1 + stride]
        assert raw[start] in (0, 2)  # None or Up
        if raw[start] == 0:
            current = line
        else:
            current = bytes((a + b) & 255 for a, b in zip(line, previous, strict=True))
        rows.append(bin(int.from_bytes(current, "big"))[2:].zfill(stride * 8)[:width])
        previous = current
    return rows


@pytest.mark.parametrize("scale", [1, 3, 8, 10])
def test_our_png_has_exactly_segnos_pixels(scale: int) -> None:
    qr = segno.make(rules.launch_url("tabcdefgh1234"), error="m")
    theirs = io.BytesIO()
    qr.save(theirs, kind="png", scale=scale, border=4)
    ours = rules.qr_matrix_png(qr.matrix, scale)
    assert rules.png_size(ours) == rules.png_size(theirs.getvalue())
    assert _pixels(ours) == _pixels(theirs.getvalue())


def test_a_drawn_qr_is_one_symbol_as_png_and_svg() -> None:
    image = rules.draw_qr(rules.launch_url(rules.new_scene_key()))
    side, height = rules.png_size(image.png)
    assert side == height == (33 + 8) * rules.QR_SCALE  # version 4 and its quiet zone
    assert image.svg is not None and image.svg.startswith("<svg")
    assert f'width="{side}"' in image.svg
    assert image.svg_document().startswith('<?xml version="1.0" encoding="utf-8"?>\n<svg')
    with pytest.raises(ValueError, match="not a PNG"):
        rules.png_size(b"GIF89a" + bytes(30))


def test_what_each_medium_carries() -> None:
    key, state = "tabc", "tp_tabc"
    assert rules.medium_parameter(Medium.LINK_QR, key, state, None) == rules.launch_url(key)
    assert rules.medium_parameter(Medium.MINI_PROGRAM_CODE, key, state, None) == (
        "pages/index/index?scene=tabc"
    )
    assert rules.medium_parameter(Medium.MINI_PROGRAM_CODE, key, state, "pages/s/i") == (
        "pages/s/i?scene=tabc"
    )
    assert rules.medium_parameter(Medium.OFFICIAL_ACCOUNT_QR, key, state, None) == (
        "scene_str=tabc"
    )
    assert rules.medium_parameter(Medium.WECOM_CONTACT_WAY, key, state, None) == "state=tp_tabc"
    assert rules.sandbox_content(Medium.MINI_PROGRAM_CODE, key, state) is None
    assert rules.sandbox_content(Medium.OFFICIAL_ACCOUNT_QR, "a:b", state) == (
        "https://oa.example/qrcode?scene_str=a%3Ab"
    )
    assert rules.sandbox_content(Medium.WECOM_CONTACT_WAY, key, state) == (
        "https://work.example/contact?state=tp_tabc"
    )


@pytest.mark.parametrize(
    ("page", "valid"),
    [
        ("pages/index/index", True),
        ("pages/store-detail/index_2", True),
        ("/pages/index/index", False),
        ("pages/index/index?store=1", False),
        ("pages//index", False),
        ("", False),
        ("p/" + "x" * 127, False),
    ],
)
def test_page_validity(page: str, valid: bool) -> None:
    assert rules.is_valid_page(page) is valid


def test_the_archive_has_a_sheet_and_a_png_per_code_and_an_index() -> None:
    # given a drawn link QR and a mini-program code (a PNG only WeChat draws)
    link = rules.PrintedCode("S1", "静安 & 店", "S1-shelf_code", "货架码", "tabc", "tp_tabc")
    mini = rules.PrintedCode(
        "S2",
        "徐汇店",
        "S2-shelf_code",
        "货架码",
        "tdef",
        "tp_tdef",
        medium=Medium.MINI_PROGRAM_CODE,
        label="小程序码",
    )
    mini_png = rules.draw_qr("anything").png
    # when
    content = rules.codes_zip(
        [(link, rules.draw_qr(rules.launch_url("tabc"))), (mini, rules.CodeImage(mini_png, None))]
    )
    # then
    archive = zipfile.ZipFile(io.BytesIO(content))
    assert archive.namelist() == [
        "sheets/S1_S1-shelf_code.svg",
        "png/S1_S1-shelf_code.png",
        "sheets/S2_S2-shelf_code.svg",
        "png/S2_S2-shelf_code.png",
        "index.csv",
    ]
    assert archive.getinfo("png/S1_S1-shelf_code.png").compress_type == zipfile.ZIP_STORED
    sheet = archive.read("sheets/S1_S1-shelf_code.svg").decode()
    minidom.parseString(sheet.encode())  # noqa: S318 - our own output
    assert ">静安 &amp; 店<" in sheet
    assert ">S1 · 货架码<" in sheet
    embedded = archive.read("sheets/S2_S2-shelf_code.svg").decode()
    assert "data:image/png;base64," + base64.b64encode(mini_png).decode() in embedded
    assert archive.read("png/S2_S2-shelf_code.png") == mini_png
    index = archive.read("index.csv").decode("utf-8-sig").splitlines()
    assert index == [
        "store_code,store_name,touchpoint_code,kind,label,medium,scene_key,wecom_state,url",
        "S1,静安 & 店,S1-shelf_code,货架码,默认,link_qr,tabc,tp_tabc,"
        "https://mp.example/launch?scene=tabc",
        "S2,徐汇店,S2-shelf_code,货架码,小程序码,mini_program_code,tdef,tp_tdef,"
        "pages/index/index?scene=tdef",
    ]
