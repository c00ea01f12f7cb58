"""Queueing a push: an ``OutboundMessage`` into the outbox, in the caller's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from handlers.messages import OutboundMessage, Platform, payload_of
from storage.models import Person
from storage.outbox import add_push
from storage.outbox_intent import Intent

if TYPE_CHECKING:
    from handlers.context import Context


def enqueue(
    session: Session,
    message: OutboundMessage,
    *,
    dedupe_key: str,
    due_at: datetime,
    now: datetime,
    reason: str = "",
    intent: Intent | None = None,
    expires_at: datetime | None = None,
) -> bool:
    """Add a push unless one with ``dedupe_key`` exists. True when a row was added.
    ``intent`` is what the outbox checks right before sending (``storage.outbox_intent``).

    The session remembers that it queued a push (``queued_pushes``), so that whoever
    commits it can wake the outbox at once instead of waiting for its next poll.
    """
    added = add_push(
        session,
        platform=message.platform,
        target_kind=message.target_kind,
        target=message.target,
        payload=payload_of(message),
        dedupe_key=dedupe_key,
        due_at=due_at,
        now=now,
        reason=reason,
        intent=intent,
        expires_at=expires_at,
    )
    if added:
        session.info[_QUEUED] = True
    return added


_QUEUED = "edubot.queued_pushes"


def queued_pushes(session: Session) -> bool:
    """Whether a push was queued in ``session`` (it may since have been rolled back)."""
    return bool(session.info.get(_QUEUED, False))


def person_target(person: Person) -> tuple[Platform, str] | None:
    """Where a private message to ``person`` goes: WeCom when they have a WeCom id, else
    DingTalk; None without either."""
    if person.wecom_userid:
        return "wecom", person.wecom_userid
    if person.dingtalk_userid:
        return "dingtalk", person.dingtalk_userid
    return None


def push_to_person(ctx: Context, person_id: int, text: str, *, key: str) -> bool:
    """Queue a private message to a configured person, on WeCom when they have a WeCom id,
    else on DingTalk. ``key`` names the cause; the inbound message makes it unique. False
    when the person has no platform id."""
    person = ctx.session.get(Person, person_id)
    target = person_target(person) if person is not None else None
    if target is None:
        return False
    platform, user_id = target
    return enqueue(
        ctx.session,
        OutboundMessage(platform=platform, target_kind="person", target=user_id, text=text),
        dedupe_key=f"{key}:{ctx.message.platform}:{ctx.message.message_id}",
        due_at=ctx.now,
        now=ctx.now,
        reason=key.split(":", 1)[0],
    )


def push_to_asker(
    ctx: Context, text: str, *, dedupe_key: str, reason: str, title: str = ""
) -> bool:
    """Queue ``text`` to the sender of the message being handled, in their private chat on
    the platform they wrote from: what a group must not see (a ranking before 公布, a link)."""
    return enqueue(
        ctx.session,
        OutboundMessage(
            platform=ctx.message.platform,
            target_kind="person",
            target=ctx.message.sender_id,
            text=text,
            title=title,
        ),
        dedupe_key=dedupe_key,
        due_at=ctx.now,
        now=ctx.now,
        reason=reason,
    )
