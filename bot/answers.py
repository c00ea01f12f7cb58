"""What the dispatcher stores and answers besides a handler's reply: a reply cut to what
the inbound log can keep, the answer to a stranger, and DingTalk's answer as a push."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from handlers.messages import InboundMessage, OutboundMessage, Reply
from handlers.pushes import enqueue
from storage.people import people_with_role

# The log keeps the answer in a TEXT column (65,535 bytes on MySQL/MariaDB). An answer
# echoing thousands of refused lines would not fit: the message would fail at every retry.
MAX_REPLY_BYTES = 60_000
TRUNCATED = "\n…（回复过长，已截断）"


def fit_reply(reply: Reply) -> Reply:
    """``reply`` cut to ``MAX_REPLY_BYTES`` of UTF-8, saying that it was cut."""
    data = reply.text.encode("utf-8")
    if len(data) <= MAX_REPLY_BYTES:
        return reply
    head = data[:MAX_REPLY_BYTES].decode("utf-8", "ignore")
    return Reply(head + TRUNCATED, reply.mentions)


def stranger_reply(session: Session, message: InboundMessage) -> Reply:
    """The answer to someone not on the campaign's list: whom to ask to be added."""
    organizers = "、".join(p.name for p in people_with_role(session, "organizer")) or "活动组织者"
    platform = "企业微信" if message.platform == "wecom" else "钉钉"
    return Reply(
        f"您好，您的{platform}账号（{message.sender_id}）不在本次活动名单中，暂时无法使用。"
        f"请联系{organizers}把您加入名单。"
    )


def queue_session_reply(
    session: Session,
    message: InboundMessage,
    reply: Reply,
    inbound_id: int,
    now: datetime,
    *,
    more: str = "",
) -> None:
    """DingTalk answers through the sessionWebhook: a push, durable with the message.
    ``more`` names a further answer to the same message: its own dedupe key,
    ``reply:dingtalk:<more>:<message id>``."""
    enqueue(
        session,
        OutboundMessage(
            platform="dingtalk",
            target_kind="session",
            target=message.reply_url,
            text=reply.text,
            mentions=reply.mentions,
        ),
        dedupe_key=f"reply:dingtalk:{more + ':' if more else ''}{message.message_id}"[:191],
        due_at=now,
        now=now,
        reason=f"reply:{inbound_id}",
        expires_at=message.reply_url_expires_at,
    )
