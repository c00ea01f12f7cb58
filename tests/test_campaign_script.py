"""A whole reporting season on a fake clock: three deadlines, eight principals in three
units, 清明 and 国庆 inside the reminder windows.

The clock steps hour by hour. At each step the scripted principals submit, the planners run
(as the scheduler would every minute), the weekly digest fires on Fridays at 17:00, and a
stand-in sender takes the due outbox rows, applies ``refresh`` and marks them sent or
dropped. The transcript of what went out is then checked push by push.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.app import Services, build_services
from bot.clock import FakeClock
from bot.planning.deadlines import plan_deadline_reminders, plan_overdue, refresh
from bot.planning.digests import enqueue_digest
from handlers.messages import InboundMessage, OutboundMessage, message_of
from storage.db import transaction
from storage.models import OutboxRow, Submission
from storage.outbox import row_intent
from storage.outbox_intent import intent_of
from tests.conftest import make_settings
from tests.support.campaign import campaign

TZ = ZoneInfo("Asia/Shanghai")
SEED = campaign()


def at(text: str) -> datetime:
    return datetime.fromisoformat(f"2026-{text}").replace(tzinfo=TZ)


def principal(name: str, unit: str, **ids: str) -> dict[str, Any]:
    return {"name": name, "roles": ["principal"], "unit": unit, **ids}


PEOPLE = [
    *[p for p in SEED["people"] if p["name"] != "陈校长"],
    principal("陈校长", "瑞泉中学", wecom_userid="chenxz"),
    principal("赵校长", "瑞泉中学", wecom_userid="zhaoxz"),
    principal("钱主任", "瑞泉中学", mobile="13900000003"),  # reachable by mobile only
    principal("孙校长", "杜桥中学", wecom_userid="sunxz"),
    principal("李校长", "杜桥中学", dingtalk_userid="ding-lixz", mobile="13900000005"),
    principal("周主任", "杜桥中学", wecom_userid="zhouzr"),
    principal("吴校长", "尚德中学", wecom_userid="wuxz"),
    principal("郑校长", "尚德中学", dingtalk_userid="ding-zhengxz"),
]
EIGHT = ["陈校长", "赵校长", "钱主任", "孙校长", "李校长", "周主任", "吴校长", "郑校长"]
GROUPS = [*SEED["groups"], {"key": "xiaozhang", "platform": "wecom", "webhook": "xz"}]
DEADLINES = [
    {  # 清明 (4-04..06) lies in the window: the 3-day round moves from Sunday to Friday.
        "key": "plan",
        "title": "实施方案",
        "due": "2026-04-08 17:00",
        "submitters": ["瑞泉中学", "杜桥中学", "尚德中学"],
        "remind_before": ["3d", "1d"],
        "workdays_only": True,
        "group": "xiaozhang",
        "escalate_to": ["leaders"],
    },
    {  # 国庆 (10-01..07): the 3-day round moves to 9-30.
        "key": "quality",
        "title": "质量分析报告",
        "due": "2026-10-09 17:00",
        "submitters": EIGHT,
        "remind_before": ["3d", "1d", "2h"],
        "workdays_only": True,
        "group": "xiaozhang",
        "escalate_to": ["leaders"],
    },
    {
        "key": "summary",
        "title": "总结报告",
        "due": "2026-12-04 17:00",
        "submitters": ["陈校长", "孙校长", "吴校长", "郑校长"],
        "remind_before": ["1d"],
        "group": "yuhong",
        "escalate_to": ["leaders"],
    },
]
DIGESTS = [
    {
        "key": "weekly",
        "title": "周汇报",
        "cron": "0 17 * * fri",
        "to": ["leaders"],
        "deadlines": ["plan", "quality", "summary"],
        "venues": ["ruiquan"],
    }
]

SUBMISSIONS: dict[datetime, list[tuple[str, str]]] = {
    at("04-02 10:00"): [("chenxz", "提交 实施方案 https://pan.example.cn/rq")],
    at("04-06 10:00"): [("ding-lixz", "提交 实施方案 https://pan.example.cn/dq")],  # 清明
    at("04-09 09:00"): [("wuxz", "提交 实施方案 https://pan.example.cn/sd")],  # late
    at("09-29 10:00"): [
        ("chenxz", "提交 质量分析报告 https://pan.example.cn/q1"),
        ("zhaoxz", "提交 质量分析报告 https://pan.example.cn/q2"),
        ("sunxz", "提交 质量分析报告 https://pan.example.cn/q3"),
    ],
    at("10-03 10:00"): [("zhouzr", "提交 质量分析报告 https://pan.example.cn/q4")],
    at("10-08 11:00"): [("ding-lixz", "提交 质量分析报告 https://pan.example.cn/q5")],
    at("10-09 16:00"): [("wuxz", "提交 质量分析报告 https://pan.example.cn/q6")],
    at("12-03 10:00"): [("chenxz", "提交 总结报告 https://pan.example.cn/s1")],
    at("12-04 09:00"): [
        ("sunxz", "提交 总结报告 https://pan.example.cn/s2"),
        ("wuxz", "提交 总结报告 https://pan.example.cn/s3"),
        ("ding-zhengxz", "提交 总结报告 https://pan.example.cn/s4"),
    ],
}
WINDOWS = [
    ("04-01 08:00", "04-09 12:00"),
    ("09-28 08:00", "10-10 12:00"),
    ("12-01 08:00", "12-05 12:00"),
]


@dataclass(frozen=True)
class Sent:
    when: datetime
    reason: str
    message: OutboundMessage

    @property
    def mentioned(self) -> list[str]:
        return [m.name for m in self.message.mentions]


@dataclass
class Season:
    sent: list[Sent]
    dropped: list[str]
    receipts: dict[tuple[datetime, str], str]
    services: Services


def deliver(services: Services, now: datetime) -> tuple[list[Sent], list[str]]:
    """The stand-in outbox sender: due rows in order, refreshed, then marked."""
    sent: list[Sent] = []
    dropped: list[str] = []
    with transaction(services.factory) as session:
        due = session.scalars(
            select(OutboxRow)
            .where(OutboxRow.status == "pending", OutboxRow.due_at <= now)
            .order_by(OutboxRow.due_at, OutboxRow.id)
        )
        for row in due:
            message = refresh(session, row_intent(row), message_of(row.payload), now, tz=TZ)
            if message is None:
                row.status = "dropped"
                dropped.append(row.reason)
                continue
            row.status, row.sent_at = "sent", now
            sent.append(Sent(now, row.reason, message))
    return sent, dropped


def plan(services: Services, now: datetime) -> int:
    with transaction(services.factory) as session:
        added = plan_deadline_reminders(session, services.settings, now)
        return added + plan_overdue(session, services.settings, now)


def run_season(services: Services, clock: FakeClock) -> Season:
    season = Season([], [], {}, services)
    ids = iter(range(10_000))
    for start, end in WINDOWS:
        now = at(start)
        while now <= at(end):
            clock.set(now)
            for sender, text in SUBMISSIONS.get(now, []):
                ding = sender.startswith("ding-")
                outcome = services.dispatcher.process(
                    InboundMessage(
                        platform="dingtalk" if ding else "wecom",
                        channel="dingtalk" if ding else "wecom_app",
                        message_id=f"s{next(ids)}",
                        sender_id=sender,
                        text=text,
                        chat_type="private",
                    )
                )
                assert outcome.status == "ok", outcome.reply.text
                season.receipts[(now, sender)] = outcome.reply.text
            plan(services, now)
            if now.weekday() == 4 and now.hour == 17:  # the "0 17 * * fri" cron
                for _ in range(2):  # a second firing of the same period adds nothing
                    with transaction(services.factory) as session:
                        enqueue_digest(session, services.settings, "weekly", now, now)
            sent, dropped = deliver(services, now)
            season.sent += sent
            season.dropped += dropped
            now += timedelta(hours=1)
    return season


@pytest.fixture(scope="module")
def season(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Season]:
    tmp = tmp_path_factory.mktemp("season")
    settings = make_settings(
        f"sqlite:///{tmp / 'edubot.db'}",
        tmp,
        people=PEOPLE,
        groups=GROUPS,
        deadlines=DEADLINES,
        digests=DIGESTS,
    )
    clock = FakeClock(at("04-01 08:00"))
    services = build_services(settings, clock=clock)
    yield run_season(services, clock)
    services.engine.dispose()


APR8, OCT9 = "2026-04-08T17:00:00+08:00", "2026-10-09T17:00:00+08:00"


def test_every_push_at_its_time(season: Season) -> None:
    assert [(s.when, s.reason, s.message.target) for s in season.sent] == [
        # 4-05 is 清明 (a Sunday): the 3-day round went out on Friday 4-03 instead.
        (at("04-03 17:00"), f"remind:deadline:plan:3d:{APR8}", "xiaozhang"),
        (at("04-03 17:00"), "digest:weekly:2026-W14:leaders", "leaders"),
        (at("04-07 17:00"), f"remind:deadline:plan:1d:{APR8}", "xiaozhang"),
        (at("04-08 17:00"), f"overdue:deadline:plan:{APR8}:leaders", "leaders"),
        # 10-06 is 国庆: the 3-day round went out on the last working day before it.
        (at("09-30 17:00"), f"remind:deadline:quality:3d:{OCT9}", "xiaozhang"),
        (at("10-02 17:00"), "digest:weekly:2026-W40:leaders", "leaders"),
        (at("10-08 17:00"), f"remind:deadline:quality:1d:{OCT9}", "xiaozhang"),
        (at("10-09 15:00"), f"remind:deadline:quality:2h:{OCT9}", "xiaozhang"),
        (at("10-09 17:00"), f"overdue:deadline:quality:{OCT9}:leaders", "leaders"),
        (at("10-09 17:00"), "digest:weekly:2026-W41:leaders", "leaders"),
        (at("12-03 17:00"), "remind:deadline:summary:1d:2026-12-04T17:00:00+08:00", "yuhong"),
        (at("12-04 17:00"), "digest:weekly:2026-W49:leaders", "leaders"),
    ]


def test_reminders_name_and_mention_exactly_the_non_submitters(season: Season) -> None:
    reminders = [s for s in season.sent if s.reason.startswith("remind:")]
    assert [(s.reason.split(":")[2], s.reason.split(":")[3], s.mentioned) for s in reminders] == [
        ("plan", "3d", ["孙校长", "李校长", "周主任", "吴校长", "郑校长"]),
        ("plan", "1d", ["吴校长", "郑校长"]),
        ("quality", "3d", ["钱主任", "李校长", "周主任", "吴校长", "郑校长"]),
        # Planned on 10-07 with 李校长 still owing; he submitted at 11:00 on the day, so
        # the refresh before sending left him out.
        ("quality", "1d", ["钱主任", "吴校长", "郑校长"]),
        ("quality", "2h", ["钱主任", "吴校长", "郑校长"]),
        ("summary", "1d", ["孙校长", "吴校长", "郑校长"]),
    ]
    plan_3d, _, quality_3d, quality_1d, _, summary = reminders
    assert plan_3d.message.text.splitlines()[1:5] == [
        "截止时间：4月8日（周三）17:00（还剩 5 天）",
        "以下 2 个单位/个人尚未提交：",
        "杜桥中学",
        "尚德中学",
    ]
    assert quality_3d.message.text.splitlines()[3:6] == [
        "瑞泉中学：钱主任",
        "杜桥中学：李校长、周主任",
        "尚德中学：吴校长、郑校长",
    ]
    assert "李校长" not in quality_1d.message.text
    # Real mentions: the ids each platform needs, the mobile for someone with no ids.
    qian = next(m for m in quality_3d.message.mentions if m.name == "钱主任")
    assert (qian.wecom_userid, qian.mobile) == ("", "13900000003")
    assert summary.message.platform == "dingtalk"
    assert not any(s.message.markdown for s in reminders)


def test_overdue_lists_reach_the_leaders(season: Season) -> None:
    overdue = [s for s in season.sent if s.reason.startswith("overdue:")]
    assert [(s.message.target, s.message.markdown, s.mentioned) for s in overdue] == [
        ("leaders", True, []),
        ("leaders", True, []),
    ]
    assert overdue[0].message.text.splitlines()[2:4] == [
        "应交 3 · 已交 2 · 逾期交 0 · 未交 1",
        "- 尚德中学",
    ]
    # 吴校长 handed in an hour before the due time: only two are left on the list.
    assert overdue[1].message.text.splitlines()[2:5] == [
        "应交 8 · 已交 6 · 逾期交 0 · 未交 2",
        "- 瑞泉中学：钱主任",
        "- 尚德中学：郑校长",
    ]
    # Everyone handed in 总结报告 on the morning it was due: its planned list was dropped.
    assert season.dropped == ["overdue:deadline:summary:2026-12-04T17:00:00+08:00:leaders"]


def test_a_late_submission_is_accepted_and_marked(season: Season) -> None:
    receipt = season.receipts[(at("04-09 09:00"), "wuxz")]
    assert "已收到吴校长（代尚德中学）提交的“实施方案”第 1 版" in receipt
    assert "截止 4月8日（周三）17:00 · 逾期 16 小时（已标记为逾期提交）" in receipt
    with transaction(season.services.factory) as session:
        rows = session.scalars(select(Submission).order_by(Submission.id)).all()
        late = [(r.owner, r.submitted_at) for r in rows if r.late]
    assert late == [("尚德中学", at("04-09 09:00"))]
    assert len(rows) == 13


def test_the_digest_shows_the_right_counts(season: Season) -> None:
    digest = next(s for s in season.sent if s.reason == "digest:weekly:2026-W41:leaders")
    assert digest.message.markdown
    assert digest.message.text.splitlines() == [
        "### 周汇报（2026-W41）",
        "统计时间：10月9日（周五）17:00",
        "**实施方案**（截止 4月8日（周三）17:00，已截止）",
        "应交 3 · 已交 2 · 逾期交 1 · 未交 0",
        "- 瑞泉中学：已交 1 · 逾期交 0 · 未交 0",
        "- 杜桥中学：已交 1 · 逾期交 0 · 未交 0",
        "- 尚德中学：已交 0 · 逾期交 1 · 未交 0",
        "**质量分析报告**（截止 10月9日（周五）17:00，已到截止时间）",
        "应交 8 · 已交 6 · 逾期交 0 · 未交 2",
        "- 瑞泉中学：已交 2 · 逾期交 0 · 未交 1（钱主任）",
        "- 杜桥中学：已交 3 · 逾期交 0 · 未交 0",
        "- 尚德中学：已交 1 · 逾期交 0 · 未交 1（郑校长）",
        "**总结报告**（截止 12月4日（周五）17:00，还剩 56 天）",
        "应交 4 · 已交 0 · 逾期交 0 · 未交 4",
        "- 瑞泉中学：已交 0 · 逾期交 0 · 未交 1（陈校长）",
        "- 杜桥中学：已交 0 · 逾期交 0 · 未交 1（孙校长）",
        "- 尚德中学：已交 0 · 逾期交 0 · 未交 2（吴校长、郑校长）",
        "**会场评分进度**",
        "- 瑞泉中学会场：已评 0/15（进行中）",
    ]


def test_planning_again_adds_nothing(season: Season) -> None:
    services = season.services
    with transaction(services.factory) as session:
        before = session.scalars(select(OutboxRow.dedupe_key)).all()
    for when in (at("04-03 17:00"), at("10-09 15:00"), at("12-03 17:00")):
        assert plan(services, when) == 0
        with transaction(services.factory) as session:
            assert enqueue_digest(session, services.settings, "weekly", when, when) == 0
    with transaction(services.factory) as session:
        after = session.scalars(select(OutboxRow.dedupe_key)).all()
        other = OutboundMessage("wecom", "group", "leaders", "x")
        assert (
            refresh(session, intent_of("publish:ruiquan:leaders"), other, at("12-05 09:00"), tz=TZ)
            is other
        )
    assert sorted(after) == sorted(before)
    assert len(before) == 13  # 12 sent + 1 dropped


def test_a_reminder_sent_after_an_outage_says_the_time_left_then(tmp_path: Path) -> None:
    """Down from 14:00 to 18:00 on the due day: the 2 h round (15:00) goes out at 18:00,
    within the grace, re-rendered as of then: not "还剩 2 小时" after the deadline."""
    settings = make_settings(
        f"sqlite:///{tmp_path / 'edubot.db'}",
        tmp_path,
        people=PEOPLE,
        groups=GROUPS,
        deadlines=DEADLINES,
    )
    services = build_services(settings, clock=FakeClock(at("10-09 08:00")))
    try:
        plan(services, at("10-09 08:00"))
        sent, _ = deliver(services, at("10-09 18:00"))
    finally:
        services.engine.dispose()
    (late,) = [s for s in sent if s.reason == f"remind:deadline:quality:2h:{OCT9}"]
    assert "还剩" not in late.message.text
    assert "（已逾期 1 小时）" in late.message.text
