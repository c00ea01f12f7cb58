"""Tables for handlers.parsing.parse: one table per command, asserting the whole value."""

from __future__ import annotations

from decimal import Decimal
from typing import get_args

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.commands import (
    Command,
    Confirm,
    Export,
    Help,
    LineError,
    Mine,
    Missing,
    Progress,
    Publish,
    Ranking,
    Score,
    ScoreLine,
    ScoreValue,
    Submit,
    Unknown,
)
from handlers.examples import EXAMPLE_SLOT
from handlers.parsing import parse


def pos(*values: str) -> tuple[ScoreValue, ...]:
    """Scores given by position."""
    return tuple(ScoreValue(None, Decimal(v)) for v in values)


def lab(*pairs: tuple[str, str]) -> tuple[ScoreValue, ...]:
    """Scores given with a label."""
    return tuple(ScoreValue(label, Decimal(v)) for label, v in pairs)


def one(raw: str, target: str, values: tuple[ScoreValue, ...]) -> Score:
    """A one-line 评分 message."""
    return Score((ScoreLine(1, raw, target, values),))


RUIQUAN = pos("18", "22", "17", "20", "9")
LABELLED = lab(("目标", "18"), ("措施", "22"), ("进展", "17"), ("成效", "20"), ("表现", "9"))


def cases(table: list[tuple[str, str, Command]]) -> pytest.MarkDecorator:
    """parametrize over (id, text, expected) rows."""
    return pytest.mark.parametrize(
        ("text", "expected"), [row[1:] for row in table], ids=[row[0] for row in table]
    )


# --- 评分 / 打分 / 更正 -------------------------------------------------------------------

