"""``edubot chat``: a terminal conversation through the real dispatcher, database and outbox."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.cli import main
from bot.clock import FakeClock
from bot.config import Settings
from bot.devtools.chat import find_person, messages, run_chat
from storage.db import make_engine, make_session_factory, transaction
from storage.models import InboundMessageRow, OutboxRow, ScoreSheet
from tests.conftest import make_settings

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def settings(sqlite_url: str, tmp_path: Path) -> Settings:
    return make_settings(sqlite_url, tmp_path)


def chat(settings: Settings, person: str, typed: str, clock: FakeClock) -> tuple[int, str]:
    out = io.StringIO()
    code = run_chat(settings, person, stdin=io.StringIO(typed), stdout=out, clock=clock)
    return code, out.getvalue()


def column(settings: Settings, attribute: Any) -> list[Any]:
    """Every value of one column, read through a fresh engine (run_chat disposed its own)."""
    engine = make_engine(settings.database.url)
    try:
        with transaction(make_session_factory(engine)) as session:
            return list(session.scalars(select(attribute)).all())
    finally:
        engine.dispose()


def test_banner_and_a_recorded_score(settings: Settings, clock: FakeClock) -> None:
    code, out = chat(settings, "申毅", "评分 瑞泉中学 18 22 17 20 9\n", clock)

    assert code == 0
    banner = out.split("\n\n")[0]
    assert "您是 申毅（评委），以企业微信账号 shenyi 私聊机器人。" in banner
    assert "评委：瑞泉中学会场" in banner
    assert "帮助" in banner
    assert "由 edubot serve 发送" in banner
    assert "> 评分 瑞泉中学 18 22 17 20 9\n" in out
    assert (
        "已记录 申毅 → 瑞泉中学共同体：86 分（目标18 措施22 进展17 成效20 表现9）"
        " · 本会场您还剩 4 位未评" in out
    )
    assert len(column(settings, ScoreSheet.id)) == 1


def test_a_backslash_continues_the_message(settings: Settings, clock: FakeClock) -> None:
    typed = "评分\\\n韩马 19 23 18 22 9 \\\n 5号 18 22 18 21 9\n进度\n"

    _, out = chat(settings, "申毅", typed, clock)

    assert "> 评分\n> 韩马 19 23 18 22 9\n> 5号 18 22 18 21 9\n" in out
    assert "已记录 申毅 → 韩马初中共同体：91 分" in out
    assert "已记录 申毅 → 育红初中共同体：88 分" in out
    assert "瑞泉中学会场：您还剩 3 位未评：瑞泉中学共同体、杜桥中学、尚德中学" in out
    texts = column(settings, InboundMessageRow.text)
    ids = column(settings, InboundMessageRow.message_id)
    assert texts == ["评分\n韩马 19 23 18 22 9\n5号 18 22 18 21 9", "进度"]
    assert all(i.startswith("chat-") for i in ids)


def test_exit_stops_reading(settings: Settings, clock: FakeClock) -> None:
    _, out = chat(settings, "申毅", "进度\n退出\n评分 瑞泉中学 86\n", clock)

    assert "> 进度" in out
    assert "评分 瑞泉中学 86" not in out
    assert column(settings, ScoreSheet.id) == []


def test_an_unknown_person_lists_the_configured_names(settings: Settings, clock: FakeClock) -> None:
    code, out = chat(settings, "张三", "帮助\n", clock)

    assert code == 2
    assert out.startswith("配置中没有“张三”。可选的人：李学斌、申毅、梁飞")


def test_a_dingtalk_only_judge_talks_over_dingtalk(settings: Settings, clock: FakeClock) -> None:
    code, out = chat(settings, "党 攀峰", "评分 实验 18 22 17 20 9\n", clock)

    assert code == 0
    assert "以钉钉账号 ding-dangpanfeng 私聊机器人" in out
    assert "已记录 党攀峰 → 实验初中共同体：86 分" in out
    assert column(settings, OutboxRow.id) == []  # no sessionWebhook: nothing queued as a reply


def test_pushes_are_shown_after_the_message_that_caused_them(
    settings: Settings, clock: FakeClock
) -> None:
    for judge, base in (("申毅", 86), ("梁飞", 88)):
        batch = "\\\n".join(f"{n}号 {base - n}" for n in range(1, 6))
        _, out = chat(settings, judge, f"评分\\\n{batch}\n", clock)
        assert "[推送" not in out
    _, last = chat(
        settings, "张伟利", "评分 1号 86\\\n2号 85\\\n3号 84\\\n4号 83\\\n5号 82\n", clock
    )
    assert "[推送 → 瑞泉中学会场群] 瑞泉中学会场全部评分已完成（3 位评委 × 5 位选手）" in last
    assert last.count("[推送") == 1

    code, out = chat(settings, "李学斌", "公布\n", clock)

    assert code == 0
    assert "已公布并锁定瑞泉中学会场成绩，已推送至：领导小组群、瑞泉中学会场群。" in out
    assert "[推送 → 领导小组群] 【成绩公布】学校管理论坛·瑞泉中学会场\n  第1名" in out
    assert "[推送 → 瑞泉中学会场群] 【成绩公布】" in out
    assert "[推送 → 领导小组群] （图片）瑞泉中学会场成绩排名表" in out
    statuses = column(settings, OutboxRow.status)
    assert statuses == ["pending"] * 5  # shown, not sent: `edubot serve` sends them


def test_export_in_chat_shows_the_file_push(settings: Settings, clock: FakeClock) -> None:
    _, out = chat(settings, "李学斌", "导出\n", clock)

    path = Path(settings.server.data_dir) / "exports" / "ruiquan-成绩汇总表-20220213-0830.xlsx"
    assert path.exists()
    assert f"[推送 → 李学斌] 瑞泉中学会场成绩汇总表（评分尚未全部完成）\n  （附件：{path}）" in out


def test_messages_join_continued_lines_and_skip_blank_ones() -> None:
    lines = iter(["", "评分 \\", "杜桥 90", "   ", "exit", "进度"])

    assert list(messages(lambda _prompt: next(lines, None), "> ", "… ")) == ["评分\n杜桥 90"]


def test_find_person_ignores_spaces(settings: Settings) -> None:
    found = find_person(settings, "申 毅")
    assert found is not None
    assert found.name == "申毅"
    assert find_person(settings, "申") is None


@pytest.mark.parametrize(
    ("person", "over", "typed", "expected"),
    [
        pytest.param(
            "瑞泉中学校长",
            [],
            "帮助\n",
            ["您是 瑞泉中学校长（校长/负责人） · 瑞泉中学共同体", "瑞泉中学校长，您可以使用："],
            id="auto-is-direct-in-callback-mode",
        ),
        pytest.param(
            "申毅",
            ["--over", "websocket"],
            "进度\n",
            ["消息经：企业微信智能机器人长连接", "您还剩 5 位未评"],
            id="over-the-robot-long-connection",
        ),
    ],
)
def test_the_cli_runs_chat_on_the_example_config(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    person: str,
    over: list[str],
    typed: str,
    expected: list[str],
) -> None:
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    text = text.replace('"sqlite:///edubot.db"', f'"sqlite:///{tmp_path / "e.db"}"')
    text = text.replace('"edubot-data"', f'"{tmp_path / "data"}"')
    config = tmp_path / "edubot.toml"
    config.write_text(text, encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", io.StringIO(typed))

    code = main(["chat", "--config", str(config), "--as", person, *over])

    out = capsys.readouterr().out
    assert code == 0
    for line in expected:
        assert line in out
