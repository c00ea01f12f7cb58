"""Message size limits, and splitting a long text so that every part fits.

The outbox splits before it writes rows (one row per part), so a sender should never see an
over-long message; if one does, it refuses with ``PermanentDelivery`` rather than let the
platform truncate it silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

LIMITS: Final[Mapping[str, int]] = MappingProxyType(
    {
        "wecom_text": 2048,  # webhook text.content and app text.content
        "wecom_markdown": 4096,  # webhook markdown.content
        "wecom_app_markdown": 2048,  # app message markdown.content
        "dingtalk": 20000,  # the whole request body, custom robot and session webhook
    }
)
"""Platform limits in UTF-8 bytes."""

WECOM_MENTION_HEADROOM: Final = 1024
"""Room left in WeCom markdown for the ``<@userid>`` line the sender appends."""

DINGTALK_HEADROOM: Final = 4000
"""Room left in DingTalk's 20,000-byte body for the JSON envelope, the title, the ``at``
lists, the `` @mobile`` suffixes and JSON escapes (a newline costs two bytes)."""

MIN_LIMIT: Final = 4
"""The longest UTF-8 character; no smaller limit can split every text."""


def max_text_bytes(platform: str, markdown: bool, *, target_kind: str = "group") -> int:
    """The byte budget for ``OutboundMessage.text`` on ``platform``.

    ``target_kind`` matters on WeCom only: a markdown app message to a person (``"person"``)
    allows 2048 bytes where the group robot allows 4096.
    """
    if platform == "wecom":
        if not markdown:
            return LIMITS["wecom_text"]
        if target_kind == "person":
            return LIMITS["wecom_app_markdown"]
        return LIMITS["wecom_markdown"] - WECOM_MENTION_HEADROOM
    if platform == "dingtalk":
        return LIMITS["dingtalk"] - DINGTALK_HEADROOM
    raise ValueError(f"unknown platform '{platform}'")


def utf8_len(text: str) -> int:
    """Length of ``text`` in UTF-8 bytes."""
    return len(text.encode("utf-8"))


def split_text(text: str, limit_bytes: int) -> list[str]:
    """Split ``text`` into non-empty parts of at most ``limit_bytes`` UTF-8 bytes each.

    Parts break at line ends, and each break consumes exactly one ``"\\n"``, so
    ``"\\n".join(parts) == text`` whenever no line is longer than the limit. Blank lines stay
    with the line after them (a part never consists of blank lines alone). A line that is
    longer than the limit on its own is cut between characters (never inside one). ``""``
    gives ``[]``.
    """
    if limit_bytes < MIN_LIMIT:
        raise ValueError(f"limit_bytes must be at least {MIN_LIMIT}, not {limit_bytes}")
    if not text:
        return []
    parts: list[str] = []
    current: str | None = None
    for unit in _units(text):
        if current is not None and utf8_len(current) + 1 + utf8_len(unit) <= limit_bytes:
            current = f"{current}\n{unit}"
            continue
        if current is not None:
            parts.append(current)
            current = None
        if utf8_len(unit) <= limit_bytes:
            current = unit
        else:
            parts.extend(_split_chars(unit, limit_bytes))
    if current is not None:
        parts.append(current)
    return parts


def _units(text: str) -> list[str]:
    """Lines, with each run of blank lines glued to the line after it (or, at the very end,
    to the line before it), so that no unit is empty."""
    units: list[str] = []
    blanks: list[str] = []
    for line in text.split("\n"):
        if line:
            units.append("\n".join([*blanks, line]))
            blanks = []
        else:
            blanks.append(line)
    if blanks:
        if units:
            units[-1] = "\n".join([units[-1], *blanks])
        else:  # the text is nothing but newlines
            units.append("\n".join(blanks))
    return units


def _split_chars(text: str, limit_bytes: int) -> list[str]:
    parts: list[str] = []
    start = 0
    size = 0
    for index, char in enumerate(text):
        width = utf8_len(char)
        if size + width > limit_bytes:
            parts.append(text[start:index])
            start, size = index, 0
        size += width
    parts.append(text[start:])
    return parts
