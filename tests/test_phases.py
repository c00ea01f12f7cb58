"""A campaign's phases drive something: 进度 and digests say which phase runs, a digest tied to
a campaign stops after its last phase (or runs only in its own phase), and a repeating
deadline placed by phase falls due inside that phase only (issue 13, items 1 and 5)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.app import Services, build_services
from bot.clock import FakeClock
from bot.config import settings_from_mapping
from bot.config.recurring import campaign_phases, planned_deadlines
from bot.planning.digests import enqueue_digest
from handlers.messages import message_of
from handlers.phases import campaign_lines, campaign_over, phase_text
from storage.db import transaction
from storage.models import OutboxRow
from tests.conftest import make_settings
from tests.support.campaign import campaign

TZ = ZoneInfo("Asia/Shanghai")


def at(text: str) -> datetime:
    return datetime.fromisoformat(f"2027-{text}").replace(tzinfo=TZ)


CAMPAIGN = {
    "key": "zhengai",
    "title": "督导整改",
    "phases": [
        {"name": "准备阶段", "start": "2027-03-01 00:00", "end": "2027-03-07 23:59"},
        {"name": "实施阶段", "start": "2027-03-15 00:00", "end": "2027-04-04 23:59"},
    ],
}
PHASES = campaign_phases(settings_from_mapping(campaign(campaigns=[CAMPAIGN])))


@pytest.mark.parametrize(
    ("now", "line"),
    [
        ("02-20 09:00", "督导整改：尚未开始（准备阶段 3月1日（周一）00:00 起）"),
        ("03-01 09:00", "督导整改：准备阶段 第 1 周，还剩 6 天"),
        ("03-07 09:00", "督导整改：准备阶段 第 1 周，今天结束"),
        ("03-10 09:00", "督导整改：阶段间隙（实施阶段 3月15日（周一）00:00 起）"),
        ("03-23 09:00", "督导整改：实施阶段 第 2 周，还剩 12 天"),
        ("04-05 09:00", "督导整改：已结束"),
    ],
)
def test_progress_names_the_running_phase_its_week_and_the_days_left(now: str, line: str) -> None:
    assert campaign_lines(PHASES, at(now), TZ) == [line]


def test_a_campaign_is_over_only_after_its_last_phase() -> None:
    assert not campaign_over(PHASES, "zhengai", at("04-04 23:00"))
    assert campaign_over(PHASES, "zhengai", at("04-05 00:00"))
    assert not campaign_over(PHASES, "other", at("12-31 00:00"))  # no phases: never over
    assert phase_text(PHASES[1], at("03-15 08:00"), TZ) == "实施阶段 第 1 周，还剩 20 天"


def _digest(key: str, phase: str = "") -> dict[str, object]:
    return {
        "key": key,
        "title": "周汇报",
        "cron": "0 17 * * fri",
        "to": ["leaders"],
        "deadlines": ["weekly"],
        "campaign": "zhengai",
        "phase": phase,
    }


WEEKLY = {
    "key": "weekly",
    "title": "周报",
    "repeat": "weekly",
    "weekday": "fri",
    "time": "17:00",
    "campaign": "zhengai",
    "phase": "实施阶段",
    "submitters": ["瑞泉中学"],
}


@pytest.fixture
def services(sqlite_url: str, tmp_path: Path) -> Iterator[Services]:
    settings = make_settings(
        sqlite_url,
        tmp_path,
        campaigns=[CAMPAIGN],
        deadlines=[WEEKLY],
        digests=[_digest("all"), _digest("doing", phase="实施")],
    )
    svc = build_services(settings, clock=FakeClock(at("03-01 08:00")))
    yield svc
    svc.engine.dispose()


def test_a_deadline_placed_by_phase_falls_due_inside_it(services: Services) -> None:
    planned = planned_deadlines(services.settings)
    assert [(p.due.astimezone(TZ).date(), p.period) for p in planned] == [
        (date(2027, 3, 19), "第1周"),
        (date(2027, 3, 26), "第2周"),
        (date(2027, 4, 2), "第3周"),
    ]


def _sent(services: Services, key: str, when: str) -> list[str]:
    with transaction(services.factory) as session:
        before = session.scalar(select(OutboxRow.id).order_by(OutboxRow.id.desc()).limit(1)) or 0
        enqueue_digest(session, services.settings, key, at(when), at(when))
        rows = session.scalars(select(OutboxRow).where(OutboxRow.id > before)).all()
        return [message_of(r.payload).text for r in rows]


def test_a_digest_tied_to_a_campaign_names_the_phase_and_stops_after_the_last(
    services: Services,
) -> None:
    [first] = _sent(services, "all", "03-05 17:00")
    assert first.startswith("### 周汇报（2027-W09）\n督导整改：准备阶段 第 1 周，还剩 2 天\n")
    [between] = _sent(services, "all", "03-12 17:00")  # between phases: sent, no phase line
    assert between.splitlines()[1].startswith("统计时间")
    [last] = _sent(services, "all", "04-02 17:00")
    assert "督导整改：实施阶段 第 3 周，还剩 2 天" in last
    assert _sent(services, "all", "04-09 17:00") == []


def test_a_digest_tied_to_a_phase_is_sent_only_while_it_runs(services: Services) -> None:
    assert _sent(services, "doing", "03-05 17:00") == []
    assert _sent(services, "doing", "03-12 17:00") == []
    [sent] = _sent(services, "doing", "03-19 17:00")
    assert "实施阶段 第 1 周，还剩 16 天" in sent
    assert _sent(services, "doing", "04-09 17:00") == []
