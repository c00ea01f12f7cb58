"""``edubot check-config``: the printed plan for the seed's 附件1 timetable, and refusals
that name the key (exit code 2)."""

from __future__ import annotations

import logging
import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import uvicorn

from bot.cli import main
from bot.config import load_settings
from bot.planning.overview import describe
from tests.support.campaign import campaign
from tests.support.toml import toml_text

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "config.example.toml"
TZ = ZoneInfo("Asia/Shanghai")

# 附件1 活动安排表: the 学校管理论坛 venues on 2022年2月13日8点 that name their judges.
# (location, unit that organises, host, judges, contestants)
VENUES: list[tuple[str, str, str, list[str], list[str]]] = [
    (
        "瑞泉中学",
        "人事股",
        "李学斌",
        ["申毅", "梁飞", "张伟利"],
        ["瑞泉中学共同体", "杜桥中学", "尚德中学", "韩马初中共同体", "育红初中共同体"],
    ),
    (
        "育红初中",
        "计财股",
        "郭锋",
        ["党攀峰", "樊文英", "韩晓斌"],
        ["实验初中共同体", "前进路初中共同体", "陇海初中共同体", "南京路初中共同体"],
    ),
    (
        "渭南市实验小学",
        "宣教办",
        "李强",
        ["郭俊峰", "李战利", "梁勇"],
        ["实验小学共同体", "北塘实验小学共同体", "育红小学共同体", "小寨小学共同体"],
    ),
    (
        "丰荫明德小学",
        "教育股",
        "王玉新",
        ["田刚", "谢联合", "柳红岗"],
        ["丰荫明德小学共同体", "张逸夫小学共同体", "南塘小学共同体", "人和小学共同体"],
    ),
    (
        "西安路小学",
        "安稳股",
        "贺涛",
        ["杨永吉", "杨晓蓉", "张宓宓"],
        ["西安路小学共同体", "五里铺小学共同体", "盈田小学共同体", "沋西小学共同体"],
    ),
    (
        "渭河小学",
        "党办",
        "李旗",
        ["王文", "同永宏", "任晓东"],
        [
            "渭河小学共同体",
            "韩马小学共同体",
            "渭南小学共同体",
            "渭南市第一小学",
            "西安交大附小渭南分校",
        ],
    ),
]
KEYS = ["ruiquan", "yuhong", "shiyan", "fengyin", "xianlu", "weihe"]


def _toml_list(items: list[str]) -> str:
    return "[" + ", ".join(f'"{item}"' for item in items) + "]"


def fujian1_toml(db: Path) -> str:
    """A config holding the 附件1 venues (written as an organizer would, names padded)."""
    people: dict[str, str] = {}
    for _location, _unit, host, judges, _contestants in VENUES:
        people.setdefault(host, "host")
        for judge in judges:
            people.setdefault(judge, "judge")
    lines = [
        'timezone = "Asia/Shanghai"',
        "[database]",
        f'url = "sqlite:///{db}"',
    ]
    for key in KEYS[:2]:
        lines += ["[[groups]]", f'key = "{key}"', 'platform = "wecom"', f'webhook = "{key}-key"']
    for name, role in people.items():
        padded = f"{name[0]}  {name[1]}" if len(name) == 2 else name  # 附件1 writes "李  强"
        lines += ["[[people]]", f'name = "{padded}"', f'roles = ["{role}"]']
    lines += [
        "[[rubrics]]",
        'key = "fujian3"',
        'name = "学校管理论坛评分表"',
        "items = [",
        '  { name = "工作目标", max = 20 },',
        '  { name = "任务措施", max = 25 },',
        '  { name = "工作阶段进展", max = 20 },',
        '  { name = "工作预期成效", max = 25 },',
        '  { name = "个人表现", max = 10 },',
        "]",
    ]
    for key, (location, _unit, host, judges, contestants) in zip(KEYS, VENUES, strict=True):
        lines += [
            "[[venues]]",
            f'key = "{key}"',
            'title = "学校管理论坛"',
            "starts_at = 2022-02-13 08:00:00",  # a TOML local date-time
            f'location = "{location}"',
            'rubric = "fujian3"',
            f'host = "{host}"',
            f"judges = {_toml_list(judges)}",
            f"contestants = {_toml_list(contestants)}",
        ]
        if key in KEYS[:2]:
            lines.append(f'group = "{key}"')
    return "\n".join(lines) + "\n"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["check-config", *argv])
    out, err = capsys.readouterr()
    return code, out, err


