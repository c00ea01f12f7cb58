"""Pure text helpers both the runtime and the handlers use: UTF-8 sizes, splitting a long
text (``split_text``) or a head and its lines (``paginate``) into parts that fit a byte
budget, and reminder offsets (``3d``, ``2h``)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Final, TypeAlias

from handlers.messages import Mention

Line: TypeAlias = tuple[str, tuple[Mention, ...]]
"""One line of a push and the people it names (to @-mention in the part that holds it)."""

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


@dataclass(frozen=True, slots=True)
class Part:
    """One message of a possibly split push, with the mentions of the people it lists."""

    text: str
    mentions: tuple[Mention, ...] = ()


def paginate(head: str, lines: Sequence[Line], limit: int, *, tail: str = "") -> list[Part]:
    """Pack ``head``, ``lines`` and ``tail`` into parts of at most ``limit`` UTF-8 bytes.

    A line is never split between parts unless it is too long for any part on its own;
    later parts start with the head's first line and （续）so each can be read on its own.
    """
    again = head.split("\n", 1)[0] + "（续）"
    # Room for one line in a part that holds nothing else, whichever header it starts with.
    room = limit - max(utf8_len(head), utf8_len(again)) - 1
    parts: list[Part] = []
    text, mentions, empty = head, list[Mention](), True

    def flush() -> None:
        nonlocal text, mentions, empty
        parts.append(Part(text, tuple(dict.fromkeys(mentions))))
        text, mentions, empty = again, [], True

    for line, who in [*lines, *([(tail, ())] if tail else [])]:
        fits = utf8_len(text) + 1 + utf8_len(line) <= limit
        if not fits and not empty:
            flush()
            fits = utf8_len(text) + 1 + utf8_len(line) <= limit
        for index, piece in enumerate([line] if fits else split_text(line, room)):
            if index:
                flush()
            text, empty = f"{text}\n{piece}", False
        mentions.extend(who)
    parts.append(Part(text, tuple(dict.fromkeys(mentions))))
    return parts
