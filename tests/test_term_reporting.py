"""A term of regular reporting on a fake clock: a weekly 周报 over six weeks and a monthly
月小结, through the dispatcher, the planners and the outbox's last check before sending.

The term (2027, so the config's ``[calendar]`` decides every holiday):

- 周报 is due Fridays 17:00, reminder the day before, working days only. Week 3's Friday
  (3-19) is a holiday, so week 3 is due Thursday and reminded Wednesday; week 5 is a whole
  holiday week (3-29..4-02), so it is due on the 调休 Saturday 3-27 and reminded Friday.
- 月小结 is due on the last working day: February's month end is a Sunday (due Friday 2-26),
  March's last working day is the 调休 Saturday 3-27.
- Along the way: a week closed late (南城 hands week 1 in on Monday, unnamed, and it lands on
  week 1), a period named explicitly (西城 第2周), a returned and resubmitted report (东城
  week 3), an exemption (南城 week 3) and an extension (西城 week 3 to 3-22).

Every reminder must name exactly the units that owe that period at its time, every overdue
list exactly those overdue, and no push may go out for a period nobody owes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.app import Services, build_services
from bot.clock import FakeClock
from handlers.messages import InboundMessage
from storage.db import transaction
from storage.deadline_events import DeadlineEvent
from storage.models import Deadline, Submission
from tests.conftest import make_settings
from tests.support.campaign import campaign
from tests.test_campaign_script import Sent, deliver, plan

TZ = ZoneInfo("Asia/Shanghai")
SEED = campaign()
UNITS = ("东城小学", "西城小学", "南城小学")


def at(text: str) -> datetime:
    return datetime.fromisoformat(f"2027-{text}").replace(tzinfo=TZ)


def principal(name: str, unit: str, **ids: str) -> dict[str, Any]:
    return {"name": name, "roles": ["principal"], "unit": unit, **ids}


PEOPLE = [
    *SEED["people"],
    principal("东城校长", "东城小学", wecom_userid="dcxz"),
    principal("西城校长", "西城小学", wecom_userid="xcxz"),
    principal("南城校长", "南城小学", dingtalk_userid="ding-ncxz"),
]
GROUPS = [*SEED["groups"], {"key": "xiaozhang", "platform": "wecom", "webhook": "xz"}]
SHARED = {
    "submitters": list(UNITS),
    "group": "xiaozhang",
    "remind_before": ["1d"],
    "escalate_to": ["leaders"],
    "workdays_only": True,
}
DEADLINES = [
    {
        "key": "weekly",
        "title": "周报",
        "repeat": "weekly",
        "weekday": "fri",
        "time": "17:00",
        "start": "2027-03-01",
        "end": "2027-04-09",
        **SHARED,
    },
    {
        "key": "monthly",
        "title": "月小结",
        "repeat": "monthly",
        "monthday": "last-workday",
        "start": "2027-02-01",
        "end": "2027-03-31",
        **SHARED,
    },
]
CALENDAR = {
    "holidays": ["2027-03-19", "2027-03-29..2027-04-02"],
    "workdays": ["2027-03-27"],
}

URL = "https://pan.example.cn/s/"
ORGANIZER = "jiaoyugu"
MESSAGES: dict[datetime, list[tuple[str, str]]] = {
    at("02-24 10:00"): [("dcxz", f"提交 月小结 {URL}m2-dc")],
    at("03-03 10:00"): [("dcxz", f"提交 周报 {URL}w1-dc")],
    at("03-04 10:00"): [("xcxz", f"提交 周报 {URL}w1-xc")],
    at("03-08 10:00"): [("ding-ncxz", f"提交 周报 {URL}w1-nc")],  # unnamed: week 1, late
    at("03-09 10:00"): [("dcxz", f"提交 周报 {URL}w2-dc")],
    at("03-10 10:00"): [("ding-ncxz", f"提交 周报 {URL}w2-nc")],
    at("03-15 10:00"): [("xcxz", f"提交 周报 第2周 {URL}w2-xc")],  # named, closed late
    at("03-15 11:00"): [("dcxz", f"提交 周报 {URL}w3-dc-v1")],
    at("03-16 10:00"): [(ORGANIZER, "退回 东城小学 周报 请补充本周安全检查情况")],
    at("03-16 11:00"): [(ORGANIZER, "免交 南城小学 周报")],
    at("03-16 12:00"): [(ORGANIZER, "延期 西城小学 周报 3月22日")],
    at("03-18 09:00"): [("dcxz", f"提交 周报 {URL}w3-dc-v2")],
    at("03-22 10:00"): [("xcxz", f"提交 周报 {URL}w3-xc")],  # within its extension
    at("03-23 10:00"): [("dcxz", f"提交 周报 {URL}w4-dc"), ("xcxz", f"提交 周报 {URL}w4-xc")],
    at("03-25 10:00"): [
        ("dcxz", f"提交 月小结 {URL}m3-dc"),
        ("xcxz", f"提交 月小结 3月 {URL}m3-xc"),  # named: March, though February is owed
        ("ding-ncxz", f"提交 月小结 {URL}m2-nc"),  # unnamed: February, late
    ],
    at("03-27 10:00"): [("dcxz", f"提交 周报 {URL}w5-dc"), ("xcxz", f"提交 周报 {URL}w5-xc")],
    at("03-27 11:00"): [("ding-ncxz", f"提交 周报 {URL}w4-nc")],  # unnamed: week 4, late
    at("04-06 09:00"): [("ding-ncxz", f"提交 周报 {URL}w5-nc")],  # unnamed: week 5, late
    at("04-06 10:00"): [(who, f"提交 周报 {URL}w6") for who in ("dcxz", "xcxz", "ding-ncxz")],
}


@dataclass
class Term:
    sent: list[Sent] = field(default_factory=list)
    replies: dict[tuple[datetime, str], str] = field(default_factory=dict)
    services: Services | None = None


def say(services: Services, sender: str, text: str, ids: Iterator[int]) -> str:
    ding = sender.startswith("ding-")
    outcome = services.dispatcher.process(
        InboundMessage(
            platform="dingtalk" if ding else "wecom",
            channel="dingtalk" if ding else "wecom_app",
            message_id=f"t{next(ids)}",
            sender_id=sender,
            text=text,
            chat_type="private",
        )
    )
    assert outcome.status == "ok", outcome.reply.text
    return outcome.reply.text


@pytest.fixture(scope="module")
def term(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Term]:
    tmp = tmp_path_factory.mktemp("term")
    settings = make_settings(
        f"sqlite:///{tmp / 'edubot.db'}",
        tmp,
        people=PEOPLE,
        groups=GROUPS,
        deadlines=DEADLINES,
        calendar=CALENDAR,
    )
    clock = FakeClock(at("02-22 08:00"))
    services = build_services(settings, clock=clock)
    result = Term(services=services)
    ids = iter(range(10_000))
    day = at("02-22 08:00")
    while day <= at("04-10 08:00"):
        for hour in range(11):  # 08:00 .. 18:00: every planned push is at 17:00
            now = day + timedelta(hours=hour)
            clock.set(now)
            for sender, text in MESSAGES.get(now, []):
                result.replies[(now, sender)] = say(services, sender, text, ids)
            plan(services, now)
            sent, _dropped = deliver(services, now)
            result.sent += sent
        day += timedelta(days=1)
    yield result
    services.engine.dispose()


def named_units(text: str) -> list[str]:
    """The units a reminder or overdue list names, in the order it names them."""
    found = [(text.index(unit), unit) for unit in UNITS if unit in text]
    return [unit for _, unit in sorted(found)]


def pushes(term: Term, prefix: str) -> list[tuple[str, str, list[str]]]:
    """(local time, period key, units named) of every push whose reason starts with prefix."""
    out = []
    for item in term.sent:
        if item.reason.startswith(prefix):
            key = item.reason.removeprefix(prefix).split(":")[0]
            out.append((item.when.strftime("%m-%d %a %H:%M"), key, named_units(item.message.text)))
    return out


ALL = list(UNITS)


def test_each_reminder_names_exactly_who_owes_that_period(term: Term) -> None:
    assert pushes(term, "remind:deadline:") == [
        ("02-25 Thu 17:00", "monthly@2027-02-26", ["西城小学", "南城小学"]),
        ("03-04 Thu 17:00", "weekly@2027-03-05", ["南城小学"]),
        ("03-11 Thu 17:00", "weekly@2027-03-12", ["西城小学"]),
        # Friday 3-19 is a holiday: week 3 is due Thursday, reminded Wednesday. 东城 was
        # returned, 西城 is extended but still owes, 南城 is exempt.
        ("03-17 Wed 17:00", "weekly@2027-03-18", ["东城小学", "西城小学"]),
        ("03-25 Thu 17:00", "weekly@2027-03-26", ["南城小学"]),
        # The holiday week 5 is due on the 调休 Saturday, so its reminder is Friday.
        ("03-26 Fri 17:00", "weekly@2027-03-27", ALL),
        ("03-26 Fri 17:00", "monthly@2027-03-27", ["南城小学"]),
    ]


def test_each_overdue_list_is_exactly_who_is_late(term: Term) -> None:
    assert pushes(term, "overdue:deadline:") == [
        ("02-26 Fri 17:00", "monthly@2027-02-26", ["西城小学", "南城小学"]),
        ("03-05 Fri 17:00", "weekly@2027-03-05", ["南城小学"]),
        ("03-12 Fri 17:00", "weekly@2027-03-12", ["西城小学"]),
        # Week 3: nobody (东城 resubmitted in time, 西城 extended, 南城 exempt).
        ("03-26 Fri 17:00", "weekly@2027-03-26", ["南城小学"]),
        ("03-27 Sat 17:00", "weekly@2027-03-27", ["南城小学"]),
        ("03-27 Sat 17:00", "monthly@2027-03-27", ["南城小学"]),
    ]


def test_reminders_and_lists_name_the_period(term: Term) -> None:
    texts = [s.message.text for s in term.sent if s.reason.startswith("remind:deadline:weekly")]
    assert texts[0].startswith("【交材料提醒】周报（第1周）\n截止时间：3月5日（周五）17:00")
    assert texts[2].startswith("【交材料提醒】周报（第3周）\n截止时间：3月18日（周四）17:00")
    first_overdue = next(s for s in term.sent if s.reason.startswith("overdue:deadline:monthly"))
    assert "【逾期未交】月小结（2月）" in first_overdue.message.text
    assert "截止时间：2月26日（周五）17:00" in first_overdue.message.text


@pytest.mark.parametrize(
    ("when", "sender", "label"),
    [
        ("03-03 10:00", "dcxz", "“周报（第1周）”第 1 版"),
        ("03-08 10:00", "ding-ncxz", "“周报（第1周，逾期补交）”第 1 版"),
        ("03-10 10:00", "ding-ncxz", "“周报（第2周）”第 1 版"),
        ("03-15 10:00", "xcxz", "“周报（第2周，逾期补交）”第 1 版"),
        ("03-18 09:00", "dcxz", "“周报（第3周）”第 2 版"),
        ("03-22 10:00", "xcxz", "“周报（第3周）”第 1 版"),
        ("03-25 10:00", "xcxz", "“月小结（3月）”第 1 版"),
        ("03-25 10:00", "ding-ncxz", "“月小结（2月，逾期补交）”第 1 版"),
        ("03-27 10:00", "dcxz", "“周报（第5周）”第 1 版"),
        ("03-27 11:00", "ding-ncxz", "“周报（第4周，逾期补交）”第 1 版"),
        ("04-06 09:00", "ding-ncxz", "“周报（第5周，逾期补交）”第 1 版"),
        ("04-06 10:00", "ding-ncxz", "“周报（第6周）”第 1 版"),
    ],
)
def test_the_receipt_says_which_period_it_went_to(
    term: Term, when: str, sender: str, label: str
) -> None:
    assert label in term.replies[(at(when), sender)]


def stored(term: Term) -> list[tuple[str, str, int, bool, str]]:
    assert term.services is not None
    with transaction(term.services.factory) as session:
        rows = session.execute(
            select(Deadline.key, Submission.owner, Submission.version, Submission.late)
            .join(Deadline, Deadline.id == Submission.deadline_id)
            .order_by(Submission.id)
        )
        reviews = session.scalars(select(Submission.review).order_by(Submission.id)).all()
        return [(*row, review) for row, review in zip(rows, reviews, strict=True)]  # type: ignore[list-item]


def test_late_flags_follow_each_periods_own_due_time_and_extension(term: Term) -> None:
    late = {(key, owner) for key, owner, _v, is_late, _r in stored(term) if is_late}
    assert late == {
        ("weekly@2027-03-05", "南城小学"),
        ("weekly@2027-03-12", "西城小学"),
        ("weekly@2027-03-26", "南城小学"),
        ("weekly@2027-03-27", "南城小学"),
        ("monthly@2027-02-26", "南城小学"),
    }


def test_the_returned_version_is_kept_and_marked(term: Term) -> None:
    rows = [r for r in stored(term) if r[0] == "weekly@2027-03-18" and r[1] == "东城小学"]
    assert [(version, review) for _k, _o, version, _l, review in rows] == [
        (1, "returned"),
        (2, ""),
    ]
    returned = [s for s in term.sent if s.reason == "returned"]
    assert [(s.message.target_kind, s.message.target) for s in returned] == [("person", "dcxz")]
    assert "请补充本周安全检查情况" in returned[0].message.text


def test_every_organizer_action_is_audited(term: Term) -> None:
    assert term.services is not None
    with transaction(term.services.factory) as session:
        events = session.execute(
            select(Deadline.key, DeadlineEvent.owner, DeadlineEvent.action, DeadlineEvent.note)
            .join(Deadline, Deadline.id == DeadlineEvent.deadline_id)
            .order_by(DeadlineEvent.id)
        ).all()
    assert [tuple(e) for e in events] == [
        ("weekly@2027-03-18", "东城小学", "returned", "请补充本周安全检查情况"),
        ("weekly@2027-03-18", "南城小学", "exempted", ""),
        ("weekly@2027-03-18", "西城小学", "extended", "3月22日"),
    ]


def test_nothing_is_pushed_for_a_period_everyone_handed_in(term: Term) -> None:
    assert not [s for s in term.sent if "2027-04-09" in s.reason]
    assert not [s for s in term.sent if re.search(r"overdue:deadline:weekly@2027-03-18", s.reason)]
