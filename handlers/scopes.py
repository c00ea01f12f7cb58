"""The units a person answers for, applied to the lists they ask for (未交, 已交, 进度).

A 督学 or a 教育组 / 共同体 head (``Context.oversees``, from the config's ``responsible_for``
and ``[[units]]`` parents) sees the entries of their units only; leaders, organizers and
hosts see every entry.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from handlers.deadlines import EntryState


def in_scope(states: Sequence[EntryState], units: Iterable[str]) -> list[EntryState]:
    """The entries that are one of ``units`` or belong to one (a person of the unit)."""
    wanted = frozenset(units)
    return [s for s in states if s.entry.name in wanted or s.entry.unit in wanted]


def scope_note(units: Iterable[str]) -> str:
    """``您负责的单位：杜桥中学、尚德中学``."""
    return "您负责的单位：" + "、".join(sorted(units))
