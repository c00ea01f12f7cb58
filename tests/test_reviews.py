"""已交 / 退回 / 通过 / 确认 / 免交 / 延期 / 催交 and the period words of 未交 / 我的 / 提交,
through the dispatcher: one case per exchange, every refusal, refusals record nothing.

Each case runs on a fresh database; the earlier steps set the scene, the last message is the
one under test.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from bot.app import Services, build_services
from bot.clock import FakeClock
from bot.dispatcher import Outcome
from handlers.messages import InboundMessage, message_of
from storage.db import transaction
from storage.deadline_events import DeadlineEvent
from storage.models import OutboxRow
from tests.conftest import make_settings
from tests.support.campaign import campaign

TZ = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 4, 6, 9, 0, tzinfo=TZ)  # Monday; 书面报告 is due Wednesday 17:00
URL = "https://pan.example.cn/s/abc"
SEED = campaign()


def _principal(name: str, unit: str, uid: str) -> dict[str, Any]:
    ids = {"dingtalk_userid": uid} if uid.startswith("ding-") else {"wecom_userid": uid}
    return {"name": name, "roles": ["principal"], "unit": unit, **ids}


PEOPLE = [
    *SEED["people"],  # 王局长 (leader), 教育股 (organizer), 陈校长 (瑞泉中学)
    _principal("孙校长", "杜桥中学", "sunxz"),
    _principal("吴校长", "尚德中学", "wuxz"),
]
GROUPS = [
    *SEED["groups"],
    {"key": "xiaozhang", "name": "校长群", "platform": "wecom", "webhook": "x"},
]
UNITS = ["瑞泉中学", "杜桥中学", "尚德中学"]
DEADLINES = [
    {
        "key": "report",
        "title": "书面报告",
        "due": "2026-04-08 17:00",
        "submitters": UNITS,
        "group": "xiaozhang",
    },
    {
        "key": "weekly",
        "title": "周报",
        "repeat": "weekly",
        "weekday": "fri",
        "start": "2026-03-23",
        "end": "2026-04-30",
        "submitters": UNITS,
    },
]
ORG, LEADER = "jiaoyugu", "wangjz"


@dataclass
class Bot:
    services: Services
    clock: FakeClock
    ids: Iterator[int] = field(default_factory=itertools.count)

    def say(self, sender: str, text: str) -> Outcome:
        return self.services.dispatcher.process(
            InboundMessage(
                platform="wecom",
                channel="wecom_app",
                message_id=f"m{next(self.ids)}",
                sender_id=sender,
                text=text,
                chat_type="private",
            )
        )

    def count(self, model: type[Any]) -> int:
        with transaction(self.services.factory) as session:
            return int(session.scalar(select(func.count()).select_from(model)) or 0)

    def pushes(self) -> list[tuple[str, str, str, list[str]]]:
        with transaction(self.services.factory) as session:
            rows = session.scalars(select(OutboxRow).order_by(OutboxRow.id)).all()
            out = []
            for row in rows:
                message = message_of(row.payload)
                names = [m.name for m in message.mentions]
                out.append((row.target_kind, row.target, message.text, names))
            return out


@pytest.fixture
def bot(sqlite_url: str, tmp_path: Path) -> Iterator[Bot]:
    settings = make_settings(
        sqlite_url, tmp_path, people=PEOPLE, groups=GROUPS, deadlines=DEADLINES
    )
    clock = FakeClock(START)
    services = build_services(settings, clock=clock)
    yield Bot(services, clock)
    services.engine.dispose()


Step = tuple[str, str]


@dataclass(frozen=True)
class Case:
    steps: tuple[Step, ...]
    expect: tuple[str, ...]
    status: str = "ok"
    events: int | None = None
    """Audit events stored after the last step (None: not checked)."""
    absent: tuple[str, ...] = ()


def run(bot: Bot, case: Case) -> Outcome:
    *before, (sender, text) = case.steps
    for who, said in before:
        outcome = bot.say(who, said)
        assert outcome.status == "ok", (said, outcome.reply.text)
    outcome = bot.say(sender, text)
    for piece in case.expect:
        assert piece in outcome.reply.text, outcome.reply.text
    for piece in case.absent:
        assert piece not in outcome.reply.text, outcome.reply.text
    assert outcome.status == case.status, outcome.reply.text
    if case.events is not None:
        assert bot.count(DeadlineEvent) == case.events
    return outcome


SUN = ("sunxz", f"提交 书面报告 {URL}")
WU = ("wuxz", "提交 书面报告 见附件说明")
RETURN_WU = (ORG, "退回 尚德中学 书面报告 请补充整改时间表")

CASES = {
    "已交 lists versions, times and who is missing": Case(
        (SUN, SUN, WU, (LEADER, "已交 书面报告")),
        (
            "“书面报告”提交情况（截止 4月8日（周三）17:00）：应交 3 · 已交 2 · 逾期交 0 · 未交 1",
            f"1. 杜桥中学：第 2 版 · 4月6日（周一）09:00 · 孙校长 · 链接 {URL}",
            "（共 2 版）",
            "2. 尚德中学：第 1 版 · 4月6日（周一）09:00 · 吴校长 · 内容：见附件说明",
            "未交：瑞泉中学",
        ),
    ),
    "已交 for a principal is refused": Case(
        (("sunxz", "已交 书面报告"),), ("“已交”只向领导和组织者开放。",), "refused"
    ),
    "已交 without a material": Case(
        ((ORG, "已交"),), ("请写明材料名，例如：已交 书面报告",), "refused"
    ),
    "已交 of an unknown material": Case(
        ((ORG, "已交 年度计划"),), ("没有找到唯一的材料“年度计划”。", "书面报告"), "refused"
    ),
    "退回 reopens the entry": Case(
        (WU, RETURN_WU, (LEADER, "未交 书面报告")),
        ("未交名单", "尚德中学"),
        events=1,
    ),
    "退回 answers the organizer": Case(
        (WU, RETURN_WU),
        (
            "已退回尚德中学的“书面报告”第 1 版（原因：请补充整改时间表）。",
            "尚德中学重新列入未交；已私信通知提交人。",
        ),
        events=1,
    ),
    "退回 without a reason": Case(
        (WU, (ORG, "退回 尚德中学 书面报告")), ("请写明退回原因",), "refused", events=0
    ),
    "退回 of nothing handed in": Case(
        ((ORG, "退回 尚德中学 书面报告 太短"),),
        ("尚德中学还没有提交“书面报告”，无可退回。",),
        "refused",
        events=0,
    ),
    "退回 of a unit not on the list": Case(
        ((ORG, "退回 育红初中 书面报告 太短"),),
        ("“书面报告”的提交名单中没有“育红初中”。名单：瑞泉中学、杜桥中学、尚德中学",),
        "refused",
        events=0,
    ),
    "退回 with only a unit": Case(
        ((ORG, "退回 尚德中学"),),
        ("请写明单位和材料，例如：退回 瑞泉中学 书面报告 请补充缺少的部分",),
        "refused",
    ),
    "退回 by a principal": Case(
        (WU, ("sunxz", "退回 尚德中学 书面报告 太短")), ("“退回”只向领导和组织者开放。",), "refused"
    ),
    "a resubmission after 退回 is the next version and counts": Case(
        (WU, RETURN_WU, ("wuxz", f"提交 书面报告 {URL}"), (ORG, "已交 书面报告")),
        ("1. 尚德中学：第 2 版", "应交 3 · 已交 1", "未交：瑞泉中学、杜桥中学\n"),
    ),
    "已交 shows a returned entry as missing with the reason": Case(
        (WU, RETURN_WU, (ORG, "已交 书面报告")),
        ("未交：瑞泉中学、杜桥中学、尚德中学（第 1 版已退回：请补充整改时间表）",),
    ),
    "通过 accepts the latest version": Case(
        (WU, (ORG, "通过 尚德 书面报告"), (ORG, "已交 书面报告")),
        ("尚德中学：第 1 版", "· 已通过"),
        events=1,
    ),
    "确认 unit material is 通过": Case(
        (WU, (LEADER, "确认 尚德中学 书面报告")),
        ("已确认尚德中学的“书面报告”第 1 版通过。",),
        events=1,
    ),
    "确认 by a judge stays the judges' 确认": Case(
        (("shenyi", "确认 尚德中学 书面报告"),), ("尚德中学",), "refused", events=0
    ),
    "免交 takes the unit off the lists": Case(
        ((ORG, "免交 尚德中学 书面报告"), (LEADER, "未交 书面报告")),
        ("应交 2 · 已交 0 · 逾期交 0 · 未交 2", "瑞泉中学", "杜桥中学"),
        absent=("尚德中学",),
        events=1,
    ),
    "免交 answers": Case(
        ((ORG, "免交 尚德中学 书面报告"),),
        ("已将尚德中学的“书面报告”设为免交：不再提醒，也不计入未交。",),
        events=1,
    ),
    "延期 sets the unit's own due time": Case(
        ((ORG, "延期 尚德中学 书面报告 4月10日"),),
        ("已将尚德中学的“书面报告”截止时间延至 4月10日（周五）17:00",),
        events=1,
    ),
    "延期 with a time": Case(
        ((ORG, "延期 尚德中学 书面报告 2026-04-09 12:00"),), ("延至 4月9日（周四）12:00",), events=1
    ),
    "延期 to before the due time": Case(
        ((ORG, "延期 尚德中学 书面报告 4月8日 09:00"),),
        ("延期后的时间须晚于原截止时间 4月8日（周三）17:00。",),
        "refused",
        events=0,
    ),
    "延期 without a date": Case(
        ((ORG, "延期 尚德中学 书面报告 下周"),), ("请写明延期到哪天",), "refused", events=0
    ),
    "延期 to a day that does not exist": Case(
        ((ORG, "延期 尚德中学 书面报告 2月30日"),),
        ("“2月30日”不是有效的日期。",),
        "refused",
        events=0,
    ),
    "催交 when everyone handed in": Case(
        (SUN, WU, ("chenxz", f"提交 书面报告 {URL}"), (ORG, "催交 书面报告")),
        ("“书面报告”已全部提交，无需催交。",),
        "refused",
    ),
    "催交 of a deadline without a group": Case(
        ((ORG, "催交 周报"),),
        ("“周报（第3周）”没有设置提醒群", "未交：瑞泉中学、杜桥中学、尚德中学"),
        "refused",
    ),
    # Periods: the running one is 第3周 (due 4-10); 第1周 and 第2周 are past.
    "未交 of a repeating deadline is the running period": Case(
        ((LEADER, "未交 周报"),), ("“周报（第3周）”（截止 4月10日（周五）17:00",)
    ),
    "未交 names another period": Case(
        (("sunxz", f"提交 周报 第2周 {URL}"), (LEADER, "未交 周报 第2周")),
        ("“周报（第2周）”（截止 4月3日（周五）17:00", "应交 3 · 已交 0 · 逾期交 1 · 未交 2"),
    ),
    "未交 of a period that does not exist": Case(
        ((LEADER, "未交 周报 第9周"),),
        ("“周报”没有“第9周”这一期。已开始的有：第1周、第2周、第3周。",),
        "refused",
    ),
    "我的 lists the open periods owed, not the future ones": Case(
        (("sunxz", "我的"),),
        ("交材料 周报（第1周）", "交材料 周报（第2周）", "交材料 周报（第3周）", "书面报告"),
        absent=("第4周",),
    ),
    "提交 without a period goes to the oldest owed": Case(
        (("sunxz", f"提交 周报 {URL}"),), ("“周报（第1周，逾期补交）”第 1 版",)
    ),
    "提交 of a period not begun": Case(
        (("sunxz", f"提交 周报 第5周 {URL}"),),
        ("“周报（第5周）”还没开始，暂不能提交。请先交本期：周报（第3周）。",),
        "refused",
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=list(CASES))
def test_review_exchanges(bot: Bot, case: Case) -> None:
    run(bot, case)


def test_return_pushes_the_reason_to_the_submitter(bot: Bot) -> None:
    run(bot, Case((WU, RETURN_WU), ()))
    private = [p for p in bot.pushes() if p[0] == "person"]
    assert [(kind, target) for kind, target, _t, _m in private] == [("person", "wuxz")]
    assert private[0][2] == (
        "您提交的尚德中学的“书面报告”第 1 版被退回：请补充整改时间表\n"
        "请修改后重新提交：提交 书面报告 链接或说明，或直接把文件发给我。"
    )


def test_urge_queues_one_reminder_to_the_group_mentioning_who_owes(bot: Bot) -> None:
    outcome = run(
        bot,
        Case(
            (SUN, (ORG, "催交 书面报告")),
            ("已在校长群催交“书面报告”，点名 2 个：瑞泉中学、尚德中学",),
            events=1,
        ),
    )
    assert outcome.pushed
    groups = [p for p in bot.pushes() if p[0] == "group"]
    assert len(groups) == 1
    _kind, target, text, mentioned = groups[0]
    assert target == "xiaozhang"
    assert text.startswith("【交材料提醒】书面报告\n截止时间：4月8日（周三）17:00")
    assert "瑞泉中学\n尚德中学" in text
    assert "杜桥中学" not in text
    assert mentioned == ["陈校长", "吴校长"]
    # A second 催交 is a new reminder, not swallowed as a duplicate.
    bot.say(ORG, "催交 书面报告")
    assert len([p for p in bot.pushes() if p[0] == "group"]) == 2


def test_an_extended_unit_is_not_late_before_its_own_date(bot: Bot) -> None:
    run(bot, Case(((ORG, "延期 尚德中学 书面报告 4月10日"),), ()))
    bot.clock.set(START + timedelta(days=3))  # Thursday, past the common due time
    receipt = bot.say("wuxz", f"提交 书面报告 {URL}").reply.text
    assert "已标记为逾期提交" not in receipt
    late = bot.say("sunxz", f"提交 书面报告 {URL}").reply.text
    assert "已标记为逾期提交" in late