SCORE_CASES: list[tuple[str, str, Command]] = [
    (
        "positional",
        "评分 瑞泉中学 18 22 17 20 9",
        one("评分 瑞泉中学 18 22 17 20 9", "瑞泉中学", RUIQUAN),
    ),
    (
        "dafen",
        "打分 瑞泉中学共同体 18 22 17 20 9",
        one("打分 瑞泉中学共同体 18 22 17 20 9", "瑞泉中学共同体", RUIQUAN),
    ),
    (
        "full-width digits and spaces",
        "评分　瑞泉中学　１８　２２　１７　２０　９",
        one("评分　瑞泉中学　１８　２２　１７　２０　９", "瑞泉中学", RUIQUAN),
    ),
    (
        "chinese numerals",
        "评分 瑞泉中学 十八 二十二 十七 二十 九",
        one("评分 瑞泉中学 十八 二十二 十七 二十 九", "瑞泉中学", RUIQUAN),
    ),
    (
        "chinese half",
        "评分 瑞泉中学 十八点五 二十五 17 20 9",
        one(
            "评分 瑞泉中学 十八点五 二十五 17 20 9",
            "瑞泉中学",
            pos("18.5", "25", "17", "20", "9"),
        ),
    ),
    (
        "fen suffix",
        "评分 瑞泉中学 18分 22分 十七分 20分 9分",
        one("评分 瑞泉中学 18分 22分 十七分 20分 9分", "瑞泉中学", RUIQUAN),
    ),
    (
        "halves",
        "评分 瑞泉中学 18.5 22 17.5 20 9",
        one(
            "评分 瑞泉中学 18.5 22 17.5 20 9",
            "瑞泉中学",
            pos("18.5", "22", "17.5", "20", "9"),
        ),
    ),
    (
        "zeros",
        "评分 瑞泉中学 0 0 零 0 0",
        one("评分 瑞泉中学 0 0 零 0 0", "瑞泉中学", pos("0", "0", "0", "0", "0")),
    ),
    (
        "chinese commas",
        "评分 瑞泉中学，18，22，17，20，9",
        one("评分 瑞泉中学，18，22，17，20，9", "瑞泉中学", RUIQUAN),
    ),
    (
        "enumeration commas and colon",
        "评分 瑞泉中学：18、22、17、20、9",
        one("评分 瑞泉中学：18、22、17、20、9", "瑞泉中学", RUIQUAN),
    ),
    (
        "ascii punctuation",
        "评分 瑞泉中学: 18,22;17 ,20, 9",
        one("评分 瑞泉中学: 18,22;17 ,20, 9", "瑞泉中学", RUIQUAN),
    ),
    (
        "chinese semicolons",
        "评分 瑞泉中学；18；22；17；20；9",
        one("评分 瑞泉中学；18；22；17；20；9", "瑞泉中学", RUIQUAN),
    ),
    (
        "labels",
        "评分 3号 目标18 措施22 进展17 成效20 表现9",
        one("评分 3号 目标18 措施22 进展17 成效20 表现9", "3号", LABELLED),
    ),
    (
        "labels any order",
        "评分 3号 表现9 目标18 成效20 措施22 进展17",
        one(
            "评分 3号 表现9 目标18 成效20 措施22 进展17",
            "3号",
            lab(("表现", "9"), ("目标", "18"), ("成效", "20"), ("措施", "22"), ("进展", "17")),
        ),
    ),
    (
        "labels with colons",
        "评分 瑞泉中学 目标:18 措施：22 进展: 17 成效，20 表现 9",
        one("评分 瑞泉中学 目标:18 措施：22 进展: 17 成效，20 表现 9", "瑞泉中学", LABELLED),
    ),
    (
        "full item names with fen",
        "评分 瑞泉中学 工作目标18分 任务措施22分 工作阶段进展17分 工作预期成效20分 个人表现9分",
        one(
            "评分 瑞泉中学 工作目标18分 任务措施22分 工作阶段进展17分 工作预期成效20分 个人表现9分",
            "瑞泉中学",
            lab(
                ("工作目标", "18"),
                ("任务措施", "22"),
                ("工作阶段进展", "17"),
                ("工作预期成效", "20"),
                ("个人表现", "9"),
            ),
        ),
    ),
    (
        "labels with chinese numerals",
        "评分 瑞泉中学 目标十八 措施二十二 进展十七点五",
        one(
            "评分 瑞泉中学 目标十八 措施二十二 进展十七点五",
            "瑞泉中学",
            lab(("目标", "18"), ("措施", "22"), ("进展", "17.5")),
        ),
    ),
    (
        "labels glued together",
        "评分 瑞泉中学 目标18措施22进展17成效20表现9",
        one("评分 瑞泉中学 目标18措施22进展17成效20表现9", "瑞泉中学", LABELLED),
    ),
    (
        "labels glued with fen",
        "评分 瑞泉中学 目标18分措施22分进展17分成效20分表现9分",
        one("评分 瑞泉中学 目标18分措施22分进展17分成效20分表现9分", "瑞泉中学", LABELLED),
    ),
    (
        "quoted contestant",
        "评分 “瑞泉中学” 18 22 17 20 9",
        one("评分 “瑞泉中学” 18 22 17 20 9", "瑞泉中学", RUIQUAN),
    ),
    (
        # Ambiguous: one labelled word followed only by positional scores is read as part of
        # the contestant (venue + contestant); the contestant lookup then refuses it.
        "label before positional scores joins the contestant",
        "评分 瑞泉中学 目标 18 22 17 20 9",
        one("评分 瑞泉中学 目标 18 22 17 20 9", "瑞泉中学 目标", RUIQUAN),
    ),
    (
        "glued label before positional scores stays a label",
        "评分 瑞泉中学 目标18 22 17 20 9",
        one(
            "评分 瑞泉中学 目标18 22 17 20 9",
            "瑞泉中学",
            (*lab(("目标", "18")), *pos("22", "17", "20", "9")),
        ),
    ),
    (
        "person name with a space",
        "评分 李 强 18 22 17 20 9",
        one("评分 李 强 18 22 17 20 9", "李 强", RUIQUAN),
    ),
    (
        "labelled half",
        "评分 瑞泉中学 目标18.5",
        one("评分 瑞泉中学 目标18.5", "瑞泉中学", lab(("目标", "18.5"))),
    ),
    ("bare total", "评分 瑞泉中学 86", one("评分 瑞泉中学 86", "瑞泉中学", pos("86"))),
    (
        "labelled total glued",
        "评分 瑞泉中学 总分86",
        one("评分 瑞泉中学 总分86", "瑞泉中学", lab(("总分", "86"))),
    ),
    (
        "labelled total spaced",
        "评分 瑞泉中学 总分 86",
        one("评分 瑞泉中学 总分 86", "瑞泉中学", lab(("总分", "86"))),
    ),
    (
        "labelled total with colon",
        "评分 瑞泉中学 合计：八十六分",
        one("评分 瑞泉中学 合计：八十六分", "瑞泉中学", lab(("合计", "86"))),
    ),
    (
        "contestant by number",
        "评分 3 18 22 17 20 9",
        one("评分 3 18 22 17 20 9", "3", RUIQUAN),
    ),
    (
        "contestant by number hao",
        "评分 3号 18 22 17 20 9",
        one("评分 3号 18 22 17 20 9", "3号", RUIQUAN),
    ),
    (
        "contestant by number space hao",
        "评分 3 号 18 22 17 20 9",
        one("评分 3 号 18 22 17 20 9", "3号", RUIQUAN),
    ),
    (
        "full-width number hao",
        "评分 ３号 86",
        one("评分 ３号 86", "3号", pos("86")),
    ),
    (
        "venue and contestant",
        "评分 瑞泉中学会场 杜桥中学 18 22 17 20 9",
        one("评分 瑞泉中学会场 杜桥中学 18 22 17 20 9", "瑞泉中学会场 杜桥中学", RUIQUAN),
    ),
    (
        "venue and contestant bare total",
        "评分 瑞泉中学会场 杜桥中学 86",
        one("评分 瑞泉中学会场 杜桥中学 86", "瑞泉中学会场 杜桥中学", pos("86")),
    ),
    (
        "venue and contestant by number",
        "评分 渭河小学会场 4号 18 22 17 20 9",
        one("评分 渭河小学会场 4号 18 22 17 20 9", "渭河小学会场 4号", RUIQUAN),
    ),
    (
        "venue and contestant with spaced labels",
        "评分 瑞泉中学会场 杜桥中学 目标 18 措施 22 进展 17 成效 20 表现 9",
        one(
            "评分 瑞泉中学会场 杜桥中学 目标 18 措施 22 进展 17 成效 20 表现 9",
            "瑞泉中学会场 杜桥中学",
            LABELLED,
        ),
    ),
    (
        "spaced labels",
        "评分 瑞泉中学 目标 18 措施 22 进展 17 成效 20 表现 9",
        one("评分 瑞泉中学 目标 18 措施 22 进展 17 成效 20 表现 9", "瑞泉中学", LABELLED),
    ),
    (
        "name containing chinese numeral",
        "评分 渭南市第一小学 18 22 17 20 9",
        one("评分 渭南市第一小学 18 22 17 20 9", "渭南市第一小学", RUIQUAN),
    ),
    (
        "name containing chinese numeral with venue",
        "评分 渭河小学会场 渭南市第一小学 86",
        one("评分 渭河小学会场 渭南市第一小学 86", "渭河小学会场 渭南市第一小学", pos("86")),
    ),
    (
        "seed contestant with latin-free long name",
        "评分 西安交大附小渭南分校 十八 22 17 20 9",
        one("评分 西安交大附小渭南分校 十八 22 17 20 9", "西安交大附小渭南分校", RUIQUAN),
    ),
    (
        "ordinal contestant reference",
        "评分 渭河小学会场 第3 86",
        one("评分 渭河小学会场 第3 86", "渭河小学会场 第3", pos("86")),
    ),
    (
        "command word glued",
        "评分瑞泉中学 18 22 17 20 9",
        one("评分瑞泉中学 18 22 17 20 9", "瑞泉中学", RUIQUAN),
    ),
    (
        "command word with colon",
        "评分：瑞泉中学 18 22 17 20 9",
        one("评分：瑞泉中学 18 22 17 20 9", "瑞泉中学", RUIQUAN),
    ),
    (
        "odd spacing and tabs",
        "  评分\t瑞泉中学 \t 18   22\t17  20 9  ",
        one("评分\t瑞泉中学 \t 18   22\t17  20 9", "瑞泉中学", RUIQUAN),
    ),
    (
        "trailing full stop",
        "评分 瑞泉中学 18 22 17 20 9。",
        one("评分 瑞泉中学 18 22 17 20 9。", "瑞泉中学", RUIQUAN),
    ),
    (
        "dash between contestant and scores",
        "评分 瑞泉中学 - 18 22 17 20 9",
        one("评分 瑞泉中学 - 18 22 17 20 9", "瑞泉中学", RUIQUAN),
    ),
    (
        "batch",
        "评分\n韩马 19 23 18 22 9\n4号 18 22 18 21 9",
        Score(
            (
                ScoreLine(2, "韩马 19 23 18 22 9", "韩马", pos("19", "23", "18", "22", "9")),
                ScoreLine(3, "4号 18 22 18 21 9", "4号", pos("18", "22", "18", "21", "9")),
            )
        ),
    ),
    (
        "batch starting on the command line",
        "评分 韩马初中共同体 19 23 18 22 9\n杜桥中学 18 22 18 21 9",
        Score(
            (
                ScoreLine(
                    1,
                    "评分 韩马初中共同体 19 23 18 22 9",
                    "韩马初中共同体",
                    pos("19", "23", "18", "22", "9"),
                ),
                ScoreLine(
                    2, "杜桥中学 18 22 18 21 9", "杜桥中学", pos("18", "22", "18", "21", "9")
                ),
            )
        ),
    ),
    (
        "batch with repeated command words",
        "评分 韩马 19 23 18 22 9\n评分 4号 18 22 18 21 9\n打分杜桥中学 86",
        Score(
            (
                ScoreLine(1, "评分 韩马 19 23 18 22 9", "韩马", pos("19", "23", "18", "22", "9")),
                ScoreLine(2, "评分 4号 18 22 18 21 9", "4号", pos("18", "22", "18", "21", "9")),
                ScoreLine(3, "打分杜桥中学 86", "杜桥中学", pos("86")),
            )
        ),
    ),
    (
        "batch with blank lines and crlf",
        "评分\r\n\r\n  韩马 19 23 18 22 9  \r\n　\r\n4号 86\r\n",
        Score(
            (
                ScoreLine(3, "韩马 19 23 18 22 9", "韩马", pos("19", "23", "18", "22", "9")),
                ScoreLine(5, "4号 86", "4号", pos("86")),
            )
        ),
    ),
    (
        "batch with one bad line",
        "评分\n韩马 19 23 18 22 9\n尚德中学\n4号 86",
        Score(
            (
                ScoreLine(2, "韩马 19 23 18 22 9", "韩马", pos("19", "23", "18", "22", "9")),
                LineError(
                    3,
                    "尚德中学",
                    f"没有收到分数。请在选手后面写上各项得分，例如：{EXAMPLE_SLOT}",
                ),
                ScoreLine(4, "4号 86", "4号", pos("86")),
            )
        ),
    ),
    (
        # Inside the scores a word before a number is a label; the rubric refuses unknown ones.
        "unknown word before a number is a label",
        "评分 瑞泉中学 18 22 abc 20 9",
        one(
            "评分 瑞泉中学 18 22 abc 20 9",
            "瑞泉中学",
            (*pos("18", "22"), *lab(("abc", "20")), *pos("9")),
        ),
    ),
    ("command only", "评分", Score(())),
    ("command only with spaces", "  打分  ", Score(())),
    ("command repeated only", "评分\n评分\n", Score(())),
    (
        "correction",
        "更正 瑞泉中学 19 22 17 20 9",
        Score(
            (
                ScoreLine(
                    1, "更正 瑞泉中学 19 22 17 20 9", "瑞泉中学", pos("19", "22", "17", "20", "9")
                ),
            ),
            correction=True,
        ),
    ),
    (
        "correction with xiugai",
        "修改 3号 目标19",
        Score((ScoreLine(1, "修改 3号 目标19", "3号", lab(("目标", "19"))),), correction=True),
    ),
    (
        "correction batch with repeated words",
        "更正\n更正 韩马 86\n评分 杜桥中学 85",
        Score(
            (
                ScoreLine(2, "更正 韩马 86", "韩马", pos("86")),
                ScoreLine(3, "评分 杜桥中学 85", "杜桥中学", pos("85")),
            ),
            correction=True,
        ),
    ),
    ("correction command only", "更正", Score((), correction=True)),
]