# ------------------------------------------------------------------------------ the plan


def test_example_config_prints_both_venues_and_their_reminders(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, str(EXAMPLE))
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"配置有效 / config OK: {EXAMPLE}"
    for venue, host, judges, count in (
        ("ruiquan] 学校管理论坛·瑞泉中学", "李学斌", "申毅、梁飞、张伟利", 5),
        ("yuhong] 学校管理论坛·育红初中", "郭锋", "党攀峰、樊文英、韩晓斌", 4),
    ):
        at = next(i for i, line in enumerate(lines) if line.startswith(f"  [{venue}"))
        assert lines[at] == (
            f"  [{venue} 2022年2月13日（周日）08:00 主持 {host} 评委 {judges}"
            f" 选手 {count} 位 → 群 {venue.split(']')[0]}"
        )
        # Checked years later: every date carries its year.
        assert lines[at + 1] == "      已过 2022年2月12日（周六）18:00 会场提醒（前一晚）"
        assert lines[at + 2] == "      已过 2022年2月13日（周日）07:00 会场提醒（提前 1h）"


def test_fujian1_timetable_plan(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "edubot.toml"
    path.write_text(fujian1_toml(tmp_path / "edubot.db"), encoding="utf-8")
    code, out, err = run(capsys, str(path))
    assert (code, err) == (0, "")
    plan = out[out.index("会场与提醒计划:") :].split("\n\n")[0].splitlines()
    expected = ["会场与提醒计划:"]
    for key, (location, _unit, host, judges, contestants) in zip(KEYS, VENUES, strict=True):
        group = key if key in KEYS[:2] else "—"
        expected += [
            f"  [{key}] 学校管理论坛·{location} 2022年2月13日（周日）08:00 主持 {host}"
            f" 评委 {'、'.join(judges)} 选手 {len(contestants)} 位 → 群 {group}",
            "      已过 2022年2月12日（周六）18:00 会场提醒（前一晚）",
            "      已过 2022年2月13日（周日）07:00 会场提醒（提前 1h）",
        ]
    assert plan == expected
    assert not (tmp_path / "edubot.db").exists()  # checking touches no database


def test_plan_before_the_venue_says_planned(tmp_path: Path) -> None:
    path = tmp_path / "edubot.toml"
    path.write_text(fujian1_toml(tmp_path / "edubot.db"), encoding="utf-8")
    settings = load_settings(path)
    text = describe(settings, now=datetime(2022, 2, 12, 20, 0, tzinfo=TZ))
    lines = text.splitlines()
    assert lines.count("      已过 2月12日（周六）18:00 会场提醒（前一晚）") == 6
    assert lines.count("      计划 2月13日（周日）07:00 会场提醒（提前 1h）") == 6


# ------------------------------------------------------------------------------ refusals


@pytest.mark.parametrize(
    ("old", "new", "key", "problem"),
    [
        pytest.param(
            'judges = ["申毅", "梁飞", "张伟利"]',
            'judges = ["申毅", "梁飞", "张伟力"]',
            "venues[0].judges[2]",
            "unknown judge (not in [[people]]) '张伟力'",
            id="unknown-judge",
        ),
        pytest.param(
            'key = "yuhong"\ntitle',
            'key = "ruiquan"\ntitle',
            "venues[1].key",
            "duplicate key 'ruiquan'",
            id="duplicate-venue-key",
        ),
        pytest.param(
            '{ name = "个人表现", max = 10,',
            '{ name = "个人表现", max = 0,',
            "rubrics[0].items[4].max",
            "max must be greater than 0",
            id="max-zero",
        ),
        pytest.param(
            '{ name = "个人表现", max = 10,',
            '{ name = "个人表现", max = -5,',
            "rubrics[0].items[4].max",
            "max must be greater than 0",
            id="max-negative",
        ),
    ],
)
def test_broken_config_exits_2_naming_the_key(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    old: str,
    new: str,
    key: str,
    problem: str,
) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "broken.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    code, out, err = run(capsys, str(path))
    assert code == 2
    assert out == ""
    assert err.startswith("配置有误，共 ")
    assert re.search(rf"  {re.escape(str(path))}:\d+: {re.escape(key)}: ", err), err
    assert problem in err


def test_rubric_without_items_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    start = text.index('items = [\n  { name = "工作目标"')
    end = text.index("]\n", text.index("个人表现", start)) + 2
    path = tmp_path / "broken.toml"
    path.write_text(text[:start] + "items = []\n" + text[end:], encoding="utf-8")
    code, _, err = run(capsys, str(path))
    assert code == 2
    assert re.search(rf"{re.escape(str(path))}:\d+: rubrics\[0\]\.items: 评分表至少要有一项", err)
    assert "a rubric needs at least one item" in err  # the original wording stays alongside


def test_a_key_written_twice_in_one_table_exits_2_with_its_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    path = tmp_path / "broken.toml"
    path.write_text(
        text.replace("port = 8080\n", "port = 8080\nport = 8081\n", 1), encoding="utf-8"
    )
    code, _, err = run(capsys, str(path))
    assert code == 2
    line = text[: text.index("port = 8080")].count("\n") + 2
    assert f"{path}: not valid TOML" in err
    assert f"line {line}" in err


def test_missing_file_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, str(tmp_path / "nope.toml"))
    assert code == 2
    assert "nope.toml" in err
    # A new organizer without a file yet is told in Chinese where one comes from.
    assert "读不到配置文件" in err
    assert "把 config.example.toml 复制为 edubot.toml" in err


