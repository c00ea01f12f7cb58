"""Tables for the set-up and day-of commands (``handlers.setup_commands``), through
``handlers.parsing.parse`` as a message arrives, and for ``resolve_time``."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from handlers.commands import Command, Confirm, Unknown
from handlers.parsing import parse
from handlers.setup_commands import (
    AddContestant,
    Approve,
    Bind,
    BindGroup,
    MoveTime,
    Reject,
    SwapJudge,
    resolve_time,
)
from tests.test_parsing import cases

BIND_CASES: list[tuple[str, str, Command]] = [
    ("unit-name", "绑定 尚德中学 张伟", Bind(name="张伟", unit="尚德中学")),
    ("name-only", "绑定 张伟", Bind(name="张伟")),
    ("glued", "绑定张伟", Bind(name="张伟")),
    ("mention", "@教育局助手\u2005绑定 尚德中学 张伟", Bind(name="张伟", unit="尚德中学")),
    ("full-width-space", "绑定\u3000尚德中学\u3000张伟", Bind(name="张伟", unit="尚德中学")),
    ("comma", "绑定 尚德中学，张伟", Bind(name="张伟", unit="尚德中学")),
    ("two-word-unit", "绑定 尚德 中学 张伟", Bind(name="张伟", unit="尚德中学")),
    ("mobile", "绑定 13912345678", Bind(mobile="13912345678")),
    ("mobile-spaced", "绑定 139 1234 5678", Bind(mobile="13912345678")),
    ("mobile-dashed", "绑定 139-1234-5678", Bind(mobile="13912345678")),
    ("mobile-full-width", "绑定 １３９１２３４５６７８", Bind(mobile="13912345678")),
    ("mobile-86", "绑定 +86 13912345678", Bind(mobile="13912345678")),
    ("short-number-is-a-name", "绑定 1391234", Bind(name="1391234")),
    ("nothing", "绑定", Bind()),
    ("group", "绑定群 瑞泉中学会场", BindGroup("瑞泉中学会场")),
    ("group-mention", "@机器人 绑定群 瑞泉中学会场群", BindGroup("瑞泉中学会场群")),
    ("group-nothing", "绑定群", BindGroup("")),
]

APPROVE_CASES: list[tuple[str, str, Command]] = [
    ("name", "同意 张伟", Approve("张伟")),
    ("bare", "同意", Approve("")),
    ("pizhun", "批准 张伟", Approve("张伟")),
    ("number", "同意 #3", Approve("#3")),
    ("group", "同意群 瑞泉中学会场", Approve("瑞泉中学会场", group=True)),
    ("reject", "拒绝 张伟 不是本人", Reject("张伟", "不是本人")),
    (
        "reject-long-reason",
        "拒绝 张伟 不是本人 请联系 教育股",
        Reject("张伟", "不是本人 请联系 教育股"),
    ),
    ("reject-bare", "拒绝", Reject("", "")),
    ("reject-group", "拒绝群 瑞泉中学会场 群不对", Reject("瑞泉中学会场", "群不对", group=True)),
    ("confirm-is-still-a-score-confirmation", "确认 瑞泉中学", Confirm("瑞泉中学")),
]

EDIT_CASES: list[tuple[str, str, Command]] = [
    ("arrow", "换评委 瑞泉中学会场 梁飞 → 王强", SwapJudge("瑞泉中学会场", "梁飞", "王强")),
    ("ascii-arrow", "换评委 瑞泉中学会场 梁飞->王强", SwapJudge("瑞泉中学会场", "梁飞", "王强")),
    ("huancheng", "换评委 瑞泉中学会场 梁飞换成王强", SwapJudge("瑞泉中学会场", "梁飞", "王强")),
    ("no-arrow", "换评委 瑞泉中学会场 梁飞 王强", SwapJudge("瑞泉中学会场", "梁飞", "王强")),
    ("no-venue", "换评委 梁飞 → 王强", SwapJudge("", "梁飞", "王强")),
    ("two-words", "换评委 梁飞 王强", SwapJudge("", "梁飞", "王强")),
    ("one-word", "换评委 梁飞", SwapJudge("", "梁飞", "")),
    ("longer-word", "更换评委 瑞泉 梁飞 → 王强", SwapJudge("瑞泉", "梁飞", "王强")),
    ("swap-nothing", "换评委", SwapJudge()),
    ("add", "加选手 瑞泉中学会场 新河中学", AddContestant("瑞泉中学会场", "新河中学")),
    ("add-no-venue", "加选手 新河中学", AddContestant("", "新河中学")),
    ("add-word", "添加选手 瑞泉 新河中学", AddContestant("瑞泉", "新河中学")),
    ("add-nothing", "加选手", AddContestant()),
    ("move", "改时间 瑞泉中学会场 9:30", MoveTime("瑞泉中学会场", "9 30")),
    ("move-full-width-colon", "改时间 瑞泉中学会场 ９：３０", MoveTime("瑞泉中学会场", "9 30")),
    ("move-date", "改时间 瑞泉中学会场 2月14日 14:00", MoveTime("瑞泉中学会场", "2月14日 14 00")),
    ("move-no-venue", "改时间 9点半", MoveTime("", "9点半")),
    ("move-pm-no-venue", "改时间 下午2点", MoveTime("", "下午2点")),
    ("move-nothing", "改时间", MoveTime()),
    ("not-a-command", "绑 定", Unknown("绑 定")),
]


@cases(BIND_CASES)
def test_bind(text: str, expected: Command) -> None:
    assert parse(text) == expected


@cases(APPROVE_CASES)
def test_approve_and_reject(text: str, expected: Command) -> None:
    assert parse(text) == expected


@cases(EDIT_CASES)
def test_day_of_edits(text: str, expected: Command) -> None:
    assert parse(text) == expected


TZ = ZoneInfo("Asia/Shanghai")
START = datetime(2022, 2, 13, 8, 0, tzinfo=TZ)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        pytest.param("9 30", datetime(2022, 2, 13, 9, 30, tzinfo=TZ), id="time"),
        pytest.param("9点", datetime(2022, 2, 13, 9, 0, tzinfo=TZ), id="dian"),
        pytest.param("9点半", datetime(2022, 2, 13, 9, 30, tzinfo=TZ), id="ban"),
        pytest.param("9点15分", datetime(2022, 2, 13, 9, 15, tzinfo=TZ), id="fen"),
        pytest.param("下午2点", datetime(2022, 2, 13, 14, 0, tzinfo=TZ), id="pm"),
        pytest.param("上午10 00", datetime(2022, 2, 13, 10, 0, tzinfo=TZ), id="am"),
        pytest.param("2月14日 14 00", datetime(2022, 2, 14, 14, 0, tzinfo=TZ), id="date"),
        pytest.param("2月14日14点", datetime(2022, 2, 14, 14, 0, tzinfo=TZ), id="glued-date"),
        pytest.param("2022-02-15 08 30", datetime(2022, 2, 15, 8, 30, tzinfo=TZ), id="iso"),
        pytest.param("2023年3月1日 8 00", datetime(2023, 3, 1, 8, 0, tzinfo=TZ), id="year"),
        pytest.param("25 00", None, id="hour-out-of-range"),
        pytest.param("2月30日 9 00", None, id="no-such-day"),
        pytest.param("明天", None, id="words"),
        pytest.param("", None, id="empty"),
    ],
)
def test_resolve_time(typed: str, expected: datetime | None) -> None:
    assert resolve_time(typed, START, TZ) == expected