@cases(SCORE_CASES)
def test_score(text: str, expected: Command) -> None:
    assert parse(text) == expected


EXAMPLE = EXAMPLE_SLOT  # the handler puts the judge's own example in
NO_SCORES = f"没有收到分数。请在选手后面写上各项得分，例如：{EXAMPLE}"


def not_understood(token: str, example: str = EXAMPLE) -> str:
    return f"看不懂“{token}”：分数后面只能再写分数（可带评分项名）。请重新发送，例如：{example}"


def negative(token: str) -> str:
    return f"分数不能是负数（收到“{token}”）。请重新发送，例如：{EXAMPLE}"


def malformed(token: str) -> str:
    return f"“{token}”不是有效的分数，请写整数或小数（如 18 或 18.5）。请重新发送，例如：{EXAMPLE}"


def refused(raw: str, reason: str, *, correction: bool = False) -> Score:
    return Score((LineError(1, raw, reason),), correction)


LINE_ERROR_CASES: list[tuple[str, str, Command]] = [
    ("no numbers", "评分 瑞泉中学", refused("评分 瑞泉中学", NO_SCORES)),
    (
        "no numbers after venue and contestant",
        "评分 瑞泉中学会场 杜桥中学",
        refused("评分 瑞泉中学会场 杜桥中学", NO_SCORES),
    ),
    ("label without number", "评分 瑞泉中学 目标", refused("评分 瑞泉中学 目标", NO_SCORES)),
    (
        "garbage after scores",
        "评分 瑞泉中学 18 22 17/20 9",
        refused("评分 瑞泉中学 18 22 17/20 9", not_understood("17/20")),
    ),
    (
        "words after scores",
        "评分 瑞泉中学 18 22 17 20 9 谢谢",
        refused("评分 瑞泉中学 18 22 17 20 9 谢谢", not_understood("谢谢")),
    ),
    (
        "label without number at the end",
        "评分 瑞泉中学 目标18 表现",
        refused("评分 瑞泉中学 目标18 表现", not_understood("表现")),
    ),
    (
        "number reference after scores",
        "评分 瑞泉中学 18 22 3号",
        refused("评分 瑞泉中学 18 22 3号", not_understood("3号")),
    ),
    (
        "negative number",
        "评分 瑞泉中学 -18 22 17 20 9",
        refused("评分 瑞泉中学 -18 22 17 20 9", negative("-18")),
    ),
    (
        "negative after scores",
        "评分 瑞泉中学 18 -22 17 20 9",
        refused("评分 瑞泉中学 18 -22 17 20 9", negative("-22")),
    ),
    (
        "full-width minus",
        "评分 瑞泉中学 １８ －２２",
        refused("评分 瑞泉中学 １８ －２２", negative("-22")),
    ),
    (
        "chinese negative",
        "评分 瑞泉中学 负十八",
        refused("评分 瑞泉中学 负十八", negative("负十八")),
    ),
    (
        "labelled negative",
        "评分 瑞泉中学 目标-18 措施22",
        refused("评分 瑞泉中学 目标-18 措施22", negative("目标-18")),
    ),
    (
        "two decimal points",
        "评分 瑞泉中学 18.5.1 22",
        refused("评分 瑞泉中学 18.5.1 22", malformed("18.5.1")),
    ),
    ("exponent", "评分 瑞泉中学 18 1e5", refused("评分 瑞泉中学 18 1e5", malformed("1e5"))),
    ("percent", "评分 瑞泉中学 86%", refused("评分 瑞泉中学 86%", malformed("86%"))),
    (
        "labelled broken number",
        "评分 瑞泉中学 目标18.5.1",
        refused("评分 瑞泉中学 目标18.5.1", malformed("目标18.5.1")),
    ),
    (
        "correction refusal leaves the example to the handler",
        "更正 瑞泉中学 18 好",
        refused(
            "更正 瑞泉中学 18 好",
            not_understood("好"),
            correction=True,
        ),
    ),
]


