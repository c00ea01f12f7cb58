"""The commands a chat message can carry, as small frozen values.

``handlers.parsing.parse`` turns text into exactly one of these; the dispatcher picks the
handler by type. Nothing here knows about rubrics, venues or people: names are kept as typed
(normalised) and resolved later against the campaign.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TypeAlias

from handlers.setup_commands import SetupCommand

__all__ = [
    "Board",
    "Command",
    "Confirm",
    "Desk",
    "Export",
    "Help",
    "LineError",
    "Mine",
    "Missing",
    "Progress",
    "Publish",
    "Ranking",
    "Review",
    "Score",
    "ScoreLine",
    "ScoreValue",
    "Submit",
    "Submitted",
    "Unknown",
    "Unpublish",
    "Urge",
]


@dataclass(frozen=True, slots=True)
class ScoreValue:
    """One number a judge typed, with the rubric item it was labelled with, if any."""

    label: str | None
    """``"目标"``, ``"工作目标"``, ``"总分"``, ...; ``None`` when given by position."""
    value: Decimal


@dataclass(frozen=True, slots=True)
class ScoreLine:
    """One contestant's scores on one line of a 评分 / 更正 message."""

    line_no: int
    """1-based line number in the message."""
    raw: str
    """The line as typed (stripped, @-mentions removed), for echoing in refusals."""
    target: str
    """The contestant as typed, normalised: ``"瑞泉中学"``, ``"3号"``, ``"3"``, or venue and
    contestant space-joined (``"瑞泉中学会场 杜桥中学"``) when several words came first."""
    values: tuple[ScoreValue, ...]


@dataclass(frozen=True, slots=True)
class LineError:
    """A line of a score batch that cannot be read at all."""

    line_no: int
    raw: str
    reason: str
    """Simplified Chinese: why the line was not understood and what to send instead."""


@dataclass(frozen=True, slots=True)
class Score:
    """评分 / 打分 (``correction=False``) or 更正 / 修改 (``correction=True``).

    Each line is read on its own so a batch can be accepted or refused line by line. No
    lines at all (just ``评分``) means the sender wants to know how to use it.
    """

    lines: tuple[ScoreLine | LineError, ...]
    correction: bool = False


@dataclass(frozen=True, slots=True)
class Progress:
    """进度 [会场]: whom I still have to score, or the judges × contestants matrix."""

    venue: str = ""


@dataclass(frozen=True, slots=True)
class Ranking:
    """排名 / 成绩 / 排行 [会场]: the venue table as it stands."""

    venue: str = ""


@dataclass(frozen=True, slots=True)
class Publish:
    """公布 / 发布 [会场]: lock the venue and push its result."""

    venue: str = ""


@dataclass(frozen=True, slots=True)
class Unpublish:
    """撤销公布 / 取消公布 [会场]: unlock a published venue and push a correction."""

    venue: str = ""


@dataclass(frozen=True, slots=True)
class Confirm:
    """确认 <选手>: a judge confirms a score that lies far from the other judges'."""

    target: str
    """As typed, normalised; like ``ScoreLine.target`` it may hold venue and contestant."""
    venue: str = ""


@dataclass(frozen=True, slots=True)
class Export:
    """导出 [会场] [csv|xlsx|excel]: the 成绩汇总表 as a file."""

    venue: str = ""
    fmt: str = "xlsx"
    """``"xlsx"`` or ``"csv"`` (``excel`` is read as ``xlsx``)."""


@dataclass(frozen=True, slots=True)
class Submit:
    """提交 / 上交 <材料名> <内容>: hand in a report."""

    material: str
    """The material's name as typed, normalised; ``""`` when none was given."""
    content: str = ""
    """The rest of the message as typed (links, free text, several lines), stripped only.
    Empty when the report came as an attached file."""


@dataclass(frozen=True, slots=True)
class Missing:
    """未交 / 未提交 [材料名]: who has not handed in."""

    material: str = ""


@dataclass(frozen=True, slots=True)
class Mine:
    """我的 / 待办: my open duties."""


@dataclass(frozen=True, slots=True)
class Submitted:
    """已交 <材料名> [期]: who handed in what and when (organizers)."""

    material: str = ""


@dataclass(frozen=True, slots=True)
class Review:
    """退回 / 通过 / 免交 / 延期 <单位> <材料名> [原因或日期]: an organizer acts on one entry."""

    action: str
    """``returned``, ``accepted``, ``exempted`` or ``extended``."""
    owner: str = ""
    """The unit or person as typed."""
    material: str = ""
    """The material as typed, possibly with its period (``周报 第2周``)."""
    note: str = ""
    """退回: the reason; 延期: the new due date as typed."""


@dataclass(frozen=True, slots=True)
class Urge:
    """催交 <材料名> [期]: remind everyone who still owes, now."""

    material: str = ""


@dataclass(frozen=True, slots=True)
class Help:
    """帮助 / help / ? / 菜单: the commands this person may use."""


@dataclass(frozen=True, slots=True)
class Desk:
    """后台: a one-time link to the web desk, sent privately."""


@dataclass(frozen=True, slots=True)
class Board:
    """看板 [会场]: a projector link to a venue's results board, sent privately."""

    venue: str = ""


@dataclass(frozen=True, slots=True)
class Unknown:
    """Anything that is not a command; the handler answers with a short hint."""

    text: str
    """The message normalised (``""`` for an empty message)."""


Command: TypeAlias = (
    Score
    | Progress
    | Ranking
    | Publish
    | Unpublish
    | Confirm
    | Export
    | Submit
    | Missing
    | Mine
    | Submitted
    | Review
    | Urge
    | Help
    | Desk
    | Board
    | Unknown
    | SetupCommand
)
