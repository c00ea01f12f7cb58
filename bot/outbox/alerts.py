"""Telling the organizers' group that something needs them: a push failed for good, the
config file turned invalid."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from bot.errors import PermanentDelivery
from handlers.messages import OutboundMessage, platform_named
from handlers.pushes import enqueue
from storage.outbox import organizer_groups


def alert_organizers(
    session: Session,
    failed: OutboundMessage,
    rate_key: str,
    exc: PermanentDelivery,
    now: datetime,
) -> None:
    """Tell the organizers' group once per robot and error (never about itself)."""
    skip = failed.target if failed.target_kind == "group" else ""
    tell_organizer_groups(
        session,
        f"【edubot 告警】推送失败且不会重试：{_recipient(failed)}"
        f"（{exc.code or '错误'}：{exc}）。请检查该群机器人的配置。",
        dedupe_key=f"alert:{rate_key}:{exc.code}",
        now=now,
        skip=skip,
    )


def _recipient(failed: OutboundMessage) -> str:
    """Who the push was for, as the organizers know them. Never a session's URL: it lets
    whoever reads it post to that group (until it expires)."""
    if failed.target_kind == "session":
        return "群里的一条回复（会话地址不显示）"
    if failed.target_kind == "group":
        return f"群 {failed.target}"
    return f"{failed.target} 的私聊"


def tell_organizer_groups(
    session: Session, text: str, *, dedupe_key: str, now: datetime, skip: str = ""
) -> None:
    """An alert to every organizers' group but ``skip``, once per ``dedupe_key`` and group.

    Each group's push has its own key: with one shared key only the first group's was added.
    The group goes first so that cutting a long key to the column's 191 characters keeps it."""
    for group in organizer_groups(session):
        if group.key == skip:
            continue
        enqueue(
            session,
            OutboundMessage(
                platform=platform_named(group.platform),
                target_kind="group",
                target=group.key,
                text=text,
                title="edubot 告警",
            ),
            dedupe_key=f"to:{group.key}:{dedupe_key}"[:191],
            due_at=now,
            now=now,
            reason="alert",
        )