@cases(LINE_ERROR_CASES)
def test_score_line_errors(text: str, expected: Command) -> None:
    assert parse(text) == expected


# --- @-mentions -----------------------------------------------------------------------------

MENTION_CASES: list[tuple[str, str, Command]] = [
    (
        "mention then score",
        "@教育局助手 评分 瑞泉中学 18 22 17 20 9",
        one("评分 瑞泉中学 18 22 17 20 9", "瑞泉中学", RUIQUAN),
    ),
    ("ascii mention", "@bot 进度", Progress()),
    ("several mentions", "@教育局助手 @申毅 进度 瑞泉中学会场", Progress("瑞泉中学会场")),
    ("dingtalk leading space", " 进度", Progress()),
    ("wecom four-per-em space", "@机器人\u2005排名", Ranking()),
    ("nbsp", "@机器人\u00a0公布", Publish()),
    ("ideographic space", "@机器人\u3000我的", Mine()),
    ("zero-width space", "\u200b@机器人\u200b帮助", Help()),
    (
        "mention on every line",
        "@教育局助手 评分\n@教育局助手 韩马 19 23 18 22 9",
        Score((ScoreLine(2, "韩马 19 23 18 22 9", "韩马", pos("19", "23", "18", "22", "9")),)),
    ),
    ("mention only", "@教育局助手", Unknown("")),
    ("mention then chat", "@教育局助手 你好", Unknown("你好")),
    ("mention on an empty first line", "@教育局助手\n进度", Progress()),
]


