"""Commands that set a campaign up and change it on the day (issue 19), and their parsing.

Binding: ``绑定 尚德中学 张伟`` / ``绑定 13912345678`` (a person not yet known), ``绑定群
瑞泉中学会场`` (in a group), ``同意 张伟`` / ``拒绝 张伟 原因`` (an organizer). Day-of changes by
an organizer: ``换评委 瑞泉中学会场 梁飞 → 王强``, ``加选手 瑞泉中学会场 新河中学``,
``改时间 瑞泉中学会场 2月13日 9:30``.

Like ``handlers.parsing`` everything here is pure and total: each parser takes the
normalised rest of the first line (``numbers.normalize`` has turned ``:`` into a space) and
always returns a command; a part that is missing is ``""`` and the handler asks for it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, tzinfo
from typing import TypeAlias


@dataclass(frozen=True, slots=True)
class Bind:
    """绑定 [单位] 姓名 | 绑定 手机号: tie the sender's account to a listed person."""

    name: str = ""
    unit: str = ""
    mobile: str = ""


@dataclass(frozen=True, slots=True)
class BindGroup:
    """绑定群 <群名或会场>: tie the chat this is sent in to a ``[[groups]]`` entry."""

    name: str = ""


@dataclass(frozen=True, slots=True)
class Approve:
    """同意 / 批准 [姓名 | 群名 | #编号]: an organizer approves a waiting binding."""

    target: str = ""
    group: bool = False
    """同意群: only group bindings."""


@dataclass(frozen=True, slots=True)
class Reject:
    """拒绝 [姓名 | 群名 | #编号] [原因]: an organizer refuses a waiting binding."""

    target: str = ""
    reason: str = ""
    group: bool = False


@dataclass(frozen=True, slots=True)
class SwapJudge:
    """换评委 [会场] 原评委 → 新评委."""

    venue: str = ""
    old: str = ""
    new: str = ""


@dataclass(frozen=True, slots=True)
class AddContestant:
    """加选手 [会场] 选手: appended after the venue's last contestant."""

    venue: str = ""
    name: str = ""


@dataclass(frozen=True, slots=True)
class MoveTime:
    """改时间 [会场] [日期] 时刻: the venue's new start (reminders re-planned)."""

    venue: str = ""
    when: str = ""
    """As typed (normalised); ``resolve_time`` reads it."""


SetupCommand: TypeAlias = Bind | BindGroup | Approve | Reject | SwapJudge | AddContestant | MoveTime

_MOBILE = re.compile(r"(?:\+?86)?(1[3-9][0-9]{9})")
_ARROWS = re.compile(r"\s*(?:→|->|=>|⇒|➡|换成|换为|改为|替换为)\s*")


def _parse_bind(rest: str) -> Bind:
    """A lone mobile number (spaces and dashes allowed), else [单位] 姓名."""
    mobile = _MOBILE.fullmatch(re.sub(r"[\s\-]", "", rest))
    if mobile is not None:
        return Bind(mobile=mobile.group(1))
    words = rest.split()
    if not words:
        return Bind()
    return Bind(name=words[-1], unit="".join(words[:-1]))


def _parse_reject(group: bool) -> Callable[[str], Reject]:
    def parse(rest: str) -> Reject:
        target, _, reason = rest.partition(" ")
        return Reject(target, reason.strip(), group)

    return parse


def _parse_swap(rest: str) -> SwapJudge:
    """[会场] 原评委 → 新评委; without an arrow the last two words are old and new."""
    if _ARROWS.search(rest):
        before, after = _ARROWS.split(rest, maxsplit=1)
        words, new = before.split(), after.strip()
    else:
        words = rest.split()
        new = words.pop() if len(words) >= 2 else ""
    old = words.pop() if words else ""
    return SwapJudge(" ".join(words), old, new)


def _parse_add(rest: str) -> AddContestant:
    """[会场] 选手: the last word is the contestant."""
    words = rest.split()
    if not words:
        return AddContestant()
    return AddContestant(" ".join(words[:-1]), words[-1])


_WHEN = re.compile(
    r"(?:(?:(?P<y>\d{4})[-/.年])?(?P<m>\d{1,2})[-/.月](?P<d>\d{1,2})[日号]?\s*)?"
    r"(?P<ampm>上午|早上|中午|下午|晚上)?\s*"
    r"(?P<h>\d{1,2})(?:[\s点时](?P<min>\d{1,2}|半)?分?)?"
)


def _parse_move(rest: str) -> MoveTime:
    """[会场] 时间: the venue is the first word unless it already starts the time."""
    words = rest.split()
    if words and not _starts_time(words[0]):
        return MoveTime(words[0], " ".join(words[1:]))
    return MoveTime("", rest)


def _starts_time(word: str) -> bool:
    return word[:1].isdigit() or word.startswith(("上午", "早上", "中午", "下午", "晚上"))


def resolve_time(text: str, current: datetime, tz: tzinfo) -> datetime | None:
    """``text`` (as ``MoveTime.when``) as an aware datetime in ``tz``; the date and year
    default to ``current``'s (the venue's start). ``None`` when it is no time we read."""
    match = _WHEN.fullmatch(text.strip())
    if match is None:
        return None
    here = current.astimezone(tz)
    hour = int(match["h"])
    minute = 30 if match["min"] == "半" else int(match["min"] or 0)
    if match["ampm"] in ("下午", "晚上") and hour < 12:
        hour += 12
    try:
        day = here.date()
        if match["m"]:
            day = day.replace(
                year=int(match["y"] or here.year), month=int(match["m"]), day=int(match["d"])
            )
        return datetime.combine(day, time(hour, minute), tzinfo=tz)
    except ValueError:
        return None


SETUP_WORDS: dict[str, str] = {
    "绑定": "bind",
    "绑定群": "bind_group",
    "同意": "approve",
    "批准": "approve",
    "同意群": "approve_group",
    "拒绝": "reject",
    "拒绝群": "reject_group",
    "换评委": "swap_judge",
    "更换评委": "swap_judge",
    "加选手": "add_contestant",
    "添加选手": "add_contestant",
    "增加选手": "add_contestant",
    "改时间": "move_time",
    "调整时间": "move_time",
}
"""Command words → kinds, merged into ``handlers.parsing``'s table."""

SETUP_PARSERS: dict[str, Callable[[str], SetupCommand]] = {
    "bind": _parse_bind,
    "bind_group": lambda rest: BindGroup(rest.strip()),
    "approve": lambda rest: Approve(rest.strip()),
    "approve_group": lambda rest: Approve(rest.strip(), group=True),
    "reject": _parse_reject(group=False),
    "reject_group": _parse_reject(group=True),
    "swap_judge": _parse_swap,
    "add_contestant": _parse_add,
    "move_time": _parse_move,
}
"""Kind → parser of the normalised rest of the first line."""
