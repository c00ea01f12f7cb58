"""Digests (周汇报、月小结、季通报): one summary per cron period to each of its groups.

Dedupe key and reason ``digest:<key>:<period>:<group>`` (``:p2``... for further parts), so a
second firing of the same period adds nothing.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta, tzinfo

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy.orm import Session

from bot.config import Settings
from bot.config.recurring import campaign_phases
from bot.planning.parts import enqueue_parts, group_limit
from handlers.deadlines import VenueProgress, render_digest
from handlers.phases import campaign_over, phase_at, phase_text, same_phase
from handlers.standings import venue_table
from handlers.submissions import deadline_states
from handlers.venues import venue_name
from storage.models import Deadline, Venue
from storage.outbox_intent import DIGEST, Intent
from storage.people import active_venues, group_by_key, venue_by_key
from storage.submissions import active_people, current_deadlines, deadline_by_key

log = logging.getLogger("edubot.planning")


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
    phases = campaign_phases(settings)
    if cfg.campaign and campaign_over(phases, cfg.campaign, fired_at):
        log.info("digest %s: campaign %s has ended, not sent", cfg.key, cfg.campaign)
        return 0
    running = phase_at(phases, fired_at, cfg.campaign) if cfg.campaign else None
    if cfg.phase and (running is None or not same_phase(running.name, cfg.phase)):
        return 0
    period = digest_period(cfg.cron, fired_at, settings.tz)
    everything = not cfg.deadlines and not cfg.venues
    deadlines: list[Deadline | None] = (
        list(current_deadlines(session, fired_at))
        if everything
        else [_named_deadline(session, k, fired_at) for k in cfg.deadlines]
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
        if running is not None:
            title += f"\n{running.title}：{phase_text(running, fired_at, settings.tz)}"
        limit = group_limit(group.platform, True)
        parts = render_digest(title, sections, progress, now=now, tz=settings.tz, limit=limit)
        added += enqueue_parts(
            session,
            group,
            parts,
            f"digest:{cfg.key}:{period}:{group.key}",
            title=cfg.title,
            markdown=True,
            intent=Intent(DIGEST, cfg.key),
            due_at=now,
            now=now,
        )
    return added


def _named_deadline(session: Session, key: str, now: datetime) -> Deadline | None:
    """A digest's deadline by key: a one-off, or the running period of a repeating one."""
    found = deadline_by_key(session, key)
    if found is not None:
        return found
    periods = [d for d in current_deadlines(session, now) if d.series == key]
    return periods[0] if periods else None


LOOK_BACK = timedelta(days=8)
"""How far back a restart looks for a digest firing it missed (a weekly one, and a day)."""


def last_firing(cron: str, tz: tzinfo, now: datetime) -> datetime | None:
    """The latest time ``cron`` fired at or before ``now`` within ``LOOK_BACK``."""
    trigger = CronTrigger.from_crontab(cron, timezone=tz)
    fired: datetime | None = None
    at: datetime | None = trigger.get_next_fire_time(None, now - LOOK_BACK)
    while at is not None and at <= now:
        fired = at
        at = trigger.get_next_fire_time(at, at + timedelta(seconds=1))
    return fired


def catch_up_digests(session: Session, settings: Settings, now: datetime, grace: timedelta) -> int:
    """Queue each digest's latest firing missed while the service was down (once: the
    period's dedupe key holds it), if within ``grace``; log it as dropped if older, since a
    summary that late would mislead. Earlier missed firings are superseded by the latest.
    Returns how many pushes were queued."""
    added = 0
    for digest in settings.digests:
        fired = last_firing(digest.cron, settings.tz, now)
        if fired is None:
            continue
        if now - fired > grace:
            log.info(
                "digest %s fell due %s, %s before this start (past the grace of %s): not sent",
                digest.key,
                fired.isoformat(),
                now - fired,
                grace,
            )
            continue
        queued = enqueue_digest(session, settings, digest.key, fired, now)
        if queued:
            log.info("digest %s fell due %s while down: queued now", digest.key, fired.isoformat())
        added += queued
    return added