# ------------------------------------------------------------------- several mistakes at once

THREE_MISTAKES = """\
timezone = "Asia/Shanghai"

[[people]]
name = "王芳"
roles = ["judge"]

[[rubrics]]
key = "saike"
items = [{ name = "教学设计", max = 40 }, { name = "课堂实施", max = 40 }]

[[venues]]
key = "dongqu"
title = "赛课"
starts_at = "2026/04/10 8点30"
rubric = "saike"
judges = ["王芳"]
contestants = ["周晓燕"]
colour = "red"

[[deadlines]]
key = "selfcheck"
title = "自查报告"
due = "2026-04-20 17:00"
"""


def test_every_mistake_is_reported_at_once_in_chinese_with_its_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "edubot.toml"
    path.write_text(THREE_MISTAKES, encoding="utf-8")

    code, out, err = run(capsys, str(path))

    assert (code, out) == (2, "")
    lines = err.splitlines()
    assert lines[0] == "配置有误，共 3 处 / config errors:"
    assert lines[1].startswith(f"  {path}:14: venues[0].starts_at: 不是有效的日期时间：请写成 ")
    assert lines[2].startswith(f"  {path}:18: venues[0].colour: 未知的键：请对照 config.example")
    assert lines[3].startswith(f"  {path}:20: deadlines[0].submitters: 缺少必填项")


