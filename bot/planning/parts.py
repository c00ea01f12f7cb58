"""Queueing a possibly split push to a group, with one dedupe key per part."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from bot.senders.limits import max_text_bytes
from handlers.messages import OutboundMessage, Platform, platform_named
from handlers.pushes import enqueue
from handlers.text import Part
from storage.models import Group
from storage.outbox_intent import Intent


def group_platform(group: Group) -> Platform:
    """The platform a stored group is on."""
    return platform_named(group.platform)


def group_limit(platform: str, markdown: bool) -> int:
    """The byte budget of one group push on ``platform``."""
    return max_text_bytes(platform, markdown, target_kind="group")


def enqueue_parts(
    session: Session,
    group: Group,
    parts: list[Part],
    base: str,
    *,
    title: str,
    markdown: bool,
    intent: Intent,
    due_at: datetime,
    now: datetime,
    expires_at: datetime | None = None,
) -> int:
    """Queue ``parts`` to ``group``: part 1 under ``base``, then ``base:p2``, ``base:p3``...

    The reason of each row is its dedupe key; its intent is ``intent`` with the part's
    number. Returns how many rows were added.
    """
    added = 0
    for number, part in enumerate(parts, start=1):
        key = base if number == 1 else f"{base}:p{number}"
        message = OutboundMessage(
            platform=group_platform(group),
            target_kind="group",
            target=group.key,
            text=part.text,
            title=title,
            markdown=markdown,
            mentions=part.mentions,
        )
        added += enqueue(
            session,
            message,
            dedupe_key=key,
            due_at=due_at,
            now=now,
            reason=key,
            intent=intent.numbered(number),
            expires_at=expires_at,
        )
    return added
