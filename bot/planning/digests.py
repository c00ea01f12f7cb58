"""Digests (周汇报、月小结、季通报): one summary per cron period to each of its groups.

Dedupe key and reason ``digest:<key>:<period>:<group>`` (``:p2``... for further parts), so a
second firing of the same period adds nothing.
"""

from __future__ import annotations

import re
from datetime import datetime, tzinfo

from sqlalchemy.orm import Session

from bot.config import Settings
from bot.planning.parts import enqueue_parts, group_limit
from handlers.deadlines import VenueProgress, render_digest
from handlers.standings import venue_table
from handlers.submissions import deadline_states
from handlers.venues import venue_name
from storage.models import Deadline, Venue
from storage.people import active_venues, group_by_key, venue_by_key
from storage.submissions import active_deadlines, active_people, deadline_by_key


def _single(field: str) -> bool:
    return field.isdigit()


def _quarterly(month: str) -> bool:
    if month in ("*/3", "1/3", "1-12/3"):
        return True
    values = month.split(",")
    if len(values) != 4 or not all(v.isdigit() for v in values):
        return False
    return {(int(v) - 1) // 3 for v in values} == {0, 1, 2, 3}


def digest_period(cron: str, fired_at: datetime, tz: tzinfo) -> str:
    """The period one firing of ``cron`` reports on, in ``tz``.

    ``2026-W47`` for a weekly cron (one weekday), ``2026-11`` for a monthly one (one day of
    the month), ``2026-Q4`` for a quarterly one, ``2026`` for a yearly one; anything that
    fires more often than that is identified by its local fire time to the minute.
    """
    local = fired_at.astimezone(tz)
    fields = cron.split()
    if len(fields) == 5 and _single(fields[0]) and _single(fields[1]):
        _minute, _hour, dom, month, dow = fields
        if dom == "*" and month == "*" and re.fullmatch(r"[0-7]|[A-Za-z]{3}", dow):
            year, week, _day = local.isocalendar()
            return f"{year}-W{week:02d}"
        if _single(dom) and dow == "*":
            if month == "*":
                return f"{local.year}-{local.month:02d}"
            if _quarterly(month):
                return f"{local.year}-Q{(local.month - 1) // 3 + 1}"
            if _single(month):
                return f"{local.year}"
    return local.strftime("%Y-%m-%dT%H:%M")


def _venue_progress(session: Session, venue: Venue) -> VenueProgress:
    table = venue_table(session, venue)
    state = table.state_text(venue.locked)
    return VenueProgress(venue_name(venue), table.scored, table.expected, state)


def enqueue_digest(
    session: Session, settings: Settings, digest_key: str, fired_at: datetime, now: datetime
) -> int:
    """Render the digest ``digest_key`` once per period and queue it to each ``to`` group.

    A digest that names neither deadlines nor venues covers every active one of both.
    """
    cfg = next((d for d in settings.digests if d.key == digest_key), None)
    if cfg is None:
        raise KeyError(f"no digest '{digest_key}' in the config")
    period = digest_period(cfg.cron, fired_at, settings.tz)
    everything = not cfg.deadlines and not cfg.venues
    deadlines: list[Deadline | None] = (
        list(active_deadlines(session))
        if everything
        else [deadline_by_key(session, k) for k in cfg.deadlines]
    )
    venues: list[Venue | None] = (
        list(active_venues(session))
        if everything
        else [venue_by_key(session, k) for k in cfg.venues]
    )
    people = active_people(session)
    sections = [
        (d, deadline_states(session, d, people)) for d in deadlines if d is not None and d.active
    ]
    progress = [_venue_progress(session, v) for v in venues if v is not None and v.active]
    added = 0
    for key in cfg.to:
        group = group_by_key(session, key)
        if group is None or not group.active:
            continue
        title = f"{cfg.title}（{period}）"
        limit = group_limit(group.platform, True)
        parts = render_digest(title, sections, progress, now=now, tz=settings.tz, limit=limit)
        added += enqueue_parts(
            session,
            group,
            parts,
            f"digest:{cfg.key}:{period}:{group.key}",
            title=cfg.title,
            markdown=True,
            due_at=now,
            now=now,
        )
    return added
