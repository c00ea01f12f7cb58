"""Pure text helpers both the runtime and the handlers use: UTF-8 sizes, splitting a long
text into parts that fit a byte budget, and reminder offsets (``3d``, ``2h``)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Final

MIN_LIMIT: Final = 4
"""The longest UTF-8 character; no smaller limit can split every text."""

_OFFSET = re.compile(r"^\s*(\d+)\s*(d|h|m|s)\s*$")
_OFFSET_UNITS = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}


def parse_offset(text: str) -> timedelta:
    """``"3d"``, ``"2h"``, ``"30m"``, ``"45s"`` → timedelta; ValueError otherwise."""
    match = _OFFSET.match(text)
    if not match:
        raise ValueError(f"'{text}' is not an offset like 3d, 2h or 30m")
    return timedelta(**{_OFFSET_UNITS[match.group(2)]: int(match.group(1))})


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
