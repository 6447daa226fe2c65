"""The pure rules of the catalog: the category tree, yuan prices, attributes, images."""

from __future__ import annotations

import pytest

from siyu.catalog.rules import (
    CatalogRuleError,
    creates_cycle,
    descendants,
    format_attributes,
    format_price_yuan,
    parse_attributes,
    parse_images,
    parse_price_yuan,
    sold_in_channel,
)

TREE = {1: None, 2: 1, 3: 1, 4: 2, 5: None}


def test_descendants_include_the_root_and_every_level_below() -> None:
    assert descendants(TREE, 1) == {1, 2, 3, 4}
    assert descendants(TREE, 2) == {2, 4}
    assert descendants(TREE, 5) == {5}


@pytest.mark.parametrize(
    ("category", "parent", "cycle"),
    [(1, 4, True), (2, 2, True), (2, 4, True), (4, 3, False), (1, 5, False)],
)
def test_moving_below_a_descendant_is_a_cycle(category: int, parent: int, cycle: bool) -> None:
    assert creates_cycle(TREE, category, parent) is cycle


@pytest.mark.parametrize(
    ("text", "fen"),
    [("199.00", 19900), ("199", 19900), ("199.5", 19950), ("0.01", 1), ("0", 0), (" 59.90 ", 5990)],
)
def test_prices_in_yuan_become_fen(text: str, fen: int) -> None:
    assert parse_price_yuan(text) == fen


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("199.005", "a price has at most 2 decimals (fen)"),
        ("-1.00", "a price cannot be negative"),
        ("1,999.00", "'1,999.00' is not an amount in yuan like 199.00"),
        ("1e3", "'1e3' is not an amount in yuan like 199.00"),
        ("", "'' is not an amount in yuan like 199.00"),
        ("¥199", "'¥199' is not an amount in yuan like 199.00"),
    ],
)
def test_bad_prices_are_refused_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(CatalogRuleError) as raised:
        parse_price_yuan(text)
    assert str(raised.value) == reason


@pytest.mark.parametrize("fen", [0, 1, 10, 19900, 5990])
def test_formatted_prices_read_back(fen: int) -> None:
    assert parse_price_yuan(format_price_yuan(fen)) == fen


def test_attributes_are_name_value_pairs() -> None:
    assert parse_attributes("colour=red; size = M;") == {"colour": "red", "size": "M"}
    assert parse_attributes("") == {}
    assert format_attributes({"colour": "red", "size": "M"}) == "colour=red;size=M"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("colour", "'colour' is not name=value; write e.g. colour=red;size=M"),
        ("=red", "'=red' is not name=value; write e.g. colour=red;size=M"),
        ("size=", "'size=' is not name=value; write e.g. colour=red;size=M"),
        ("size=M;size=L", "the attribute 'size' is given twice"),
    ],
)
def test_bad_attributes_are_refused(text: str, reason: str) -> None:
    with pytest.raises(CatalogRuleError) as raised:
        parse_attributes(text)
    assert str(raised.value) == reason


def test_images_are_http_urls_separated_by_bars() -> None:
    assert parse_images("https://a.cn/1.jpg | http://a.cn/2.jpg|") == [
        "https://a.cn/1.jpg",
        "http://a.cn/2.jpg",
    ]
    with pytest.raises(CatalogRuleError) as raised:
        parse_images("https://a.cn/1.jpg|ftp://a.cn/2.jpg")
    assert str(raised.value) == "'ftp://a.cn/2.jpg' is not an http(s) URL"


def test_a_channel_exclusive_item_is_sold_only_in_its_channel() -> None:
    assert sold_in_channel(None, "mini_program")
    assert sold_in_channel("mini_program", "mini_program")
    assert not sold_in_channel("offline", "mini_program")
