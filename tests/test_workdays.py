"""Holidays after chinesecalendar's last year: the ``[calendar]`` section, its precedence over
the library, the missing-data warning (check-config, serve, /healthz) and ``edubot calendar``.

chinesecalendar 1.11.0 knows 2004–2026. 2027 stands for "a year without library data"; the
2027 days written below are what a bureau would type from the State Council's schedule.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
import uvicorn
from sqlalchemy import select
from starlette.testclient import TestClient

from bot.app import build_services, create_app
from bot.cli import main
from bot.clock import FakeClock
from bot.config import ConfigError, Settings, load_settings, settings_from_mapping
from bot.holidays import holiday_warning, years_without_data
from bot.planning.deadlines import plan_deadline_reminders
from bot.planning.overview import describe
from handlers.workdays import WorkCalendar, library_knows, parse_days, reminder_times
from storage.db import transaction
from storage.models import OutboxRow
from tests.conftest import make_settings
from tests.support.campaign import campaign

TZ = ZoneInfo("Asia/Shanghai")
EXAMPLE = Path(__file__).resolve().parents[1] / "config.example.toml"

CALENDAR_2027 = {
    "holidays": ["2027-01-01", "2027-02-06..2027-02-13"],  # 元旦; 春节 (Sat..Sat)
    "workdays": ["2027-02-20"],  # a 调休 Saturday
}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=TZ)


def calendar_2027() -> WorkCalendar:
    return settings_from_mapping({"calendar": CALENDAR_2027}).work_calendar


def deadline(due: str, remind: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "key": "report",
        "title": "整改报告",
        "due": due,
        "submitters": ["瑞泉中学"],
        "group": "leaders",
        "remind_before": remind,
        "workdays_only": True,
        **extra,
    }


def seed(*deadlines: dict[str, Any], **extra: Any) -> Settings:
    """The seed campaign with these deadlines."""
    return settings_from_mapping(campaign(deadlines=list(deadlines), **extra))


def test_the_test_premise_the_library_stops_at_2026() -> None:
    assert library_knows(2026)
    assert not library_knows(2027)


# ------------------------------------------------------------------ 2027 with [calendar]


@pytest.mark.parametrize(
    ("due", "offsets", "expected"),
    [
        pytest.param(
            "2027-01-04 17:00",
            ("3d",),
            [("3d", "2026-12-31 17:00")],  # 元旦 (configured) → back over the year's edge
            id="new-year-configured-holiday",
        ),
        pytest.param(
            "2027-02-15 17:00",
            ("3d",),
            [("3d", "2027-02-05 17:00")],  # 02-12 is 春节 in the config: back to Friday 02-05
            id="spring-festival-configured",
        ),
        pytest.param(
            "2027-02-22 17:00",
            ("2d",),
            [("2d", "2027-02-20 17:00")],  # the 调休 Saturday counts as a working day
            id="make-up-saturday-is-a-working-day",
        ),
    ],
)
def test_2027_reminders_follow_the_configured_calendar(
    due: str, offsets: tuple[str, ...], expected: list[tuple[str, str]]
) -> None:
    got = reminder_times(at(due), offsets, workdays_only=True, tz=TZ, calendar=calendar_2027())
    assert got == [(label, at(when)) for label, when in expected]


@pytest.mark.parametrize(
    ("due", "offsets", "expected"),
    [
        pytest.param("2027-01-04 17:00", ("3d",), [("3d", "2027-01-01 17:00")], id="new-year"),
        pytest.param("2027-02-15 17:00", ("3d",), [("3d", "2027-02-12 17:00")], id="spring"),
        pytest.param("2027-02-22 17:00", ("2d",), [("2d", "2027-02-19 17:00")], id="saturday"),
    ],
)
def test_2027_without_calendar_falls_back_to_the_weekday_rule(
    due: str, offsets: tuple[str, ...], expected: list[tuple[str, str]]
) -> None:
    got = reminder_times(at(due), offsets, workdays_only=True, tz=TZ)
    assert got == [(label, at(when)) for label, when in expected]


def test_configured_days_win_and_the_rest_still_come_from_the_library() -> None:
    calendar = settings_from_mapping(
        {"calendar": {"holidays": ["2025-03-03"], "workdays": ["2026-10-01"]}}
    ).work_calendar
    assert calendar.is_working_day(date(2025, 3, 3)) is False  # a Monday, off by the config
    assert calendar.is_working_day(date(2026, 10, 1)) is True  # 国庆, working by the config
    assert calendar.day_source(date(2026, 10, 1)) == "config"
    configured = {date(2025, 3, 3), date(2026, 10, 1)}
    day = date(2024, 1, 1)
    while day.year <= 2026:
        if day not in configured:
            assert calendar.is_working_day(day) is chinese_calendar.is_workday(day), day
            assert calendar.day_source(day) == "chinesecalendar"
        day += timedelta(days=1)


def test_the_example_config_writes_out_the_2026_schedule_exactly_as_the_library_has_it() -> None:
    calendar = load_settings(EXAMPLE).work_calendar
    assert calendar.year_source(2026) == "config"
    day = date(2026, 1, 1)
    while day.year == 2026:
        assert calendar.day_source(day) in ("config", "chinesecalendar")
        assert calendar.is_working_day(day) is chinese_calendar.is_workday(day), day
        day += timedelta(days=1)


@pytest.mark.parametrize(
    ("section", "problem"),
    [
        ({"holidays": ["2027-13-01"]}, "calendar.holidays: '2027-13-01' is not a date"),
        ({"workdays": ["2027-02-20..2027-02-10"]}, "ends before it starts"),
        ({"holidays": ["2027-01-01..2029-01-01"]}, "longer than a year"),
        ({"holidays": ["2027-01-01"], "workdays": ["2027-01-01"]}, "both a holiday and a make-up"),
        ({"holiday": ["2027-01-01"]}, "calendar.holiday: unknown key"),
    ],
)
def test_calendar_mistakes_name_the_key_and_the_entry(
    section: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ConfigError) as err:
        settings_from_mapping({"calendar": section})
    assert problem in str(err.value)


def test_toml_dates_and_strings_are_the_same_days(tmp_path: Path) -> None:
    path = tmp_path / "edubot.toml"
    path.write_text('[calendar]\nholidays = [2027-01-01, "2027-02-06..2027-02-07"]\n')
    calendar = load_settings(path).work_calendar
    assert calendar.holidays == parse_days(["2027-01-01", "2027-02-06", "2027-02-07"])


# ------------------------------------------------------------------ the warning


def test_warning_names_the_year_the_deadline_and_the_fix() -> None:
    settings = seed(deadline("2027-01-04 17:00", ["3d", "1d"]))
    warning = holiday_warning(settings, at("2026-12-02 09:00"))
    assert "2027 年没有节假日数据" in warning
    assert "整改报告" in warning
    assert "[calendar]" in warning
    assert "2027-01-01" in warning
    assert "chinesecalendar 只到 2026 年" in warning
    assert "edubot check-config" in warning
    assert "edubot calendar 2027" in warning


def test_warning_says_a_saved_calendar_is_reloaded_without_a_restart() -> None:
    polled = holiday_warning(seed(deadline("2027-01-04 17:00", ["3d"])), at("2026-12-02 09:00"))
    assert polled.endswith("保存后运行中的服务会自动载入，无需重启。")
    assert "重启服务" not in polled
    unpolled = seed(deadline("2027-01-04 17:00", ["3d"]), server={"config_poll_seconds": 0})
    manual = holiday_warning(unpolled, at("2026-12-02 09:00"))
    assert manual.endswith("保存后运行 edubot reload，运行中的服务即载入，无需重启。")


def test_no_warning_once_the_year_is_configured_or_the_reminders_passed() -> None:
    configured = seed(deadline("2027-01-04 17:00", ["3d"]), calendar=CALENDAR_2027)
    assert holiday_warning(configured, at("2026-12-02 09:00")) == ""
    bare = seed(deadline("2027-01-04 17:00", ["3d"]))
    assert holiday_warning(bare, at("2027-01-02 09:00")) == ""  # the only round is past
    weekly = seed(deadline("2027-01-04 17:00", ["3d"], workdays_only=False))
    assert holiday_warning(weekly, at("2026-12-02 09:00")) == ""  # not workdays_only


def test_a_2026_deadline_whose_reminders_stay_in_2026_needs_nothing() -> None:
    settings = seed(deadline("2026-12-30 17:00", ["3d", "1d"]))
    assert years_without_data(settings, at("2026-12-02 09:00")) == {}


def _write_config(tmp_path: Path, *, with_calendar: bool) -> Path:
    lines = [
        "[[groups]]",
        'key = "principals"',
        'platform = "wecom"',
        'webhook = "k"',
        "[[deadlines]]",
        'key = "report"',
        'title = "整改报告"',
        'due = "2027-01-04 17:00"',
        'submitters = ["张校长"]',
        'group = "principals"',
        'remind_before = ["3d"]',
        "workdays_only = true",
        "[[people]]",
        'name = "张校长"',
        'unit = "瑞泉中学"',
        'roles = ["principal"]',
        'wecom_userid = "zhang"',
        "[database]",
        f'url = "sqlite:///{tmp_path / "edubot.db"}"',
    ]
    if with_calendar:
        lines += ["[calendar]", 'holidays = ["2027-01-01"]']
    path = tmp_path / "edubot.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_check_config_prints_the_warning_only_without_data(tmp_path: Path) -> None:
    now = at("2026-12-02 09:00")
    bare = describe(load_settings(_write_config(tmp_path, with_calendar=False)), now=now)
    assert "2027 年没有节假日数据" in bare
    assert "计划 2027年1月1日（周五）17:00 提醒未交者" in bare  # the weekday rule: on 元旦
    done = describe(load_settings(_write_config(tmp_path, with_calendar=True)), now=now)
    assert "没有节假日数据" not in done
    assert "计划 12月31日（周四）17:00 提醒未交者" in done  # moved off the configured 元旦


def test_serve_warns_once_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    ran: list[object] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **_: ran.append(app))
    path = _write_config(tmp_path, with_calendar=False)
    with caplog.at_level(logging.WARNING, logger="edubot"):
        assert main(["serve", "--config", str(path), "--no-scheduler", "--workers", "1"]) == 0
    assert ran, "serve did not reach the server"
    warnings = [r for r in caplog.records if "没有节假日数据" in r.getMessage()]
    assert len(warnings) == 1
    assert "2027 年" in warnings[0].getMessage()


def test_healthz_shows_the_warning_while_it_holds(tmp_path: Path) -> None:
    clock = FakeClock(at("2026-12-02 09:00"))
    settings = make_settings(
        f"sqlite:///{tmp_path / 'edubot.db'}",
        tmp_path,
        deadlines=[deadline("2027-01-04 17:00", ["3d"])],
    )
    services = build_services(settings, clock=clock)
    try:
        with TestClient(create_app(services)) as client:
            body = client.get("/healthz").json()
            assert body["status"] == "ok"  # a warning is not an outage
            assert len(body["warnings"]) == 1
            assert "2027 年" in body["warnings"][0]
            clock.set(at("2027-01-02 09:00"))  # the reminder has passed: nothing left to warn
            assert client.get("/healthz").json()["warnings"] == []
    finally:
        services.engine.dispose()


def test_the_planner_moves_a_2027_reminder_off_a_configured_holiday(tmp_path: Path) -> None:
    clock = FakeClock(at("2026-12-31 09:00"))
    settings = make_settings(
        f"sqlite:///{tmp_path / 'edubot.db'}",
        tmp_path,
        calendar=CALENDAR_2027,
        deadlines=[deadline("2027-01-04 17:00", ["3d"])],
    )
    services = build_services(settings, clock=clock)
    try:
        with transaction(services.factory) as session:
            assert plan_deadline_reminders(session, settings, clock.now()) == 1
            due = session.scalars(select(OutboxRow.due_at)).one()
        assert due.replace(tzinfo=due.tzinfo or ZoneInfo("UTC")) == at("2026-12-31 17:00")
    finally:
        services.engine.dispose()


# ------------------------------------------------------------------ edubot calendar


def test_calendar_command_names_the_source_of_each_year(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no edubot.toml here: the library alone
    assert main(["calendar", "2026"]) == 0
    out = capsys.readouterr().out
    assert "2026 年节假日（from chinesecalendar）" in out
    assert "2026-02-16 周一 春节（from chinesecalendar）" in out
    assert "2026-02-14 周六 春节（from chinesecalendar）" in out  # a make-up day

    assert main(["calendar", "2027"]) == 0
    assert "weekday rule only — no holiday data for 2027" in capsys.readouterr().out

    path = _write_config(tmp_path, with_calendar=True)
    assert main(["calendar", "2027", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "2027 年节假日（from the config）" in out
    assert "2027-01-01 周五（from the config）" in out
    assert main(["calendar", "99999"]) == 2
