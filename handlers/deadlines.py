"""Pure rules for deadlines (上交材料): when to remind, who still owes, and the texts.

Nothing here touches the database or the clock: values in, values out. The ORM rows
(``Deadline``, ``Person``, ``Submission``) fit the small read-only protocols of
``handlers.deadline_shapes``, and so do the plain dataclasses the tests build.

- the rounds of a deadline (``reminder_times``) are in ``handlers.workdays``.
- ``entry_states`` / ``owed``: each submitter entry (a person, or a unit whose members may
  submit for it) as 已交 / 逾期交 / 未交, with whom to @-mention.
- ``render_*``: reminder, overdue list, 未交 reply and digest, split into ``Part``s that fit
  a platform's byte limit (``handlers.text.paginate``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Literal, TypeAlias

from handlers.context import local_time
from handlers.deadline_shapes import DeadlineLike, PersonLike, SubmissionLike, SubmitterLike
from handlers.messages import Mention
from handlers.text import Line, Part, paginate

State = Literal["on_time", "late", "missing"]
NO_UNIT = "未分单位"


# --------------------------------------------------------------------------- who owes


@dataclass(frozen=True, slots=True)
class Entry:
    """One submitter entry of a deadline: a person, or a unit any member may submit for."""

    name: str
    kind: str
    """``person`` or ``unit``."""
    unit: str
    """The unit to group under: the person's unit or the unit itself (``""`` when none)."""
    contacts: tuple[Mention, ...]
    """Whom to @-mention: the person, or the unit's principals (all members if none)."""


Owed: TypeAlias = Entry


@dataclass(frozen=True, slots=True)
class EntryState:
    """A submitter entry and where it stands: ``on_time`` (已交), ``late`` (逾期交) or
    ``missing`` (未交)."""

    entry: Entry
    state: State


def mention_of(person: PersonLike) -> Mention:
    """How to @-mention ``person`` on either platform (an unknown id is ``""``)."""
    return Mention(
        person.name, person.wecom_userid or "", person.dingtalk_userid or "", person.mobile
    )


def entry_for(submitters: Sequence[SubmitterLike], person: PersonLike) -> SubmitterLike | None:
    """The entry a person's submission counts for: their own name first, then their unit."""
    for kind, name in (("person", person.name), ("unit", person.unit)):
        for entry in submitters:
            if name and entry.kind == kind and entry.name == name:
                return entry
    return None


def entry_states(
    deadline: DeadlineLike,
    submissions: Sequence[SubmissionLike],
    people: Sequence[PersonLike],
) -> list[EntryState]:
    """Every entry of ``deadline`` in config order with its state.

    An entry counts as submitted by a submission recorded for it (``owner``), or, for a
    unit, by any submission from a current member of the unit; 已交 (on time) wins over
    逾期交 when there are several versions, since the on-time one was handed in.
    """
    # Indexes first: a term of 500 units must not cost units × people per deadline.
    members: dict[str, list[PersonLike]] = {}
    named: dict[str, PersonLike] = {}
    for p in people:
        if p.active:
            members.setdefault(p.unit, []).append(p)
            named.setdefault(p.name, p)
    counted = _counted(submissions, {p.id: p for p in people})
    states: list[EntryState] = []
    for sub in deadline.submitters:
        mine = counted.get((sub.kind, sub.name), [])
        state: State = "missing"
        if mine:
            state = "late" if all(s.late for s in mine) else "on_time"
        states.append(EntryState(_entry(sub, members, named), state))
    return states


def _entry(
    sub: SubmitterLike, members: dict[str, list[PersonLike]], named: dict[str, PersonLike]
) -> Entry:
    """A submitter as an entry: a unit @-mentions its principals (all members if none)."""
    if sub.kind == "unit":
        mine = members.get(sub.name, [])
        principals = [p for p in mine if p.has_role("principal")] or mine
        return Entry(sub.name, "unit", sub.name, tuple(mention_of(p) for p in principals))
    person = named.get(sub.name)
    if person is None:
        return Entry(sub.name, "person", "", ())
    return Entry(sub.name, "person", person.unit, (mention_of(person),))


def _counted(
    submissions: Sequence[SubmissionLike], people: dict[int, PersonLike]
) -> dict[tuple[str, str], list[SubmissionLike]]:
    """(kind, name) → the submissions that count for such an entry: those recorded for it
    (``owner``), and those from a person of that name or from a member of that unit."""
    found: dict[tuple[str, str], list[SubmissionLike]] = {}
    for s in submissions:
        keys = {("unit", s.owner), ("person", s.owner)}
        person = people.get(s.person_id)
        if person is not None:
            keys |= {("unit", person.unit), ("person", person.name)}
        for key in keys:
            found.setdefault(key, []).append(s)
    return found


