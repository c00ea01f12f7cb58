"""A config's deadlines as stored: one row per period of a repeating ``[[deadlines]]`` entry.

``planned_deadlines`` turns each entry into ``Planned`` values. A one-off deadline is one
``Planned`` under its own key; a repeating one (``repeat``) is one per occurrence, keyed
``<key>@<due date>`` (``weekly@2027-03-05``), with the entry's key as its ``series`` and the
period's name (第3周). The span comes from ``start``/``end`` or the campaign phase.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import TYPE_CHECKING

from bot.config.campaign import CampaignConfig, DeadlineConfig, day_of
from handlers.periods import Recurrence, occurrences, parse_weekday
from handlers.phases import Phase, same_phase

if TYPE_CHECKING:
    from bot.config.settings import Settings

SEPARATOR = "@"


@dataclass(frozen=True, slots=True)
class Planned:
    """One deadline row to store: the config entry and the period it stands for."""

    config: DeadlineConfig
    key: str
    due: datetime
    series: str = ""
    """The entry's key for a period of a repeating deadline; ``""`` for a one-off."""
    period: str = ""
    """第3周 / 3月 / 第一季度; ``""`` for a one-off."""
    opens_at: datetime | None = None


def phase_span(campaigns: tuple[CampaignConfig, ...], key: str, phase: str) -> tuple[date, date]:
    """The first and last day of ``phase`` of campaign ``key``; ``KeyError`` if unknown."""
    for campaign in campaigns:
        if campaign.key != key:
            continue
        for item in campaign.phases:
            if same_phase(item.name, phase):
                return item.start.date(), item.end.date()
    raise KeyError(f"no phase '{phase}' in campaign '{key}'")


def recurrence(cfg: DeadlineConfig, campaigns: tuple[CampaignConfig, ...]) -> Recurrence:
    """The entry's repetition as ``handlers.periods`` reads it."""
    if cfg.phase:
        start, end = phase_span(campaigns, cfg.campaign, cfg.phase)
    else:
        assert cfg.start is not None  # the model checked
        assert cfg.end is not None
        start, end = day_of(cfg.start), day_of(cfg.end)
    return Recurrence(
        repeat=cfg.repeat,
        start=start,
        end=end,
        at=time.fromisoformat(cfg.time),
        weekday=parse_weekday(cfg.weekday),
        monthday=cfg.monthday,
        dates=cfg.dates,
        workdays_only=cfg.workdays_only,
        skip_vacations=cfg.skip_vacations,
    )


def planned_deadlines(settings: Settings) -> list[Planned]:
    """Every deadline row the config stands for, entries in file order."""
    out: list[Planned] = []
    for cfg in settings.deadlines:
        if not cfg.repeat:
            assert cfg.due is not None  # the model checked
            out.append(Planned(cfg, cfg.key, cfg.due))
            continue
        rule = recurrence(cfg, settings.campaigns)
        found = occurrences(
            rule,
            settings.tz,
            calendar=settings.work_calendar,
            vacations=settings.calendar.vacation_days(),
        )
        out.extend(
            Planned(cfg, f"{cfg.key}{SEPARATOR}{o.code}", o.due_at, cfg.key, o.name, o.opens_at)
            for o in found
        )
    return out


def campaign_phases(settings: Settings) -> tuple[Phase, ...]:
    """Every phase of every ``[[campaigns]]`` entry, in file order."""
    return tuple(
        Phase(c.key, c.title, p.name, p.start, p.end) for c in settings.campaigns for p in c.phases
    )