@cases(MENTION_CASES)
def test_mentions(text: str, expected: Command) -> None:
    assert parse(text) == expected


# --- 进度 / 排名 / 公布 / 确认 -----------------------------------------------------------------

PROGRESS_CASES: list[tuple[str, str, Command]] = [
    ("bare", "进度", Progress()),
    ("venue", "进度 瑞泉中学会场", Progress("瑞泉中学会场")),
    ("venue glued", "进度瑞泉中学会场", Progress("瑞泉中学会场")),
    ("venue after colon", "进度：瑞泉中学会场", Progress("瑞泉中学会场")),
    ("full-width spaces", "　进度　　渭河小学会场　", Progress("渭河小学会场")),
    ("only the first line counts", "进度\n瑞泉中学会场", Progress()),
]


@cases(PROGRESS_CASES)
def test_progress(text: str, expected: Command) -> None:
    assert parse(text) == expected


RANKING_CASES: list[tuple[str, str, Command]] = [
    ("paiming", "排名", Ranking()),
    ("paiming venue", "排名 瑞泉中学会场", Ranking("瑞泉中学会场")),
    ("chengji venue", "成绩 渭河小学会场", Ranking("渭河小学会场")),
    ("paihang", "排行", Ranking()),
    ("paihangbang", "排行榜 瑞泉中学会场", Ranking("瑞泉中学会场")),
    ("glued", "排名瑞泉中学会场", Ranking("瑞泉中学会场")),
]


