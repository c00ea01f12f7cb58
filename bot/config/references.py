"""Cross-references between sections: every name and key used is defined, and defined once.

Each check yields ``(key, problem)`` pairs; ``check_references`` raises the first as a
``ConfigError`` naming the file, the key and the problem.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from bot.config.recurring import phase_span
from bot.config.settings import Settings
from bot.errors import ConfigError

Problem = tuple[str, str]
"""``(key, problem)``, e.g. ``("venues[0].judges[2]", "unknown judge ... '张伟力'")``."""


def check_references(s: Settings) -> None:
    """Raise ``ConfigError`` for the first reference problem in ``s``, if any."""
    for key, problem in reference_problems(s):
        raise ConfigError(s.source, key, problem)


def reference_problems(s: Settings) -> Iterator[Problem]:
    """Every duplicate and every dangling reference, in file order by section."""
    yield from _duplicates(s)
    yield from _duplicate_ids(s)
    yield from _duplicate_chats(s)
    names = _Names(s)
    yield from _unit_references(s, names)
    yield from _people_references(s, names)
    yield from _venue_references(s, names)
    yield from _deadline_references(s, names)
    yield from _digest_references(s, names)


def _unique(items: Sequence[Any], attr: str, section: str) -> Iterator[Problem]:
    seen: set[str] = set()
    for i, item in enumerate(items):
        value = getattr(item, attr)
        if value in seen:
            yield f"{section}[{i}].{attr}", f"duplicate {attr} '{value}'"
        seen.add(value)


def _duplicates(s: Settings) -> Iterator[Problem]:
    yield from _unique(s.units, "name", "units")
    yield from _unique(s.groups, "key", "groups")
    yield from _unique(s.people, "name", "people")
    yield from _unique(s.rubrics, "key", "rubrics")
    yield from _unique(s.venues, "key", "venues")
    yield from _unique(s.deadlines, "key", "deadlines")
    yield from _unique(s.digests, "key", "digests")
    yield from _unique(s.campaigns, "key", "campaigns")


def _duplicate_ids(s: Settings) -> Iterator[Problem]:
    for attr in ("wecom_userid", "dingtalk_userid"):
        seen: dict[str, str] = {}
        for i, person in enumerate(s.people):
            value = getattr(person, attr)
            # WeCom ignores case in userids: ZhangSan and zhangsan are one account.
            same = value.lower() if attr == "wecom_userid" else value
            if value and same in seen:
                yield f"people[{i}].{attr}", f"'{value}' is also {seen[same]}'s id"
            seen[same] = person.name


def _duplicate_chats(s: Settings) -> Iterator[Problem]:
    chats: dict[str, str] = {}
    for i, group in enumerate(s.groups):
        if group.chat_id and group.chat_id in chats:
            problem = f"'{group.chat_id}' is also group {chats[group.chat_id]}'s chat_id"
            yield f"groups[{i}].chat_id", problem
        chats[group.chat_id] = group.key


class _Names:
    """What each section defines, for the references of the others."""

    def __init__(self, s: Settings) -> None:
        self.groups = {g.key for g in s.groups}
        self.people = {p.name for p in s.people}
        self.units = {p.unit for p in s.people if p.unit} | {u.name for u in s.units}
        self.rubrics = {r.key for r in s.rubrics}
        self.venues = {v.key for v in s.venues}
        self.deadlines = {d.key for d in s.deadlines}
        self.campaigns = {c.key for c in s.campaigns}


def _need(value: str, known: set[str], key: str, what: str) -> Iterator[Problem]:
    if value not in known:
        hint = f" (defined: {', '.join(sorted(known))})" if known and len(known) <= 12 else ""
        yield key, f"unknown {what} '{value}'{hint}"


def _need_all(values: Iterable[str], known: set[str], key: str, what: str) -> Iterator[Problem]:
    for j, value in enumerate(values):
        yield from _need(value, known, f"{key}[{j}]", what)


def _unit_references(s: Settings, n: _Names) -> Iterator[Problem]:
    listed = {u.name for u in s.units}
    for i, unit in enumerate(s.units):
        if unit.parent:
            yield from _need(unit.parent, listed, f"units[{i}].parent", "unit (not in [[units]])")


def _people_references(s: Settings, n: _Names) -> Iterator[Problem]:
    for i, person in enumerate(s.people):
        key = f"people[{i}].responsible_for"
        yield from _need_all(person.responsible_for, n.units, key, "unit")


def _venue_references(s: Settings, n: _Names) -> Iterator[Problem]:
    for i, f in enumerate(s.venues):
        base = f"venues[{i}]"
        yield from _need(f.rubric, n.rubrics, f"{base}.rubric", "rubric")
        if f.host:
            yield from _need(f.host, n.people, f"{base}.host", "person")
        yield from _need_all(f.judges, n.people, f"{base}.judges", "judge (not in [[people]])")
        if f.group:
            yield from _need(f.group, n.groups, f"{base}.group", "group")
        yield from _need_all(f.results_to, n.groups, f"{base}.results_to", "group")


def _deadline_references(s: Settings, n: _Names) -> Iterator[Problem]:
    for i, d in enumerate(s.deadlines):
        base = f"deadlines[{i}]"
        who = n.people | n.units
        yield from _need_all(d.submitters, who, f"{base}.submitters", "person or unit")
        if d.group:
            yield from _need(d.group, n.groups, f"{base}.group", "group")
        yield from _need_all(d.escalate_to, n.groups, f"{base}.escalate_to", "group")
        if d.campaign:
            yield from _need(d.campaign, n.campaigns, f"{base}.campaign", "campaign")
        yield from _phase(s, d.campaign, d.phase, f"{base}.phase")


def _digest_references(s: Settings, n: _Names) -> Iterator[Problem]:
    for i, dg in enumerate(s.digests):
        base = f"digests[{i}]"
        yield from _need_all(dg.to, n.groups, f"{base}.to", "group")
        yield from _need_all(dg.deadlines, n.deadlines, f"{base}.deadlines", "deadline")
        yield from _need_all(dg.venues, n.venues, f"{base}.venues", "venue")
        yield from _cron(f"{base}.cron", dg.cron)
        if dg.campaign:
            yield from _need(dg.campaign, n.campaigns, f"{base}.campaign", "campaign")
        yield from _phase(s, dg.campaign, dg.phase, f"{base}.phase")


def _phase(s: Settings, campaign: str, phase: str, key: str) -> Iterator[Problem]:
    if not phase:
        return
    if not campaign:
        yield key, "phase needs campaign (the campaign the phase belongs to)"
        return
    try:
        phase_span(s.campaigns, campaign, phase)
    except KeyError:
        names = [p.name for c in s.campaigns if c.key == campaign for p in c.phases]
        yield key, f"unknown phase '{phase}' (defined: {', '.join(names) or 'none'})"


def _cron(key: str, expr: str) -> Iterator[Problem]:
    from apscheduler.triggers.cron import CronTrigger  # noqa: PLC0415 - only needed here

    try:
        CronTrigger.from_crontab(expr)
    except ValueError as exc:
        yield key, f"not a crontab expression: {exc}"
