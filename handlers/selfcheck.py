"""Structured self-checks (自查): a deadline that declares fields, answered in chat.

A deadline's ``fields`` are indicators with choices (``达标`` / ``未达标``) or free-text
items (说明). A principal answers one line per indicator, in any order and over several
messages (``提交 自查 办学理念 达标``), or all the choices at once in the fields' order
(``提交 自查 达标 达标 未达标 …``); words after a choice are that indicator's note. Each
answer is checked like a score: an unknown indicator or a value that is not one of its
choices refuses the whole message, naming the line and what is allowed. The values of a new
version are merged over the entry's previous ones, so the latest version holds them all.
``read_values`` is pure; ``answers_text`` says what is recorded and what is still missing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from handlers.errors import BotError

NOTE = "（说明）"
"""Suffix of the key a choice's note is kept under (``课程建设（说明）``)."""
_SPLIT = re.compile(r"[\n;；]+")
_WORDS = re.compile(r"[\s,，、:：]+")


@dataclass(frozen=True, slots=True)
class CheckField:
    """One indicator of a self-check."""

    name: str
    choices: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()


def fields_of(raw: Sequence[Mapping[str, Any]] | None) -> list[CheckField]:
    """The stored field definitions (``Deadline.fields``) as values."""
    return [
        CheckField(str(f["name"]), tuple(f.get("choices") or ()), tuple(f.get("aliases") or ()))
        for f in raw or ()
    ]


def _field(word: str, fields: Sequence[CheckField]) -> CheckField | None:
    """The field ``word`` names: exactly, else as the unique start of a name or alias."""
    for exact in (True, False):
        hits = [
            f
            for f in fields
            if any(n == word if exact else n.startswith(word) for n in (f.name, *f.aliases))
        ]
        if len(hits) == 1:
            return hits[0]
    return None


def _choice(word: str, field: CheckField) -> str | None:
    if word in field.choices:
        return word
    hits = [c for c in field.choices if c.startswith(word)]
    return hits[0] if len(hits) == 1 else None


def read_values(content: str, fields: Sequence[CheckField]) -> dict[str, str]:
    """The answers in ``content``; ``BotError`` naming the first line that is not one."""
    lines = [line.strip() for line in _SPLIT.split(content) if line.strip()]
    if not lines:
        raise BotError("请填写自查结果，例如：" + example(fields))
    choice_fields = [f for f in fields if f.choices]
    words = _WORDS.split(lines[0])
    if len(lines) == 1 and len(words) == len(choice_fields) and _field(words[0], fields) is None:
        # All the choices at once, in the fields' order.
        return {f.name: _checked(w, f, 1) for f, w in zip(choice_fields, words, strict=True)}
    values: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        head, *rest = _WORDS.split(line, maxsplit=1)
        field = _field(head, fields)
        if field is None:
            names = "、".join(f.name for f in fields)
            raise BotError(f"第 {number} 行：没有指标“{head}”。指标有：{names}")
        tail = rest[0].strip() if rest else ""
        if not field.choices:
            values[field.name] = tail
            continue
        value, _sep, note = tail.partition(" ")
        values[field.name] = _checked(value, field, number)
        if note.strip():
            values[field.name + NOTE] = note.strip()
    return values


def merged(
    earlier: Sequence[Mapping[str, str] | None], content: str, fields: Sequence[CheckField]
) -> dict[str, str]:
    """The answers in ``content`` over the latest earlier version's (a self-check is sent
    one indicator at a time as often as all at once)."""
    latest = next((dict(v) for v in reversed(earlier) if v), {})
    return {**latest, **read_values(content, fields)}


def _checked(word: str, field: CheckField, number: int) -> str:
    value = _choice(word, field)
    if value is None:
        allowed = " 或 ".join(field.choices)
        raise BotError(
            f"第 {number} 行：“{field.name}”只能填 {allowed}，收到“{word or '（空）'}”。"
        )
    return value


def example(fields: Sequence[CheckField]) -> str:
    """``办学理念 达标（换行）课程建设 未达标 缺少校本课程``-style example for refusals."""
    shown = [f"{f.name} {f.choices[0] if f.choices else '……'}" for f in fields[:2]]
    return "；".join(shown)


def answers_text(values: Mapping[str, str], fields: Sequence[CheckField]) -> str:
    """``已填 2/14 项：办学理念 达标、课程建设 未达标；还差：…``."""
    done = [f for f in fields if f.name in values]
    shown = "、".join(f"{f.name} {values[f.name]}" for f in done if f.choices)
    missing = [f.name for f in fields if f.name not in values and f.choices]
    text = f"自查已填 {len(done)}/{len(fields)} 项" + (f"：{shown}" if shown else "")
    if missing:
        text += f"；还差：{'、'.join(missing)}"
    return text
