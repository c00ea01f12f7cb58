"""Venue reminder planning and wording as pure functions (PRODUCT §5)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.config import VenueConfig, settings_from_mapping
from bot.planning.venue_reminders import PREFIX, reminder_text, venue_reminders
from tests.support.campaign import campaign

TZ = ZoneInfo("Asia/Shanghai")


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=TZ)


def venue(**changes: Any) -> VenueConfig:
    """The seed's 瑞泉中学 venue (2022-02-13 08:00), validated like a config file."""
    data = campaign()
    data["venues"] = [{**data["venues"][0], **changes}]
    return settings_from_mapping(data).venues[0]


RUBRIC = settings_from_mapping(campaign()).rubrics[0]


def plan(f: VenueConfig) -> list[tuple[str, datetime]]:
    return [(r.label, r.at) for r in venue_reminders(f, TZ)]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        pytest.param(
            {},
            [("eve", "2022-02-12 18:00"), ("1h", "2022-02-13 07:00")],
            id="default-eve-1800-and-1h",
        ),
        pytest.param(
            {"remind_eve": ""},
            [("1h", "2022-02-13 07:00")],
            id="empty-eve-disables-it",
        ),
        pytest.param(
            {"remind_eve": "20:30", "remind_before": ["30m", "2h", "1d"]},
            [
                ("1d", "2022-02-12 08:00"),
                ("eve", "2022-02-12 20:30"),
                ("2h", "2022-02-13 06:00"),
                ("30m", "2022-02-13 07:30"),
            ],
            id="offsets-sorted-with-the-eve",
        ),
        pytest.param(
            {"remind_before": []},
            [("eve", "2022-02-12 18:00")],
            id="no-offsets",
        ),
        pytest.param(
            {"remind_eve": "", "remind_before": []},
            [],
            id="no-reminders-at-all",
        ),
        pytest.param(
            {"remind_before": "2h"},
            [("eve", "2022-02-12 18:00"), ("2h", "2022-02-13 06:00")],
            id="a-single-offset-as-text",
        ),
        pytest.param(
            {"starts_at": "2022-02-13 00:30"},
            [("eve", "2022-02-12 18:00"), ("1h", "2022-02-12 23:30")],
            id="just-after-midnight-eve-is-the-calendar-day-before",
        ),
        pytest.param(
            {"starts_at": "2022-02-12T16:30:00+00:00"},
            [("eve", "2022-02-12 18:00"), ("1h", "2022-02-12 23:30")],
            id="utc-start-eve-in-the-config-timezone",
        ),
    ],
)
def test_venue_reminders(changes: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert plan(venue(**changes)) == [(label, local(at)) for label, at in expected]


def test_reminder_times_are_aware_and_keys_carry_the_start() -> None:
    f = venue()
    reminders = venue_reminders(f, TZ)
    assert all(r.at.tzinfo is not None for r in reminders)
    assert [r.key for r in reminders] == [
        f"{PREFIX}ruiquan:eve:2022-02-13T08:00:00+08:00",
        f"{PREFIX}ruiquan:1h:2022-02-13T08:00:00+08:00",
    ]
    moved = venue_reminders(venue(starts_at="2022-02-14 08:00"), TZ)
    assert {r.key for r in moved}.isdisjoint(r.key for r in reminders)


def test_an_offset_listed_twice_is_planned_once() -> None:
    assert plan(venue(remind_before=["1h", "1h"])) == [
        ("eve", local("2022-02-12 18:00")),
        ("1h", local("2022-02-13 07:00")),
    ]


def test_eve_text_names_time_place_host_judges_and_contestants_in_order() -> None:
    text = reminder_text(venue(), TZ, "eve", rubric=RUBRIC)
    assert text == (
        "【会场提醒】学校管理论坛·瑞泉中学会场明天开始\n"
        "时间：2月13日（周日）08:00\n"
        "地点：瑞泉中学\n"
        "主持：李学斌\n"
        "评委：申毅、梁飞、张伟利\n"
        "选手（按顺序）：1.瑞泉中学共同体、2.杜桥中学、3.尚德中学、4.韩马初中共同体、"
        "5.育红初中共同体\n"
        "评委请在本群 @我 评分，例如：评分 1号 16 20 16 20 8"
    )


@pytest.mark.parametrize(
    ("label", "when"),
    [
        ("1h", "1 小时后开始"),
        ("30m", "30 分钟后开始"),
        ("90m", "90 分钟后开始"),
        ("2h", "2 小时后开始"),
        ("1d", "1 天后开始"),
    ],
)
def test_offset_text_says_how_soon(label: str, when: str) -> None:
    first_line = reminder_text(venue(), TZ, label, rubric=RUBRIC).splitlines()[0]
    assert first_line == f"【会场提醒】学校管理论坛·瑞泉中学会场{when}"


def test_text_without_location_or_host() -> None:
    text = reminder_text(venue(location="", host=""), TZ, "1h", rubric=RUBRIC)
    assert text.splitlines()[:4] == [
        "【会场提醒】学校管理论坛·ruiquan会场1 小时后开始",
        "时间：2月13日（周日）08:00",
        "地点：见通知",
        "主持：—",
    ]


def test_text_uses_the_config_timezone() -> None:
    text = reminder_text(venue(starts_at="2022-02-13T00:00:00+00:00"), TZ, "eve", rubric=RUBRIC)
    assert "时间：2月13日（周日）08:00" in text
