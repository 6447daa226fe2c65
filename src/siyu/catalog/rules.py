"""Pure rules of the catalog: the category tree, prices in yuan, variant attributes, images.

No I/O. Prices are integer fen everywhere; the only place a decimal yuan amount is read is
``parse_price_yuan`` (CSV files written by people), which never goes through a float.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

MALL_CHANNEL = "mini_program"
MAX_PRICE_FEN = 10**12  # ten billion yuan: far above any list price, far below bigint

_PRICE = re.compile(r"^(\d{1,10})(?:\.(\d{1,2}))?$")
_CHANNEL = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_URL = re.compile(r"^https?://[^\s|]+$")


class CatalogRuleError(ValueError):
    """A value a person wrote that the catalog cannot accept; the message says why."""


# ---------------------------------------------------------------- the category tree


def descendants(parent_of: Mapping[int, int | None], root: int) -> set[int]:
    """``root`` and every category below it, given each category's parent."""
    children: dict[int, list[int]] = {}
    for child, parent in parent_of.items():
        if parent is not None:
            children.setdefault(parent, []).append(child)
    found = {root}
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def creates_cycle(parent_of: Mapping[int, int | None], category: int, new_parent: int) -> bool:
    """Whether putting ``category`` below ``new_parent`` would make the tree a loop."""
    return new_parent in descendants(parent_of, category)


# ---------------------------------------------------------------- values in CSV files


def parse_price_yuan(text: str) -> int:
    """``199.00`` / ``199.9`` / ``199`` yuan -> fen. Refuses negatives, more than two decimals,
    thousands separators, exponents and anything else that is not a plain amount."""
    value = text.strip()
    match = _PRICE.match(value)
    if not match:
        if value.startswith("-"):
            raise CatalogRuleError("a price cannot be negative")
        if re.match(r"^\d+\.\d{3,}$", value):
            raise CatalogRuleError("a price has at most 2 decimals (fen)")
        raise CatalogRuleError(f"'{value}' is not an amount in yuan like 199.00")
    whole, decimals = match.group(1), match.group(2) or ""
    return int(whole) * 100 + int(decimals.ljust(2, "0"))


def format_price_yuan(fen: int) -> str:
    """19900 -> ``199.00``: what ``parse_price_yuan`` reads back to the same fen."""
    return f"{fen // 100}.{fen % 100:02d}"


def parse_attributes(text: str) -> dict[str, str]:
    """``colour=red;size=M`` -> ``{"colour": "red", "size": "M"}``; empty text is no attributes.

    Names and values are stripped; a name must be unique and non-empty, a value non-empty.
    """
    attributes: dict[str, str] = {}
    for part in text.split(";"):
        if not part.strip():
            continue
        name, equals, value = part.partition("=")
        name, value = name.strip(), value.strip()
        if not equals or not name or not value:
            raise CatalogRuleError(
                f"'{part.strip()}' is not name=value; write e.g. colour=red;size=M"
            )
        if name in attributes:
            raise CatalogRuleError(f"the attribute '{name}' is given twice")
        attributes[name] = value
    return attributes


def format_attributes(attributes: Mapping[str, object]) -> str:
    return ";".join(f"{name}={value}" for name, value in attributes.items())


def parse_images(text: str) -> list[str]:
    """``https://a/1.jpg|https://a/2.jpg`` -> the URLs, in order. Each must be http(s)."""
    urls = [part.strip() for part in text.split("|") if part.strip()]
    for url in urls:
        if not _URL.match(url):
            raise CatalogRuleError(f"'{url}' is not an http(s) URL")
    return urls


def is_valid_channel(channel: str) -> bool:
    """Channel names: lower-case letters, digits and ``_``, starting with a letter."""
    return bool(_CHANNEL.match(channel))


def sold_in_channel(exclusive_channel: str | None, channel: str) -> bool:
    """A channel-exclusive item (专供款) is sold only in its channel; others everywhere."""
    return exclusive_channel is None or exclusive_channel == channel
