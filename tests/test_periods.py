"""The periods of a repeating deadline as pure functions of the rule and the calendar."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from handlers.periods import (
    Recurrence,
    current_index,
    looks_like_period,
    occurrences,
    parse_weekday,
    period_key,
    split_period,
)
from handlers.workdays import WorkCalendar, parse_days

TZ = ZoneInfo("Asia/Shanghai")
# 2027 is past chinesecalendar's data: the config's days decide, the weekday rule does the rest.
CAL_2027 = WorkCalendar(
    holidays=parse_days(["2027-03-29..2027-04-02", "2027-03-19"]),
    workdays=parse_days(["2027-03-27"]),
)


def dues(rule: Recurrence, **kw: object) -> list[tuple[str, str]]:
    found = occurrences(rule, TZ, calendar=CAL_2027, **kw)  # type: ignore[arg-type]
    return [(o.name, o.due_at.strftime("%m-%d %a %H:%M")) for o in found]


WEEKLY = Recurrence("weekly", date(2027, 3, 1), date(2027, 4, 9))


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        pytest.param(
            WEEKLY,
            [
                ("第1周", "03-05 Fri 17:00"),
                ("第2周", "03-12 Fri 17:00"),
                ("第3周", "03-19 Fri 17:00"),
                ("第4周", "03-26 Fri 17:00"),
                ("第5周", "04-02 Fri 17:00"),
                ("第6周", "04-09 Fri 17:00"),
            ],
            id="weekly-ignores-holidays-unless-workdays-only",
        ),
        pytest.param(
            Recurrence("weekly", date(2027, 3, 1), date(2027, 4, 9), workdays_only=True),
            [
                ("第1周", "03-05 Fri 17:00"),
                ("第2周", "03-12 Fri 17:00"),
                ("第3周", "03-18 Thu 17:00"),  # Friday off: the working day before
                ("第4周", "03-26 Fri 17:00"),
                ("第5周", "03-27 Sat 17:00"),  # the whole week off: the 调休 Saturday
                ("第6周", "04-09 Fri 17:00"),
            ],
            id="weekly-workdays-only-moves-back-to-a-tiaoxiu-saturday",
        ),
        pytest.param(
            Recurrence(
                "weekly",
                date(2027, 3, 1),
                date(2027, 3, 31),
                weekday=0,
                at=time(9),
                workdays_only=True,
            ),
            [
                ("第1周", "03-01 Mon 09:00"),
                ("第2周", "03-08 Mon 09:00"),
                ("第3周", "03-15 Mon 09:00"),
                ("第4周", "03-22 Mon 09:00"),
                ("第5周", "03-27 Sat 09:00"),  # Monday 3-29 off: back to the 调休 Saturday
            ],
            id="monday-morning-moves-back-over-a-weekend",
        ),
        pytest.param(
            Recurrence("monthly", date(2027, 1, 1), date(2027, 4, 30)),
            [
                ("1月", "01-29 Fri 17:00"),  # 1-31 is a Sunday
                ("2月", "02-26 Fri 17:00"),  # 2-28 is a Sunday
                ("3月", "03-27 Sat 17:00"),  # 3-29..4-02 off, 3-27 a 调休 Saturday
                ("4月", "04-30 Fri 17:00"),
            ],
            id="monthly-last-workday-skips-a-weekend-month-end",
        ),
        pytest.param(
            Recurrence("monthly", date(2027, 1, 1), date(2027, 4, 30), monthday="last"),
            [
                ("1月", "01-31 Sun 17:00"),
                ("2月", "02-28 Sun 17:00"),
                ("3月", "03-31 Wed 17:00"),
                ("4月", "04-30 Fri 17:00"),
            ],
            id="monthly-last-day-as-is",
        ),
        pytest.param(
            Recurrence("monthly", date(2027, 1, 1), date(2027, 4, 30), monthday=31),
            [
                ("1月", "01-31 Sun 17:00"),
                ("2月", "02-28 Sun 17:00"),
                ("3月", "03-31 Wed 17:00"),
                ("4月", "04-30 Fri 17:00"),
            ],
            id="monthly-31-falls-on-a-short-months-last-day",
        ),
        pytest.param(
            Recurrence("quarterly", date(2027, 1, 1), date(2027, 12, 31)),
            [
                ("第一季度", "03-27 Sat 17:00"),
                ("第二季度", "06-30 Wed 17:00"),
                ("第三季度", "09-30 Thu 17:00"),
                ("第四季度", "12-31 Fri 17:00"),
            ],
            id="quarterly-at-each-quarters-last-working-day",
        ),
        pytest.param(
            Recurrence(
                "dates",
                date(2027, 3, 1),
                date(2027, 3, 31),
                dates=(date(2027, 3, 20), date(2027, 3, 10), date(2027, 5, 1)),
            ),
            [("3月10日", "03-10 Wed 17:00"), ("3月20日", "03-20 Sat 17:00")],
            id="dates-sorted-and-kept-within-the-span",
        ),
    ],
)
def test_occurrences(rule: Recurrence, expected: list[tuple[str, str]]) -> None:
    assert dues(rule) == expected


def test_a_period_without_a_working_day_of_its_own_is_dropped() -> None:
    week_off = WorkCalendar(holidays=parse_days(["2027-03-15..2027-03-19"]))
    rule = Recurrence("weekly", date(2027, 3, 1), date(2027, 3, 26), workdays_only=True)
    found = occurrences(rule, TZ, calendar=week_off)
    # Week 3 would move back to Friday 3-12, week 2's own due day: it is left out.
    assert [o.name for o in found] == ["第1周", "第2周", "第4周"]


def test_vacation_weeks_are_skipped_and_the_week_numbers_keep_counting() -> None:
    vacation = parse_days(["2027-03-08..2027-03-14"])
    assert dues(WEEKLY, vacations=vacation)[:3] == [
        ("第1周", "03-05 Fri 17:00"),
        ("第3周", "03-19 Fri 17:00"),
        ("第4周", "03-26 Fri 17:00"),
    ]
    kept = Recurrence("weekly", date(2027, 3, 1), date(2027, 3, 19), skip_vacations=False)
    assert len(dues(kept, vacations=vacation)) == 3


def test_each_period_opens_when_the_one_before_falls_due() -> None:
    found = occurrences(WEEKLY, TZ, calendar=CAL_2027)
    assert found[0].opens_at == datetime(2027, 3, 1, tzinfo=TZ)
    assert [o.opens_at for o in found[1:]] == [o.due_at for o in found[:-1]]
    assert [o.code for o in found][:2] == ["2027-03-05", "2027-03-12"]


@pytest.mark.parametrize(
    ("typed", "expected"),
    [("fri", 4), ("Friday", 4), ("周五", 4), (5, 4), (1, 0), (7, 6), ("sun", 6)],
)
def test_weekday_names(typed: int | str, expected: int) -> None:
    assert parse_weekday(typed) == expected


@pytest.mark.parametrize("typed", ["funday", 0, 8, "星期八"])
def test_weekday_refusals(typed: int | str) -> None:
    with pytest.raises(ValueError, match="weekday"):
        parse_weekday(typed)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("周报 第2周", ("周报", "第2周")),
        ("周报 第二周", ("周报", "第二周")),
        ("月小结 3月", ("月小结", "3月")),
        ("季通报 第一季度", ("季通报", "第一季度")),
        ("周报", ("周报", "")),
        ("第2周", ("第2周", "")),
        ("书面 报告", ("书面 报告", "")),
    ],
)
def test_split_period(text: str, expected: tuple[str, str]) -> None:
    assert split_period(text) == expected


def test_period_names_compare_with_either_numerals() -> None:
    assert period_key("第二周") == period_key("第2周") == "第2周"
    assert period_key("第一季度") == period_key("第1季度")
    assert period_key("第十二周") == "第12周"
    assert looks_like_period("3月15日")
    assert not looks_like_period("书面报告")


def test_the_current_period_is_the_first_not_yet_due() -> None:
    found = occurrences(WEEKLY, TZ, calendar=CAL_2027)
    due = [o.due_at for o in found]
    assert current_index(due, datetime(2027, 3, 1, tzinfo=TZ)) == 0
    assert current_index(due, due[1]) == 1
    assert current_index(due, due[1].replace(minute=1)) == 2
    assert current_index(due, datetime(2027, 6, 1, tzinfo=TZ)) == len(due) - 1
    assert current_index([], datetime(2027, 6, 1, tzinfo=TZ)) == 0