@cases(RANKING_CASES)
def test_ranking(text: str, expected: Command) -> None:
    assert parse(text) == expected


PUBLISH_CASES: list[tuple[str, str, Command]] = [
    ("gongbu", "公布", Publish()),
    ("gongbu venue", "公布 瑞泉中学会场", Publish("瑞泉中学会场")),
    ("fabu", "发布", Publish()),
    ("fabu venue with comma", "发布，渭河小学会场", Publish("渭河小学会场")),
]


@cases(PUBLISH_CASES)
def test_publish(text: str, expected: Command) -> None:
    assert parse(text) == expected


CONFIRM_CASES: list[tuple[str, str, Command]] = [
    ("contestant", "确认 瑞泉中学", Confirm("瑞泉中学")),
    ("number", "确认 3号", Confirm("3号")),
    ("full-width number", "确认 ３", Confirm("3")),
    ("glued", "确认瑞泉中学共同体", Confirm("瑞泉中学共同体")),
    ("venue and contestant", "确认 瑞泉中学会场 杜桥中学", Confirm("瑞泉中学会场 杜桥中学")),
    ("bare", "确认", Confirm("")),
]


@cases(CONFIRM_CASES)
def test_confirm(text: str, expected: Command) -> None:
    assert parse(text) == expected


# --- 导出 -------------------------------------------------------------------------------------

