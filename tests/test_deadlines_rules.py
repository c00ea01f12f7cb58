"""Pure deadline rules: reminder times on the real 2026 calendar, who owes, wording, texts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.planning.digests import digest_period
from handlers.context import local_time
from handlers.deadlines import (
    Entry,
    EntryState,
    due_note,
    entry_for,
    entry_states,
    owed,
    remaining_text,
    render_digest,
    render_overdue,
    render_reminder,
    timing_text,
    unit_counts,
)
from handlers.messages import Mention
from handlers.text import paginate, utf8_len
from handlers.workdays import WorkCalendar, reminder_times

TZ = ZoneInfo("Asia/Shanghai")


def at(text: str) -> datetime:
    """A Shanghai wall-clock time."""
    return datetime.fromisoformat(text).replace(tzinfo=TZ)


# --------------------------------------------------------------------------- reminder times

REMINDER_CASES = [
    pytest.param(
        "2026-10-09 17:00",
        ("3d", "1d", "2h"),
        False,
        [("3d", "2026-10-06 17:00"), ("1d", "2026-10-08 17:00"), ("2h", "2026-10-09 15:00")],
        id="plain-offsets",
    ),
    pytest.param(
        "2026-10-09 17:00",
        ("3d", "1d", "2h"),
        True,
        [("3d", "2026-09-30 17:00"), ("1d", "2026-10-08 17:00"), ("2h", "2026-10-09 15:00")],
        id="national-day-moves-to-sep-30",
    ),
    pytest.param(
        "2026-10-09 17:00",
        ("7d", "3d"),
        True,
        [("7d", "2026-09-30 17:00")],
        id="two-rounds-shift-onto-one-time-keeps-the-first",
    ),
    pytest.param(
        "2026-10-12 09:00",
        ("2d",),
        True,
        [("2d", "2026-10-10 09:00")],
        id="tiaoxiu-saturday-oct-10-is-a-working-day",
    ),
    pytest.param(
        "2026-10-12 09:00",
        ("1d",),
        True,
        [("1d", "2026-10-10 09:00")],
        id="sunday-oct-11-moves-to-make-up-saturday",
    ),
    pytest.param(
        "2026-09-21 17:00",
        ("1d",),
        True,
        [("1d", "2026-09-20 17:00")],
        id="tiaoxiu-sunday-sep-20-is-a-working-day",
    ),
    pytest.param(
        "2026-09-14 17:00",
        ("1d",),
        True,
        [("1d", "2026-09-11 17:00")],
        id="ordinary-sunday-moves-to-friday",
    ),
    pytest.param(
        "2026-02-24 17:00",
        ("3d",),
        True,
        [("3d", "2026-02-14 17:00")],
        id="spring-festival-back-to-make-up-saturday",
    ),
    pytest.param(
        "2026-04-08 17:00",
        ("3d", "1d"),
        True,
        [("3d", "2026-04-03 17:00"), ("1d", "2026-04-07 17:00")],
        id="qingming-holiday",
    ),
    pytest.param(
        "2026-10-09 17:00",
        ("2h", "0m", "3d"),
        False,
        [("3d", "2026-10-06 17:00"), ("2h", "2026-10-09 15:00")],
        id="sorted-and-a-round-at-the-due-time-dropped",
    ),
    pytest.param(
        "2030-01-07 17:00",
        ("1d",),
        True,
        [("1d", "2030-01-04 17:00")],
        id="beyond-the-calendar-only-weekends",
    ),
]


@pytest.mark.parametrize(("due", "offsets", "workdays", "expected"), REMINDER_CASES)
def test_reminder_times(
    due: str, offsets: tuple[str, ...], workdays: bool, expected: list[tuple[str, str]]
) -> None:
    got = reminder_times(at(due), offsets, workdays_only=workdays, tz=TZ)
    assert got == [(label, at(when)) for label, when in expected]


def test_reminder_times_keep_the_wall_clock_in_the_zone_given() -> None:
    due = at("2026-10-09 17:00").astimezone(UTC)
    (_label, when), *_ = reminder_times(due, ("3d",), workdays_only=True, tz=TZ)
    assert when.astimezone(TZ).strftime("%m-%d %H:%M") == "09-30 17:00"


@pytest.mark.parametrize(
    ("day", "working"),
    [
        ("2026-10-01", False),
        ("2026-10-07", False),
        ("2026-10-08", True),
        ("2026-10-10", True),  # Saturday, 调休
        ("2026-10-11", False),
        ("2026-09-20", True),  # Sunday, 调休
        ("2026-09-25", False),  # 中秋
    ],
)
def test_is_working_day(day: str, working: bool) -> None:
    assert WorkCalendar().is_working_day(at(f"{day} 12:00").date()) is working


# --------------------------------------------------------------------------- who owes


@dataclass(frozen=True)
class P:
    id: int
    name: str
    unit: str
    roles: tuple[str, ...] = ("principal",)
    active: bool = True
    wecom_userid: str | None = None
    dingtalk_userid: str | None = None
    mobile: str = ""

    def has_role(self, *roles: str) -> bool:
        return bool(set(self.roles) & set(roles))


@dataclass(frozen=True)
class S:
    kind: str
    name: str


@dataclass(frozen=True)
class D:
    key: str
    title: str
    due_at: datetime
    submitters: tuple[S, ...]
    format_note: str = ""
    period: str = ""


@dataclass(frozen=True)
class Sub:
    owner: str
    person_id: int
    late: bool = False


PEOPLE = (
    P(1, "陈校长", "瑞泉中学", wecom_userid="chen"),
    P(2, "赵老师", "瑞泉中学", roles=("judge",), wecom_userid="zhao"),
    P(3, "孙校长", "杜桥中学", dingtalk_userid="ding-sun", mobile="13800000003"),
    P(4, "李校长", "杜桥中学", mobile="13800000004"),
    P(5, "吴老师", "尚德中学", roles=("judge",), wecom_userid="wu"),
    P(6, "郑老师", "尚德中学", roles=()),
    P(7, "旧校长", "尚德中学", active=False, wecom_userid="old"),
    P(8, "王主任", "", wecom_userid="wang"),
)
DUE = at("2026-04-08 17:00")
DEADLINE = D(
    "plan",
    "实施方案",
    DUE,
    (S("unit", "瑞泉中学"), S("person", "孙校长"), S("unit", "尚德中学"), S("person", "王主任")),
)


def test_nobody_submitted_everyone_owes_with_the_right_contacts() -> None:
    entries = owed(DEADLINE, [], PEOPLE)
    assert [(e.name, e.kind, e.unit) for e in entries] == [
        ("瑞泉中学", "unit", "瑞泉中学"),
        ("孙校长", "person", "杜桥中学"),
        ("尚德中学", "unit", "尚德中学"),
        ("王主任", "person", ""),
    ]
    # A unit is reached through its principals ...
    assert entries[0].contacts == (Mention("陈校长", wecom_userid="chen"),)
    # ... or through every active member when it has none (never an inactive one).
    assert [m.name for m in entries[2].contacts] == ["吴老师", "郑老师"]
    assert entries[1].contacts == (
        Mention("孙校长", dingtalk_userid="ding-sun", mobile="13800000003"),
    )


@pytest.mark.parametrize(
    ("subs", "states"),
    [
        pytest.param([], ["missing"] * 4, id="none"),
        pytest.param([Sub("瑞泉中学", 1)], ["on_time"] + ["missing"] * 3, id="unit-by-principal"),
        pytest.param(
            [Sub("赵老师", 2)], ["on_time"] + ["missing"] * 3, id="unit-by-any-member-submission"
        ),
        pytest.param([Sub("孙校长", 3, late=True)], ["missing", "late", "missing", "missing"]),
        pytest.param(
            [Sub("孙校长", 3, late=False), Sub("孙校长", 3, late=True)],
            ["missing", "on_time", "missing", "missing"],
            id="an-on-time-version-wins",
        ),
        pytest.param(
            [Sub("李校长", 4)], ["missing"] * 4, id="a-colleague-does-not-count-for-a-person"
        ),
    ],
)
def test_entry_states(subs: list[Sub], states: list[str]) -> None:
    assert [s.state for s in entry_states(DEADLINE, subs, PEOPLE)] == states


def test_entry_for_prefers_the_person_then_the_unit() -> None:
    both = (S("unit", "杜桥中学"), S("person", "孙校长"))
    assert entry_for(both, PEOPLE[2]) == S("person", "孙校长")
    assert entry_for(both, PEOPLE[3]) == S("unit", "杜桥中学")
    assert entry_for(both, PEOPLE[0]) is None
    assert entry_for((S("unit", ""),), PEOPLE[7]) is None


def test_unit_counts_group_in_order_of_appearance() -> None:
    states = entry_states(DEADLINE, [Sub("瑞泉中学", 1, late=True)], PEOPLE)
    counts = unit_counts(states)
    assert [(c.unit, c.on_time, c.late, c.missing, c.missing_names) for c in counts] == [
        ("瑞泉中学", 0, 1, 0, ()),
        ("杜桥中学", 0, 0, 1, ("孙校长",)),
        ("尚德中学", 0, 0, 1, ("尚德中学",)),
        ("未分单位", 0, 0, 1, ("王主任",)),
    ]


# --------------------------------------------------------------------------- wording


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (-timedelta(days=2, hours=3), "提前 2 天 3 小时"),
        (-timedelta(days=2, minutes=59), "提前 2 天"),
        (timedelta(hours=5), "逾期 5 小时"),
        (timedelta(hours=5, minutes=12, seconds=40), "逾期 5 小时 12 分钟"),
        (-timedelta(minutes=25), "提前 25 分钟"),
        (timedelta(seconds=30), "逾期 不到 1 分钟"),
        (timedelta(0), "准时"),
    ],
)
def test_timing_text(delta: timedelta, text: str) -> None:
    assert timing_text(DUE + delta, DUE) == text


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (-timedelta(days=3), "还剩 3 天"),
        (-timedelta(hours=2), "还剩 2 小时"),
        # A reminder goes out a moment after its round (the outbox's wake, the minute job):
        # the time left counts whole minutes up, or "3 天" would read "2 天 23 小时".
        (-timedelta(days=3) + timedelta(milliseconds=10), "还剩 3 天"),
        (-timedelta(hours=2) + timedelta(seconds=40), "还剩 2 小时"),
        # Days show hours, not minutes: a round sent a few minutes late still says 3 天,
        # while one sent hours late (after an outage) says how long is really left.
        (-timedelta(days=3) + timedelta(minutes=3), "还剩 3 天"),
        (-timedelta(days=3) + timedelta(hours=5), "还剩 2 天 19 小时"),
        (-timedelta(days=1, minutes=30), "还剩 1 天 1 小时"),
        (-timedelta(hours=23, minutes=30), "还剩 23 小时 30 分钟"),
        (-timedelta(seconds=10), "还剩 1 分钟"),
        (timedelta(0), "已到截止时间"),
        (timedelta(days=1, hours=1), "已逾期 1 天 1 小时"),
    ],
)
def test_remaining_text(delta: timedelta, text: str) -> None:
    assert remaining_text(DUE, DUE + delta) == text


# --------------------------------------------------------------------------- texts


def test_reminder_names_and_mentions_exactly_who_owes() -> None:
    entries = owed(DEADLINE, [Sub("瑞泉中学", 1)], PEOPLE)
    (part,) = render_reminder(DEADLINE, entries, now=DUE - timedelta(days=3), tz=TZ, limit=2048)
    assert part.text.splitlines() == [
        "【交材料提醒】实施方案",
        "截止时间：4月8日（周三）17:00（还剩 3 天）",
        "以下 3 个单位/个人尚未提交：",
        "尚德中学",
        "杜桥中学：孙校长",
        "未分单位：王主任",
        "提交方式：发送“提交 实施方案 链接或说明”，或直接把文件发给我。",
    ]
    assert [m.name for m in part.mentions] == ["吴老师", "郑老师", "孙校长", "王主任"]


def test_overdue_lists_missing_by_unit_without_mentions() -> None:
    states = entry_states(DEADLINE, [Sub("孙校长", 3)], PEOPLE)
    (part,) = render_overdue(DEADLINE, states, now=DUE, tz=TZ, limit=3072)
    assert part.mentions == ()
    assert "### 【逾期未交】实施方案" in part.text
    assert "应交 4 · 已交 1 · 逾期交 0 · 未交 3" in part.text
    assert "- 瑞泉中学\n- 尚德中学\n- 未分单位：王主任" in part.text


def test_digest_counts_per_unit() -> None:
    states = entry_states(DEADLINE, [Sub("瑞泉中学", 1), Sub("孙校长", 3, late=True)], PEOPLE)
    (part,) = render_digest("周汇报", [(DEADLINE, states)], [], now=DUE, tz=TZ, limit=3072)
    assert "应交 4 · 已交 1 · 逾期交 1 · 未交 2" in part.text
    assert "- 杜桥中学：已交 0 · 逾期交 1 · 未交 0" in part.text
    assert "- 尚德中学：已交 0 · 逾期交 0 · 未交 1\n" in part.text


def test_paginate_fits_the_limit_and_keeps_mentions_with_their_lines() -> None:
    entries = [
        Entry(f"学校{i:03d}", "unit", f"学校{i:03d}", (Mention(f"校长{i:03d}", f"u{i}"),))
        for i in range(200)
    ]
    deadline = D("plan", "实施方案", DUE, tuple(S("unit", e.name) for e in entries))
    parts = render_reminder(deadline, entries, now=DUE, tz=TZ, limit=600)
    assert len(parts) >= 3
    assert all(utf8_len(p.text) <= 600 for p in parts)
    assert parts[1].text.startswith("【交材料提醒】实施方案（续）\n")
    assert parts[-1].text.endswith("或直接把文件发给我。")
    for part in parts:
        listed = {line for line in part.text.splitlines() if line.startswith("学校")}
        assert {m.name.replace("校长", "学校") for m in part.mentions} == listed
    assert sum(len(p.mentions) for p in parts) == 200


def test_paginate_cuts_a_line_too_long_for_any_part() -> None:
    parts = paginate("标题", [("长" * 500, ())], 200)
    assert all(utf8_len(p.text) <= 200 for p in parts)
    assert "".join(p.text.split("\n", 1)[1] for p in parts) == "长" * 500


# --------------------------------------------------------------------------- digest periods


@pytest.mark.parametrize(
    ("cron", "fired", "period"),
    [
        ("0 17 * * fri", "2026-11-20 17:00", "2026-W47"),
        ("0 17 * * 5", "2026-10-09 17:00", "2026-W41"),
        ("30 8 1 * *", "2026-11-01 08:30", "2026-11"),
        ("0 9 1 1,4,7,10 *", "2026-10-01 09:00", "2026-Q4"),
        ("0 9 5 */3 *", "2026-04-05 09:00", "2026-Q2"),
        ("0 9 1 1 *", "2026-01-01 09:00", "2026"),
        ("0 17 * * mon,fri", "2026-11-20 17:00", "2026-11-20T17:00"),
        ("0 8 * * *", "2026-11-20 08:00", "2026-11-20T08:00"),
        ("*/30 * * * *", "2026-11-20 08:30", "2026-11-20T08:30"),
    ],
)
def test_digest_period(cron: str, fired: str, period: str) -> None:
    assert digest_period(cron, at(fired).astimezone(UTC), TZ) == period


# --- dates carry the year when it is not the current one -------------------------------

FEB_7_2022 = datetime(2022, 2, 7, 18, 0, tzinfo=TZ)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        pytest.param(datetime(2022, 3, 1, tzinfo=TZ), "2月7日（周一）18:00", id="same-year"),
        pytest.param(
            datetime(2026, 12, 2, tzinfo=TZ), "2022年2月7日（周一）18:00", id="years-later"
        ),
        pytest.param(
            datetime(2021, 12, 30, tzinfo=TZ), "2022年2月7日（周一）18:00", id="next-year"
        ),
        pytest.param(None, "2月7日（周一）18:00", id="no-now"),
    ],
)
def test_a_date_shows_its_year_when_not_this_year(now: datetime | None, expected: str) -> None:
    assert local_time(FEB_7_2022, TZ, now) == expected


def test_a_deadline_years_ago_is_dated_with_its_year() -> None:
    later = datetime(2026, 12, 2, 9, 0, tzinfo=TZ)
    states = [EntryState(Entry("瑞泉中学", "unit", "瑞泉中学", ()), "missing")]
    note = due_note(D("report", "书面报告", FEB_7_2022, ()), states, now=later, tz=TZ)
    assert note.startswith("截止 2022年2月7日（周一）18:00，已逾期 ")