def test_reference_mistakes_are_all_reported(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    broken = text.replace(
        'judges = ["申毅", "梁飞", "张伟利"]', 'judges = ["申毅", "梁飞", "张伟力"]'
    )
    broken = broken.replace('host = "郭锋"', 'host = "郭峰"', 1)
    path = tmp_path / "broken.toml"
    path.write_text(broken, encoding="utf-8")

    code, _, err = run(capsys, str(path))

    assert code == 2
    assert "共 2 处" in err.splitlines()[0]
    assert "找不到“张伟力”（judge）：请先在 [[people]] 中定义，或改正拼写" in err
    assert "找不到“郭峰”" in err


def test_suspicious_but_legal_configs_are_warned_about(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    odd = text.replace('{ name = "个人表现", max = 10', '{ name = "个人表现", max = 15', 1).replace(
        'name = "申毅"\nroles = ["judge"]', 'name = "申毅"\nroles = ["principal"]', 1
    )
    odd = odd.replace('chat_id = "cidYuhongGroup"\n', "", 1)
    assert odd.count("max = 15") == 1
    assert 'roles = ["principal"]' in odd
    assert "cidYuhongGroup" not in odd
    path = tmp_path / "odd.toml"
    path.write_text(odd, encoding="utf-8")

    code, out, _ = run(capsys, str(path))

    assert code == 0
    assert "各项满分合计 105，不是 100" in out
    assert '申毅 是 ruiquan 的评委，但 [[people]] 中的 roles 没有 "judge"' in out
    assert "venues[1].group：会场群 yuhong 没有 chat_id" in out
    assert "ruiquan 没有 chat_id" not in out


DESK_WARNING = "desk.url：edubot serve 监听"
DESK_FIX = '请在 [desk] 中写上大家能打开的地址，例如 url = "http://10.1.2.3:8080"'


def _desk_config(tmp_path: Path, server: dict[str, object], desk: dict[str, object]) -> Path:
    data = campaign(f"sqlite:///{tmp_path / 'edubot.db'}")
    data["server"] = {"link_secret": "s3cret", "port": 8080, **server}
    data["desk"] = desk
    path = tmp_path / "edubot.toml"
    path.write_text(toml_text(data), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("server", "desk", "warned"),
    [
        pytest.param({"host": "0.0.0.0"}, {}, True, id="every-ipv4-interface"),
        pytest.param({"host": "::"}, {}, True, id="every-ipv6-interface"),
        pytest.param({"host": "0.0.0.0"}, {"url": "http://10.1.2.3:8080"}, False, id="desk-url"),
        pytest.param(
            {"host": "0.0.0.0", "public_url": "https://bot.example.edu.cn"},
            {},
            False,
            id="public-url",
        ),
        pytest.param({"host": "127.0.0.1"}, {}, False, id="loopback-only"),
        pytest.param({"host": "0.0.0.0", "link_secret": ""}, {}, False, id="desk-off"),
    ],
)
def test_desk_links_to_loopback_on_a_public_bind_are_warned_about(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    server: dict[str, object],
    desk: dict[str, object],
    warned: bool,
) -> None:
    code, out, _ = run(capsys, str(_desk_config(tmp_path, server, desk)))
    assert code == 0
    assert (DESK_WARNING in out, DESK_FIX in out) == (warned, warned)
    if warned:
        assert "http://127.0.0.1:8080/…，在别的电脑上打不开" in out


def test_serve_on_every_interface_logs_which_desk_key_to_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    ran: list[object] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **_: ran.append(app))
    path = _desk_config(tmp_path, {"host": "127.0.0.1"}, {})  # the command line says 0.0.0.0
    with caplog.at_level(logging.WARNING, logger="edubot"):
        argv = ["serve", "--config", str(path), "--no-scheduler", "--workers", "1"]
        argv += ["--host", "0.0.0.0"]
        assert main(argv) == 0
    assert ran, "serve did not reach the server"
    warnings = [r.getMessage() for r in caplog.records if DESK_WARNING in r.getMessage()]
    assert len(warnings) == 1
    assert DESK_FIX in warnings[0]


@pytest.mark.parametrize(
    ("wecom", "dingtalk", "expected"),
    [
        pytest.param(
            {},
            {},
            [
                "企业微信智能机器人: URL 回调 /wecom/robot（需要公网地址）",
                "企业微信自建应用: URL 回调 /wecom/callback（需要公网地址）",
                "钉钉机器人: HTTP 回调 /dingtalk/callback（需要公网地址）",
            ],
            id="callbacks",
        ),
        pytest.param(
            {"robot_mode": "websocket", "robot_bot_id": "b", "robot_secret": "s", "token": ""},
            {"mode": "stream"},
            [
                "企业微信智能机器人: 长连接 wss://openws.work.weixin.qq.com（无需公网地址）",
                "钉钉机器人: Stream 模式（无需公网地址）",
            ],
            id="no-public-url",
        ),
    ],
)
def test_check_config_says_how_each_platform_is_heard(
    wecom: dict[str, str], dingtalk: dict[str, str], expected: list[str]
) -> None:
    from datetime import UTC, datetime

    from bot.config import settings_from_mapping
    from bot.planning.overview import describe
    from tests.support.campaign import campaign

    data = campaign()
    data["wecom"] |= wecom
    data["dingtalk"] |= dingtalk
    text = describe(settings_from_mapping(data), now=datetime(2022, 2, 1, tzinfo=UTC))
    heard = [line for line in text.splitlines() if "公网地址" in line]
    assert heard == expected