EXPORT_CASES: list[tuple[str, str, Command]] = [
    ("bare", "导出", Export()),
    ("venue", "导出 瑞泉中学会场", Export("瑞泉中学会场")),
    ("csv", "导出 csv", Export("", "csv")),
    ("venue csv upper", "导出 瑞泉中学会场 CSV", Export("瑞泉中学会场", "csv")),
    ("xlsx", "导出 瑞泉中学会场 xlsx", Export("瑞泉中学会场", "xlsx")),
    ("excel", "导出 Excel", Export("", "xlsx")),
    ("dotted", "导出 .csv", Export("", "csv")),
    ("full-width letters", "导出　ｃｓｖ", Export("", "csv")),
    ("glued", "导出csv", Export("", "csv")),
    ("format word inside is venue", "导出 csv 瑞泉中学会场", Export("csv 瑞泉中学会场")),
]


@cases(EXPORT_CASES)
def test_export(text: str, expected: Command) -> None:
    assert parse(text) == expected


# --- 提交 -------------------------------------------------------------------------------------

URL = "https://pan.example.com/s/AbC?x=1&y=2,3"

SUBMIT_CASES: list[tuple[str, str, Command]] = [
    ("url", f"提交 书面报告 {URL}", Submit("书面报告", URL)),
    ("shangjiao", f"上交 书面报告 {URL}", Submit("书面报告", URL)),
    ("material only (file attached)", "提交 书面报告", Submit("书面报告")),
    ("bare", "提交", Submit("")),
    ("colons", f"提交：书面报告：{URL}", Submit("书面报告", URL)),
    ("glued command and url", f"提交书面报告{URL}", Submit("书面报告", URL)),
    ("url without material", f"提交 {URL}", Submit("", URL)),
    (
        "multi-line text kept as typed",
        "提交 书面报告\n一、目标任务：全员育人导师制，　覆盖１００％。\n\n二、工作措施：……",
        Submit("书面报告", "一、目标任务：全员育人导师制，　覆盖１００％。\n\n二、工作措施：……"),
    ),
    (
        "text on the first line and after",
        "提交 书面报告 目标任务如下\n1. 提升教育质量",
        Submit("书面报告", "目标任务如下\n1. 提升教育质量"),
    ),
    (
        "full-width material normalised, content not",
        "提交　ＡＢ报告　ＵＲＬ：https://例子.cn/路径",
        Submit("AB报告", "ＵＲＬ：https://例子.cn/路径"),
    ),
    (
        "mention",
        f"@教育局助手 提交 书面报告 链接 {URL}",
        Submit("书面报告", f"链接 {URL}"),
    ),
    ("no material, content on next line", f"提交\n{URL}", Submit("", URL)),
]


@cases(SUBMIT_CASES)
def test_submit(text: str, expected: Command) -> None:
    assert parse(text) == expected


# --- 未交 / 我的 / 帮助 ---------------------------------------------------------------------------

MISSING_CASES: list[tuple[str, str, Command]] = [
    ("weijiao", "未交", Missing()),
    ("weijiao material", "未交 书面报告", Missing("书面报告")),
    ("weitijiao material", "未提交 书面报告", Missing("书面报告")),
    ("weitijiao bare", "未提交", Missing()),
    ("glued", "未交书面报告", Missing("书面报告")),
]


