"""Collection through the levels: a 教育组 head and a 督学 see, and are told about, their own
units only; the leaders' overdue list waits ``escalate_after`` so the responsible hear first."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.app import Services, build_services
from bot.clock import FakeClock
from bot.config import settings_from_mapping
from bot.config.scopes import oversight
from bot.errors import ConfigError
from bot.scheduler import run_planners
from handlers.messages import message_of
from storage.db import transaction
from storage.models import OutboxRow
from tests.conftest import make_settings
from tests.support.campaign import campaign
from tests.support.wire import private_message

TZ = ZoneInfo("Asia/Shanghai")
START = datetime(2027, 3, 1, 9, 0, tzinfo=TZ)
SEED = campaign()


def _person(name: str, unit: str, uid: str, roles: tuple[str, ...] = ("principal",)) -> Any:
    return {"name": name, "roles": list(roles), "unit": unit, "wecom_userid": uid}


UNITS = [
    {"name": "城关教育组"},
    {"name": "东城小学", "parent": "城关教育组"},
    {"name": "西城小学", "parent": "城关教育组"},
    {"name": "南城小学"},
]
PEOPLE = [
    *SEED["people"],
    _person("刘组长", "城关教育组", "liuzz"),
    {"name": "张督学", "roles": [], "wecom_userid": "zhangdx", "responsible_for": ["南城小学"]},
    _person("东城校长", "东城小学", "dcxz"),
    _person("西城校长", "西城小学", "xcxz"),
    _person("南城校长", "南城小学", "ncxz"),
]
GROUPS = [
    *SEED["groups"],
    {"key": "xiaozhang", "name": "校长群", "platform": "wecom", "webhook": "x"},
]
DEADLINES = [
    {
        "key": "weekly",
        "title": "周报",
        "due": "2027-03-05 17:00",
        "submitters": ["东城小学", "西城小学", "南城小学"],
        "group": "xiaozhang",
        "remind_before": ["1d"],
        "escalate_to": ["leaders"],
        "escalate_after": "1d",
    }
]


@pytest.fixture
def services(sqlite_url: str, tmp_path: Path) -> Iterator[Services]:
    settings = make_settings(
        sqlite_url, tmp_path, units=UNITS, people=PEOPLE, groups=GROUPS, deadlines=DEADLINES
    )
    svc = build_services(settings, clock=FakeClock(START))
    yield svc
    svc.engine.dispose()


IDS = itertools.count()


def say(services: Services, sender: str, text: str) -> tuple[str, str]:
    outcome = services.dispatcher.process(private_message(sender, text, f"o{next(IDS)}"))
    return outcome.status, outcome.reply.text


def pushes(services: Services) -> list[tuple[str, str, str, datetime]]:
    with transaction(services.factory) as session:
        rows = session.scalars(select(OutboxRow).order_by(OutboxRow.id)).all()
        return [
            (r.target_kind, r.target, message_of(r.payload).text, r.due_at.astimezone(TZ))
            for r in rows
        ]


def test_who_answers_for_which_units(services: Services) -> None:
    assert oversight(services.settings) == {
        "刘组长": frozenset({"东城小学", "西城小学"}),
        "张督学": frozenset({"南城小学"}),
    }


def test_a_unit_nobody_defined_is_refused() -> None:
    data = campaign(units=UNITS, people=[*PEOPLE[:-1], {**PEOPLE[-1], "responsible_for": ["北城"]}])
    with pytest.raises(ConfigError, match="北城"):
        settings_from_mapping(data)


def test_missing_for_a_head_covers_their_schools_only(services: Services) -> None:
    say(services, "dcxz", "提交 周报 https://pan.example.cn/s/dc")
    status, text = say(services, "liuzz", "未交 周报")
    assert status == "ok"
    assert text.startswith("您负责的单位：东城小学、西城小学\n\n“周报”")
    assert "应交 2 · 已交 1 · 逾期交 0 · 未交 1\n西城小学" in text
    assert "南城小学" not in text
    status, text = say(services, "zhangdx", "未交")
    assert "南城小学" in text
    assert "西城小学" not in text


def test_progress_and_submitted_for_a_head(services: Services) -> None:
    say(services, "dcxz", "提交 周报 https://pan.example.cn/s/dc")
    _status, text = say(services, "liuzz", "进度")
    assert text == (
        "材料提交（您负责的单位：东城小学、西城小学）：\n"
        "周报（截止 3月5日（周五）17:00）：应交 2 · 已交 1 · 逾期交 0 · 未交 1"
    )
    _status, text = say(services, "zhangdx", "已交 周报")
    assert "应交 1 · 已交 0 · 逾期交 0 · 未交 1" in text
    assert "东城小学" not in text


def test_a_head_may_not_return_or_exempt(services: Services) -> None:
    assert say(services, "liuzz", "免交 西城小学 周报")[0] == "refused"
    assert say(services, "dcxz", "未交 周报")[0] == "refused"  # a principal with no units below


def test_heads_are_told_privately_and_before_the_leaders(services: Services) -> None:
    say(services, "dcxz", "提交 周报 https://pan.example.cn/s/dc")
    for day in (4, 5):
        run_planners(services.factory, services.settings, datetime(2027, 3, day, 17, tzinfo=TZ))
    private = [(t, text) for kind, t, text, _ in pushes(services) if kind == "person"]
    assert private == [
        (
            "liuzz",
            "【交材料提醒】周报\n截止时间：3月5日（周五）17:00（还剩 1 天）\n"
            "您负责的单位中 1 个尚未提交：西城小学",
        ),
        (
            "zhangdx",
            "【交材料提醒】周报\n截止时间：3月5日（周五）17:00（还剩 1 天）\n"
            "您负责的单位中 1 个尚未提交：南城小学",
        ),
        (
            "liuzz",
            "【逾期未交】周报\n截止时间：3月5日（周五）17:00\n"
            "您负责的单位中 1 个尚未提交：西城小学\n请督促尽快补交。",
        ),
        (
            "zhangdx",
            "【逾期未交】周报\n截止时间：3月5日（周五）17:00\n"
            "您负责的单位中 1 个尚未提交：南城小学\n请督促尽快补交。",
        ),
    ]
    leaders = [(due, text) for kind, t, text, due in pushes(services) if t == "leaders"]
    assert [due for due, _ in leaders] == [datetime(2027, 3, 6, 17, 0, tzinfo=TZ)]
    # Planning again adds nothing.
    before = len(pushes(services))
    run_planners(services.factory, services.settings, datetime(2027, 3, 5, 17, 0, tzinfo=TZ))
    assert len(pushes(services)) == before


def test_a_notice_planned_late_says_the_time_left_when_it_is_sent(
    sqlite_url: str, tmp_path: Path
) -> None:
    """Down from 14:00 to 18:00: the 2 h notice (15:00) is planned at 18:00, after the 17:00
    deadline; it says how late it is, not "还剩 2 小时"."""
    deadlines = [{**DEADLINES[0], "remind_before": ["2h"]}]
    settings = make_settings(
        sqlite_url, tmp_path, units=UNITS, people=PEOPLE, groups=GROUPS, deadlines=deadlines
    )
    services = build_services(settings, clock=FakeClock(START))
    try:
        run_planners(services.factory, services.settings, datetime(2027, 3, 5, 18, tzinfo=TZ))
        reminders = [
            text
            for kind, _t, text, _ in pushes(services)
            if kind == "person" and text.startswith("【交材料提醒】")
        ]
    finally:
        services.engine.dispose()
    assert len(reminders) == 2  # 刘组长 and 张督学
    assert all("还剩" not in text and "（已逾期 1 小时）" in text for text in reminders), reminders


def test_a_unit_that_hands_in_drops_out_of_the_next_notice(services: Services) -> None:
    run_planners(services.factory, services.settings, datetime(2027, 3, 4, 17, tzinfo=TZ))
    say(services, "xcxz", "提交 周报 https://pan.example.cn/s/xc")
    run_planners(services.factory, services.settings, datetime(2027, 3, 5, 17, tzinfo=TZ))
    notices = [text for kind, t, text, _ in pushes(services) if t == "liuzz"]
    assert [n.rsplit("：", 1)[-1].split("\n")[0] for n in notices] == [
        "东城小学、西城小学",  # the reminder, before 西城 handed in
        "东城小学",  # the overdue notice after
    ]
