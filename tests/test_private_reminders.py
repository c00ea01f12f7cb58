"""Reminders that reach the person: private, batched per platform call, and late notices to
the late units themselves until they hand in or are exempted."""

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
from bot.errors import PermanentDelivery
from bot.planning.private import batches, plan_private
from handlers.messages import OutboundMessage, message_of
from storage.db import transaction
from storage.models import OutboxRow
from tests.conftest import make_settings
from tests.support.campaign import campaign
from tests.support.wire import private_message
from tests.test_senders_emulator import Wire, wire  # noqa: F401 - the emulator fixture

TZ = ZoneInfo("Asia/Shanghai")
START = datetime(2027, 3, 1, 9, 0, tzinfo=TZ)
SEED = campaign()

# 3 schools on WeCom, 25 on DingTalk: one WeCom call, two DingTalk calls (20 + 5).
WECOM = [f"w{i}" for i in range(3)]
DING = [f"ding-d{i:02d}" for i in range(25)]


def _principal(uid: str) -> dict[str, Any]:
    key = "dingtalk_userid" if uid.startswith("ding-") else "wecom_userid"
    return {"name": f"校长{uid}", "roles": ["principal"], "unit": f"学校{uid}", key: uid}


PEOPLE = [*SEED["people"], *(_principal(uid) for uid in WECOM + DING)]
DEADLINES = [
    {
        "key": "weekly",
        "title": "周报",
        "due": "2027-03-05 17:00",
        "submitters": [f"学校{uid}" for uid in WECOM + DING],
        "remind_before": ["1d"],
        "remind_private": True,
        "remind_overdue": ["0h", "1d"],
    }
]


@pytest.fixture
def services(sqlite_url: str, tmp_path: Path) -> Iterator[Services]:
    settings = make_settings(sqlite_url, tmp_path, people=PEOPLE, deadlines=DEADLINES)
    svc = build_services(settings, clock=FakeClock(START))
    yield svc
    svc.engine.dispose()


IDS = itertools.count()


def say(services: Services, sender: str, text: str) -> str:
    outcome = services.dispatcher.process(private_message(sender, text, f"p{next(IDS)}"))
    assert outcome.status == "ok", outcome.reply.text
    return outcome.reply.text


def plan(services: Services, when: datetime) -> list[tuple[str, str, str, str]]:
    """Plan at ``when``; the rows added, as (kind, platform, target, text)."""
    with transaction(services.factory) as session:
        before = {r.id for r in session.scalars(select(OutboxRow))}
        plan_private(session, services.settings, when)
        rows = [
            r
            for r in session.scalars(select(OutboxRow).order_by(OutboxRow.id))
            if r.id not in before
        ]
        return [(r.target_kind, r.platform, r.target, message_of(r.payload).text) for r in rows]


def test_batches_of_at_most_the_platforms_limit() -> None:
    assert batches(DING, 20) == [DING[:20], DING[20:]]
    assert batches([], 20) == []


def test_each_round_is_one_call_per_batch_naming_every_unit_that_owes(services: Services) -> None:
    say(services, "w0", "提交 周报 https://pan.example.cn/s/w0")
    say(services, "ding-d00", "提交 周报 https://pan.example.cn/s/d0")
    rows = plan(services, datetime(2027, 3, 4, 17, tzinfo=TZ))
    assert [(kind, platform, target.count("|") + 1) for kind, platform, target, _ in rows] == [
        ("people", "wecom", 2),
        ("people", "dingtalk", 20),
        ("people", "dingtalk", 4),
    ]
    targets = "|".join(target for _k, _p, target, _t in rows).split("|")
    assert sorted(targets) == sorted([*WECOM[1:], *DING[1:]])
    assert rows[0][3] == (
        "【交材料提醒】您所在单位尚未提交“周报”，截止 3月5日（周五）17:00（还剩 1 天）。\n"
        "提交方式：发送“提交 周报 链接或说明”，或直接把文件发给我。"
    )
    assert plan(services, datetime(2027, 3, 4, 17, 0, 30, tzinfo=TZ)) == []  # once per round


def test_late_units_are_told_until_they_hand_in_or_are_exempted(services: Services) -> None:
    for uid in [*WECOM, *DING[:24]]:
        say(services, uid, "提交 周报 https://pan.example.cn/s/x")
    reminded = plan(services, datetime(2027, 3, 4, 17, tzinfo=TZ))
    assert [(k, t) for k, _p, t, _x in reminded] == [("person", "ding-d24")]
    due = plan(services, datetime(2027, 3, 5, 17, tzinfo=TZ))
    assert [(k, t) for k, _p, t, _x in due] == [("person", "ding-d24")]
    assert due[0][3].startswith("【逾期未交】您所在单位尚未提交“周报”")
    say(services, "jiaoyugu", "免交 学校ding-d24 周报")
    assert plan(services, datetime(2027, 3, 6, 17, tzinfo=TZ)) == []


def test_a_round_planned_late_says_the_time_left_when_it_is_sent(
    sqlite_url: str, tmp_path: Path
) -> None:
    """Down from 14:00 to 18:00: the 2 h round (15:00) is planned at 18:00, after the 17:00
    deadline. It must not say "还剩 2 小时" as it was written for 15:00."""
    deadlines = [{**DEADLINES[0], "remind_before": ["2h"], "remind_overdue": []}]
    settings = make_settings(sqlite_url, tmp_path, people=PEOPLE, deadlines=deadlines)
    services = build_services(settings, clock=FakeClock(START))
    try:
        rows = plan(services, datetime(2027, 3, 5, 18, tzinfo=TZ))
    finally:
        services.engine.dispose()
    assert rows
    texts = {text for _k, _p, _t, text in rows}
    assert all("还剩" not in text and "（已逾期 1 小时）" in text for text in texts), texts


def test_one_wecom_call_reaches_several_members(wire: Wire) -> None:  # noqa: F811
    record = wire.send(OutboundMessage("wecom", "people", "shenyi|liangfei", "周报提醒"))
    assert (record.api, record.body["touser"]) == ("message/send", "shenyi|liangfei")


def test_one_dingtalk_call_reaches_several_staff(wire: Wire) -> None:  # noqa: F811
    message = OutboundMessage("dingtalk", "people", "ding-shenyi|ding-liangfei", "周报提醒")
    record = wire.send(message)
    assert record.api == "oToMessages/batchSend"
    assert record.body["userIds"] == ["ding-shenyi", "ding-liangfei"]


def test_a_single_person_push_still_refuses_a_multicast(wire: Wire) -> None:  # noqa: F811
    with pytest.raises(PermanentDelivery, match="not one userid"):
        wire.router.send(OutboundMessage("wecom", "person", "a|b", "x"), dedupe_key="k")