@cases(MISSING_CASES)
def test_missing(text: str, expected: Command) -> None:
    assert parse(text) == expected


MINE_CASES: list[tuple[str, str, Command]] = [
    ("wode", "我的", Mine()),
    ("daiban", "待办", Mine()),
    ("with words after", "我的 任务", Mine()),
]


@cases(MINE_CASES)
def test_mine(text: str, expected: Command) -> None:
    assert parse(text) == expected


HELP_CASES: list[tuple[str, str, Command]] = [
    ("bangzhu", "帮助", Help()),
    ("help", "help", Help()),
    ("help upper", "HELP", Help()),
    ("help with word", "help 评分", Help()),
    ("question mark", "?", Help()),
    ("full-width question mark", "？", Help()),
    ("caidan", "菜单", Help()),
    ("bangzhu with topic", "帮助 评分", Help()),
]


@cases(HELP_CASES)
def test_help(text: str, expected: Command) -> None:
    assert parse(text) == expected


# --- anything else --------------------------------------------------------------------------

UNKNOWN_CASES: list[tuple[str, str, Command]] = [
    ("empty", "", Unknown("")),
    ("whitespace only", " \t　\n \n", Unknown("")),
    ("greeting", "你好", Unknown("你好")),
    ("unknown word", "打卡 瑞泉中学", Unknown("打卡 瑞泉中学")),
    ("ascii word starting with help", "helper", Unknown("helper")),
    ("split command word", "评 分 瑞泉中学 18", Unknown("评 分 瑞泉中学 18")),
    ("full-width text normalised", "ｈｉ，　ｔｈｅｒｅ", Unknown("hi there")),
    ("multi-line", "你好\n　请问怎么评分？", Unknown("你好\n请问怎么评分?")),
    ("scores without command", "瑞泉中学 18 22 17 20 9", Unknown("瑞泉中学 18 22 17 20 9")),
]


@cases(UNKNOWN_CASES)
def test_unknown(text: str, expected: Command) -> None:
    assert parse(text) == expected


# --- never raises ------------------------------------------------------------------------------

# Every kind the parser may return, read from the union itself so a new command
# cannot be forgotten here.
COMMAND_TYPES = get_args(Command)

# Pieces that reach the interesting branches far more often than random text does.
_PIECES = st.sampled_from(
    [
        "评分",
        "打分",
        "更正",
        "提交",
        "导出",
        "确认",
        "进度",
        "help",
        "催交",
        "撤销公布",
        "已交",
        "退回",
        "后台",
        "看板",
        "绑定",
        "第2周",
        "？",
        "@bot",
        "@机器人\u2005",
        "瑞泉中学",
        "渭南市第一小学",
        "第",
        "号",
        "目标",
        "总分",
        "分",
        "十八",
        "点",
        "五",
        "负",
        "18",
        "１８",
        "18.5",
        ".",
        "-",
        "e",
        "%",
        "http://",
        " ",
        "　",
        "\t",
        "\n",
        "\r\n",
        "，",
        "、",
        ":",
        "。",
        "\u200b",
        "\u00a0",
    ]
)
_CHAT_TEXT = st.lists(_PIECES, max_size=30).map("".join)


def check_invariants(text: str) -> None:
    command = parse(text)
    assert isinstance(command, COMMAND_TYPES)
    if isinstance(command, Score):
        line_count = max(len(text.splitlines()), 1)
        for line in command.lines:
            assert 1 <= line.line_no <= line_count
            if isinstance(line, ScoreLine):
                assert line.target
                assert line.values
                assert all(v.value >= 0 for v in line.values)
            else:
                assert line.reason


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_never_raises_on_any_text(text: str) -> None:
    check_invariants(text)


@settings(max_examples=300, deadline=None)
@given(_CHAT_TEXT)
def test_never_raises_on_chat_like_text(text: str) -> None:
    check_invariants(text)


@pytest.mark.slow
@settings(max_examples=10_000, deadline=None)
@given(st.text() | _CHAT_TEXT)
def test_never_raises_long_run(text: str) -> None:
    check_invariants(text)
