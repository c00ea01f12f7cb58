"""Copy the config into the database at start-up, idempotently (runtime work: it reads
``Settings`` and writes storage's models).

Rows are matched by their config key (people by name); what disappeared from the config is
marked inactive rather than deleted, so scores and submissions keep their references.
Contestants keep their ids when only their order changes.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config import Settings
from storage.bindings import apply_bindings, approved
from storage.meta import CATALOG, bump
from storage.models import (
    Contestant,
    Deadline,
    DeadlineSubmitter,
    Group,
    Person,
    Rubric,
    RubricItem,
    Venue,
    VenueJudge,
)
from storage.scores import recount_sheets


def sync_config(session: Session, settings: Settings) -> None:
    """Make the database's people, groups, rubrics, venues and deadlines match ``settings``."""
    people = _sync_people(session, settings)
    groups = _sync_groups(session, settings)
    apply_bindings(session, approved(session))  # ids bound in chat, on top of the file's
    rubrics = _sync_rubrics(session, settings)
    _sync_venues(session, settings, people, groups, rubrics)
    _sync_deadlines(session, settings, groups)
    session.flush()
    bump(session, CATALOG)


def _sync_people(session: Session, settings: Settings) -> dict[str, Person]:
    existing = {p.name: p for p in session.scalars(select(Person))}
    # Free platform ids first so a swap of ids between two people does not trip the unique index.
    for old in existing.values():
        old.wecom_userid = None
        old.dingtalk_userid = None
        old.active = False
    session.flush()
    for cfg in settings.people:
        person = existing.get(cfg.name)
        if person is None:
            person = Person(name=cfg.name)
            session.add(person)
            existing[cfg.name] = person
        person.unit = cfg.unit
        person.roles = ",".join(cfg.roles)
        person.wecom_userid = cfg.wecom_userid or None
        person.dingtalk_userid = cfg.dingtalk_userid or None
        person.mobile = cfg.mobile
        person.active = True
    session.flush()
    return existing


def _sync_groups(session: Session, settings: Settings) -> dict[str, Group]:
    existing = {g.key: g for g in session.scalars(select(Group))}
    for old_group in existing.values():
        old_group.active = False
    for cfg in settings.groups:
        group = existing.get(cfg.key)
        if group is None:
            group = Group(key=cfg.key, platform=cfg.platform)
            session.add(group)
            existing[cfg.key] = group
        group.name = cfg.name or cfg.key
        group.platform = cfg.platform
        group.webhook = cfg.webhook
        group.secret = cfg.secret
        group.chat_id = cfg.chat_id
        group.organizers = cfg.organizers
        group.active = True
    session.flush()
    return existing


def _sync_rubrics(session: Session, settings: Settings) -> dict[str, Rubric]:
    existing = {r.key: r for r in session.scalars(select(Rubric))}
    for cfg in settings.rubrics:
        rubric = existing.get(cfg.key)
        if rubric is None:
            rubric = Rubric(key=cfg.key)
            session.add(rubric)
            existing[cfg.key] = rubric
        rubric.name = cfg.name
        rubric.decimals = cfg.decimals
        rubric.aggregate = cfg.aggregate
        rubric.trim_min_judges = cfg.trim_min_judges
        rubric.allow_total = cfg.allow_total
        rubric.outlier_threshold = cfg.outlier_threshold
        rubric.tie_break = list(cfg.tie_break)
        wanted = [(i, item.name, item.max, list(item.aliases)) for i, item in enumerate(cfg.items)]
        current = [(it.position, it.name, it.max, list(it.aliases)) for it in rubric.items]
        if wanted != current:
            rubric.items.clear()
            session.flush()
            for position, name, maximum, aliases in wanted:
                rubric.items.append(
                    RubricItem(position=position, name=name, max=maximum, aliases=aliases)
                )
    session.flush()
    return existing


def _sync_venues(
    session: Session,
    settings: Settings,
    people: dict[str, Person],
    groups: dict[str, Group],
    rubrics: dict[str, Rubric],
) -> None:
    existing = {v.key: v for v in session.scalars(select(Venue))}
    for old_venue in existing.values():
        old_venue.active = False
    for cfg in settings.venues:
        venue = existing.get(cfg.key)
        if venue is None:
            venue = Venue(key=cfg.key, title=cfg.title, starts_at=cfg.starts_at)
            session.add(venue)
            existing[cfg.key] = venue
        venue.title = cfg.title
        venue.starts_at = cfg.starts_at
        venue.location = cfg.location
        venue.rubric = rubrics[cfg.rubric]
        venue.host = people[cfg.host] if cfg.host else None
        venue.group = groups[cfg.group] if cfg.group else None
        venue.results_to = list(cfg.results_to)
        venue.auto_publish = cfg.auto_publish
        venue.active = True
        wanted_judges = [people[name].id for name in cfg.judges]
        judges_changed = [j.person_id for j in venue.judges] != wanted_judges
        if judges_changed:
            venue.judges.clear()
            session.flush()
            for position, name in enumerate(cfg.judges, start=1):
                venue.judges.append(VenueJudge(person=people[name], position=position))
        session.flush()
        if _sync_contestants(session, venue, cfg.contestants) or judges_changed:
            recount_sheets(session, venue.id)
    session.flush()


def _sync_contestants(session: Session, venue: Venue, names: tuple[str, ...]) -> bool:
    """Bring the venue's contestants to ``names``; whether any of them came or went."""
    current = {c.name: c for c in session.scalars(select(Contestant).filter_by(venue_id=venue.id))}
    before = {name for name, c in current.items() if c.position > 0}
    for old in current.values():
        old.position = 0
    for position, name in enumerate(names, start=1):
        contestant = current.get(name)
        if contestant is None:
            contestant = Contestant(venue_id=venue.id, name=name, position=position)
            session.add(contestant)
        contestant.position = position
    session.flush()
    session.expire(venue, ["contestants"])
    return before != set(names)


def _sync_deadlines(session: Session, settings: Settings, groups: dict[str, Group]) -> None:
    existing = {d.key: d for d in session.scalars(select(Deadline))}
    for old in existing.values():
        old.active = False
    units = {p.unit for p in settings.people if p.unit}
    names = {p.name for p in settings.people}
    for planned in settings.planned_deadlines:
        cfg = planned.config
        deadline = existing.get(planned.key)
        if deadline is None:
            deadline = Deadline(key=planned.key, title=cfg.title, due_at=planned.due)
            session.add(deadline)
            existing[planned.key] = deadline
        deadline.title = cfg.title
        deadline.aliases = list(cfg.aliases)
        deadline.due_at = planned.due
        deadline.series = planned.series
        deadline.period = planned.period
        deadline.opens_at = planned.opens_at
        deadline.fields = [item.model_dump() for item in cfg.fields]
        deadline.group = groups[cfg.group] if cfg.group else None
        deadline.format_note = cfg.format_note
        deadline.remind_before = list(cfg.remind_before)
        deadline.escalate_to = list(cfg.escalate_to)
        deadline.workdays_only = cfg.workdays_only
        deadline.campaign = cfg.campaign
        deadline.active = True
        wanted = [
            ("person" if who in names else "unit", who)
            for who in cfg.submitters
            if who in names or who in units
        ]
        if [(s.kind, s.name) for s in deadline.submitters] != wanted:
            deadline.submitters.clear()
            session.flush()
            for position, (kind, who) in enumerate(wanted, start=1):
                deadline.submitters.append(
                    DeadlineSubmitter(position=position, kind=kind, name=who)
                )
    session.flush()