def owed(
    deadline: DeadlineLike,
    submissions: Sequence[SubmissionLike],
    people: Sequence[PersonLike],
) -> list[Owed]:
    """The entries that have not submitted anything yet, in config order."""
    return [s.entry for s in entry_states(deadline, submissions, people) if s.state == "missing"]


@dataclass(frozen=True, slots=True)
class UnitCount:
    """One unit's 已交 / 逾期交 / 未交 counts, with the names of its missing entries."""

    unit: str
    on_time: int = 0
    late: int = 0
    missing: int = 0
    missing_names: tuple[str, ...] = ()


def unit_counts(states: Sequence[EntryState]) -> list[UnitCount]:
    """已交 / 逾期交 / 未交 per unit, units in order of first appearance."""
    counts: dict[str, UnitCount] = {}
    for item in states:
        unit = item.entry.unit or NO_UNIT
        c = counts.get(unit, UnitCount(unit))
        missing = item.state == "missing"
        names = c.missing_names + ((item.entry.name,) if missing else ())
        counts[unit] = UnitCount(
            unit,
            c.on_time + (item.state == "on_time"),
            c.late + (item.state == "late"),
            c.missing + missing,
            names,
        )
    return list(counts.values())


# --------------------------------------------------------------------------- wording


def local_text(when: datetime, tz: tzinfo, now: datetime | None = None) -> str:
    """``4月8日（周三）17:00`` in ``tz``; with the year when not ``now``'s year."""
    return local_time(when, tz, now)


def due_text(deadline: DeadlineLike, tz: tzinfo, now: datetime) -> str:
    """``4月8日（周三）17:00（还剩 2 天）``."""
    return f"{local_text(deadline.due_at, tz, now)}（{remaining_text(deadline.due_at, now)}）"


def duration_text(delta: timedelta) -> str:
    """``2 天 3 小时``, ``5 小时``, ``5 小时 12 分钟``, ``25 分钟``, ``不到 1 分钟``."""
    minutes = int(abs(delta).total_seconds()) // 60
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} 天" + (f" {hours} 小时" if hours else "")
    if hours:
        return f"{hours} 小时" + (f" {mins} 分钟" if mins else "")
    return f"{mins} 分钟" if mins else "不到 1 分钟"


def timing_text(submitted_at: datetime, due: datetime) -> str:
    """How a submission stands against its due time: ``提前 2 天 3 小时`` / ``逾期 5 小时``."""
    if submitted_at == due:
        return "准时"
    word = "逾期" if submitted_at > due else "提前"
    return f"{word} {duration_text(submitted_at - due)}"


