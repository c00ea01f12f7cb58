"""Who answers for which units: a 督学 for their 包点 schools, a 教育组 / 共同体 head for the
schools under their unit.

A person's units are those named in their ``responsible_for``, and, for a principal or
leader, every unit below their own in ``[[units]]`` (``parent``); a unit they answer for
brings the units below it too (a 学区 and its schools). 未交, 已交 and 进度 for such a person
cover these units only, and reminders and overdue lists about them reach the person
privately (``bot.planning.oversight``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.config.settings import Settings

HEADS = frozenset({"principal", "leader"})


def oversight(settings: Settings) -> dict[str, frozenset[str]]:
    """Person name → the units they answer for (only people who answer for any)."""
    children: dict[str, list[str]] = {}
    for entry in settings.units:
        if entry.parent:
            children.setdefault(entry.parent, []).append(entry.name)

    def below(name: str) -> set[str]:
        found: set[str] = set()
        todo = list(children.get(name, ()))
        while todo:
            current = todo.pop()
            if current not in found:
                found.add(current)
                todo.extend(children.get(current, ()))
        return found

    out: dict[str, frozenset[str]] = {}
    for person in settings.people:
        units = set(person.responsible_for)
        if person.unit and HEADS & set(person.roles):
            units |= below(person.unit)
        for name in list(units):
            units |= below(name)
        if units:
            out[person.name] = frozenset(units)
    return out
