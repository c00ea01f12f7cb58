"""Structured self-checks (seed 004's B-level indicators): fields declared on a deadline,
answered in chat one line per indicator or all at once, validated, exported by column."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from bot.app import Services, build_services
from bot.clock import FakeClock
from handlers.errors import BotError
from handlers.selfcheck import CheckField, read_values
from handlers.submission_export import export_submissions, pick_deadlines
from storage.db import transaction
from tests.conftest import make_settings
from tests.support.campaign import campaign
from tests.support.wire import private_message

TZ = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 4, 6, 9, 0, tzinfo=TZ)
OK = ("达标", "未达标")
FIELDS = [
    CheckField("办学理念", OK),
    CheckField("课程建设", OK, ("课程",)),
    CheckField("安全管理", OK),
    CheckField("说明"),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("办学理念 达标", {"办学理念": "达标"}, id="one-line"),
        pytest.param(
            "办学理念 达标\n课程建设 未达标 缺少校本课程",
            {"办学理念": "达标", "课程建设": "未达标", "课程建设（说明）": "缺少校本课程"},
            id="lines-with-a-note",
        ),
        pytest.param("课程 未达标", {"课程建设": "未达标"}, id="alias"),
        pytest.param("安全 达", {"安全管理": "达标"}, id="unique-prefixes"),
        pytest.param(
            "达标 未达标 达标",
            {"办学理念": "达标", "课程建设": "未达标", "安全管理": "达标"},
            id="all-at-once-in-order",
        ),
        pytest.param(
            "办学理念：达标；安全管理：未达标",
            {"办学理念": "达标", "安全管理": "未达标"},
            id="punctuation",
        ),
        pytest.param("说明 本学期新建实验室", {"说明": "本学期新建实验室"}, id="free-text"),
    ],
)
def test_read_values(text: str, expected: dict[str, str]) -> None:
    assert read_values(text, FIELDS) == expected


@pytest.mark.parametrize(
    ("text", "refusal"),
    [
        pytest.param(
            "办学理念 良好",
            "第 1 行：“办学理念”只能填 达标 或 未达标，收到“良好”。",
            id="bad-choice",
        ),
        pytest.param(
            "办学理念 达标\n师资 达标",
            "第 2 行：没有指标“师资”。指标有：办学理念、课程建设、安全管理、说明",
            id="unknown",
        ),
        pytest.param(
            "办学理念", "第 1 行：“办学理念”只能填 达标 或 未达标，收到“（空）”。", id="no-value"
        ),
        pytest.param("达标 达标", "第 1 行：没有指标“达标”", id="too-few-for-all-at-once"),
    ],
)
def test_refusals_name_the_line_and_what_is_allowed(text: str, refusal: str) -> None:
    with pytest.raises(BotError) as error:
        read_values(text, FIELDS)
    assert refusal in error.value.message


def _fields() -> list[dict[str, Any]]:
    return [
        {"name": f.name, "choices": list(f.choices), "aliases": list(f.aliases)} for f in FIELDS
    ]


@pytest.fixture
def services(sqlite_url: str, tmp_path: Path) -> Iterator[Services]:
    seed = campaign()
    people = [
        *seed["people"],
        {"name": "吴校长", "roles": ["principal"], "unit": "尚德中学", "wecom_userid": "wuxz"},
    ]
    deadlines = [
        {
            "key": "selfcheck",
            "title": "督导自查",
            "due": "2026-04-10 17:00",
            "submitters": ["瑞泉中学", "尚德中学"],
            "fields": _fields(),
        }
    ]
    settings = make_settings(sqlite_url, tmp_path, people=people, deadlines=deadlines)
    svc = build_services(settings, clock=FakeClock(START))
    yield svc
    svc.engine.dispose()


IDS = itertools.count()


def say(services: Services, sender: str, text: str) -> tuple[str, str]:
    outcome = services.dispatcher.process(private_message(sender, text, f"s{next(IDS)}"))
    return outcome.status, outcome.reply.text


def test_answers_accumulate_over_messages_and_the_receipt_says_what_is_missing(
    services: Services,
) -> None:
    status, text = say(services, "wuxz", "提交 自查 办学理念 达标")
    assert status == "ok"
    assert "自查已填 1/4 项：办学理念 达标；还差：课程建设、安全管理" in text
    status, text = say(services, "wuxz", "提交 自查\n课程建设 未达标 缺少校本课程\n安全管理 达标")
    assert "第 2 版" in text
    assert "自查已填 3/4 项：办学理念 达标、课程建设 未达标、安全管理 达标" in text
    assert "还差" not in text


def test_a_wrong_value_refuses_and_records_nothing(services: Services) -> None:
    status, text = say(services, "wuxz", "提交 自查 办学理念 达标\n安全管理 良好")
    assert status == "refused"
    assert "第 2 行：“安全管理”只能填 达标 或 未达标，收到“良好”。" in text
    status, text = say(services, "wuxz", "已交 督导自查")
    assert status == "refused"  # a principal may not look; and nothing was recorded:
    status, text = say(services, "jiaoyugu", "已交 督导自查")
    assert "应交 2 · 已交 0" in text


def test_the_export_has_one_column_per_field_and_one_row_per_unit(
    services: Services, tmp_path: Path
) -> None:
    say(services, "wuxz", "提交 自查 达标 未达标 达标")
    say(services, "wuxz", "提交 自查 课程 未达标 缺少校本课程")
    with transaction(services.factory) as session:
        chosen = pick_deadlines(session, "selfcheck", "", START)
        done = export_submissions(
            session, chosen, data_dir=tmp_path, out_dir=tmp_path / "out", tz=TZ
        )
    rows = list(load_workbook(done.index).active.iter_rows(values_only=True))  # type: ignore[union-attr]
    assert rows[0][-5:] == ("办学理念", "课程建设", "安全管理", "说明", "备注")
    assert [r[1] for r in rows[1:]] == ["瑞泉中学", "尚德中学"]
    assert rows[2][-5:] == ("达标", "未达标", "达标", None, "课程建设：缺少校本课程")
    assert rows[1][-5:] == (None, None, None, None, None)