def remaining_text(due: datetime, now: datetime) -> str:
    """``还剩 2 天 3 小时`` before the due time, ``已逾期 5 小时`` after it.

    The time left counts up in the smallest unit it shows, as a countdown does: whole hours
    once it is a day or more (days and hours are shown), whole minutes below. A reminder
    sent a minute or two after its round (3 days before) says ``还剩 3 天``, not ``还剩 2 天
    23 小时``."""
    if now >= due:
        return (
            "已到截止时间"
            if now - due < timedelta(minutes=1)
            else f"已逾期 {duration_text(now - due)}"
        )
    unit = timedelta(hours=1) if due - now > timedelta(days=1) else timedelta(minutes=1)
    left = unit * -((now - due) // unit)
    return f"还剩 {duration_text(left)}"


def state_counts(states: Sequence[EntryState]) -> str:
    """The one-line tally, e.g. ``应交 4 · 已交 2 · 逾期交 1 · 未交 1``."""
    on_time = sum(s.state == "on_time" for s in states)
    late = sum(s.state == "late" for s in states)
    missing = sum(s.state == "missing" for s in states)
    return f"应交 {len(states)} · 已交 {on_time} · 逾期交 {late} · 未交 {missing}"


def owed_lines(entries: Sequence[Entry]) -> list[Line]:
    """One line per unit (``杜桥中学：孙校长、李校长``) or unit entry (``尚德中学``), with the
    mentions of the entries on it."""
    lines: list[Line] = []
    grouped: dict[str, list[Entry]] = {}
    for entry in entries:
        if entry.kind == "unit":
            lines.append((entry.name, entry.contacts))
        else:
            grouped.setdefault(entry.unit or NO_UNIT, []).append(entry)
    for unit, people in grouped.items():
        names = "、".join(e.name for e in people)
        lines.append((f"{unit}：{names}", tuple(m for e in people for m in e.contacts)))
    return lines


# --------------------------------------------------------------------------- texts


def named(deadline: DeadlineLike) -> str:
    """The deadline as texts name it: ``书面报告``, or with its period ``周报（第3周）``."""
    return f"{deadline.title}（{deadline.period}）" if deadline.period else deadline.title


def submit_hint(deadline: DeadlineLike) -> str:
    """The line that tells a submitter how to hand ``deadline`` in (a link, or a file)."""
    return f"提交方式：发送“提交 {deadline.title} 链接或说明”，或直接把文件发给我。"


def render_reminder(
    deadline: DeadlineLike, entries: Sequence[Entry], *, now: datetime, tz: tzinfo, limit: int
) -> list[Part]:
    """The group reminder naming (and @-mentioning) exactly ``entries``. Plain text."""
    head = (
        f"【交材料提醒】{named(deadline)}\n"
        f"截止时间：{due_text(deadline, tz, now)}\n"
        f"以下 {len(entries)} 个单位/个人尚未提交："
    )
    tail = submit_hint(deadline)
    if deadline.format_note:
        tail += f"\n格式要求：{deadline.format_note}"
    return paginate(head, owed_lines(entries), limit, tail=tail)


def render_overdue(
    deadline: DeadlineLike, states: Sequence[EntryState], *, now: datetime, tz: tzinfo, limit: int
) -> list[Part]:
    """The overdue list for leaders (markdown, no mentions), missing entries by unit."""
    missing = [s.entry for s in states if s.state == "missing"]
    head = (
        f"### 【逾期未交】{named(deadline)}\n"
        f"截止时间：{due_text(deadline, tz, now)}\n"
        f"{state_counts(states)}"
    )
    lines = [(f"- {text}", ()) for text, _ in owed_lines(missing)]
    return [
        Part(p.text) for p in paginate(head, lines, limit, tail="逾期提交仍会接收，并标记为逾期。")
    ]


def due_note(
    deadline: DeadlineLike, states: Sequence[EntryState], *, now: datetime, tz: tzinfo
) -> str:
    """``截止 4月8日（周三）17:00，还剩 2 天`` / ``…，已逾期 1 天`` while someone owes, and
    ``…，已截止`` once everyone has handed in (nobody is overdue then)."""
    done = all(s.state != "missing" for s in states)
    when = "已截止" if done and now >= deadline.due_at else remaining_text(deadline.due_at, now)
    return f"截止 {local_text(deadline.due_at, tz, now)}，{when}"


def render_missing(
    deadline: DeadlineLike, states: Sequence[EntryState], *, now: datetime, tz: tzinfo
) -> str:
    """The 未交 answer for one deadline (plain text, one block)."""
    missing = [s.entry for s in states if s.state == "missing"]
    head = f"“{named(deadline)}”（{due_note(deadline, states, now=now, tz=tz)}）"
    if not missing:
        return f"{head}已全部提交。{state_counts(states)}"
    lines = [text for text, _ in owed_lines(missing)]
    return "\n".join([f"{head}未交名单：", state_counts(states), *lines])


@dataclass(frozen=True, slots=True)
class VenueProgress:
    """One venue's line in a digest: its name and how many of the judges × contestants
    sheets are in."""

    name: str
    scored: int
    expected: int
    state: str
    """进行中 / 已完成 / 已公布."""


def render_digest(
    title: str,
    sections: Sequence[tuple[DeadlineLike, Sequence[EntryState]]],
    venues: Sequence[VenueProgress],
    *,
    now: datetime,
    tz: tzinfo,
    limit: int,
) -> list[Part]:
    """A digest (markdown): per deadline the counts by unit with missing names, then venues."""
    lines: list[Line] = []
    for deadline, states in sections:
        note = due_note(deadline, states, now=now, tz=tz)
        lines.append((f"**{named(deadline)}**（{note}）", ()))
        lines.append((state_counts(states), ()))
        for c in unit_counts(states):
            # A unit that owes as a unit is named by the line already.
            owing = [n for n in c.missing_names if n != c.unit]
            names = f"（{'、'.join(owing)}）" if owing else ""
            counts = f"已交 {c.on_time} · 逾期交 {c.late} · 未交 {c.missing}"
            lines.append((f"- {c.unit}：{counts}{names}", ()))
    if venues:
        lines.append(("**会场评分进度**", ()))
        lines.extend((f"- {v.name}：已评 {v.scored}/{v.expected}（{v.state}）", ()) for v in venues)
    if not lines:
        lines.append(("暂无需要汇报的事项。", ()))
    head = f"### {title}\n统计时间：{local_text(now, tz)}"
    return paginate(head, lines, limit)
