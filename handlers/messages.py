"""Platform-neutral message types.

Platform modules (``bot/platforms``) translate between the wire and these values; the
dispatcher and ``handlers`` only ever see these. They are small, frozen and hashable.
``payload_of`` / ``message_of`` turn an ``OutboundMessage`` into the plain mapping the
outbox stores and back.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

Platform = Literal["wecom", "dingtalk"]
Channel = Literal["wecom_app", "wecom_robot", "dingtalk"]
ChatType = Literal["private", "group"]
AttachmentKind = Literal["file", "image", "voice", "video"]


def platform_named(name: str) -> Platform:
    """A stored platform name (a group's ``platform`` column) as a ``Platform``."""
    return "wecom" if name == "wecom" else "dingtalk"


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file or image a user sent. ``ref`` is how the platform lets us fetch it.

    WeCom app: the ``MediaId``; WeCom intelligent robot: the file URL (over the long
    connection followed by ``#aeskey=`` and that url's own key);
    DingTalk: the ``downloadCode``.
    """

    kind: AttachmentKind
    ref: str
    filename: str = ""


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One message a person sent to the bot, as every platform delivers it."""

    platform: Platform
    channel: Channel
    message_id: str
    sender_id: str
    """WeCom userid or DingTalk staffId."""
    text: str
    """The text with any @bot prefix still in place; "" for non-text messages."""
    chat_type: ChatType
    chat_id: str = ""
    """Group conversation id (WeCom robot ``chatid``, DingTalk ``conversationId``)."""
    sent_at: datetime | None = None
    sender_name: str = ""
    attachment: Attachment | None = None
    reply_url: str = ""
    """DingTalk ``sessionWebhook`` or WeCom robot ``response_url``: where a later answer goes."""
    reply_url_expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Mention:
    """Someone to @-mention in a push; each platform uses the id it knows."""

    name: str
    wecom_userid: str = ""
    dingtalk_userid: str = ""
    mobile: str = ""


@dataclass(frozen=True, slots=True)
class Reply:
    """What the bot answers to one inbound message. Plain text, Simplified Chinese."""

    text: str
    mentions: tuple[Mention, ...] = ()


TargetKind = Literal["group", "person", "people", "session"]
"""``people``: several platform user ids joined by ``|``, one API call for all of them
(WeCom ``touser`` takes up to 1,000, DingTalk ``batchSend`` up to 20)."""
PEOPLE_SEPARATOR = "|"


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """A push the bot sends on its own initiative (or a late answer), via the outbox.

    ``target`` is a group key (kind ``group``), a platform user id (kind ``person``) or a
    DingTalk sessionWebhook URL (kind ``session``).
    """

    platform: Platform
    target_kind: TargetKind
    target: str
    text: str
    title: str = ""
    markdown: bool = False
    mentions: tuple[Mention, ...] = field(default=())
    file_path: str = ""
    """A local file to send as an attachment where the platform allows it."""
    image_path: str = ""
    """A local PNG to send as a picture where the platform takes one (the WeCom group
    robot's ``image``); elsewhere the push is skipped, since its text went on its own."""


def payload_of(message: OutboundMessage) -> dict[str, Any]:
    """The JSON-able form the outbox stores."""
    data = asdict(message)
    data["mentions"] = [asdict(m) for m in message.mentions]
    return data


def message_of(payload: dict[str, Any]) -> OutboundMessage:
    """The message back from its stored form."""
    fields = dict(payload)
    fields["mentions"] = tuple(Mention(**m) for m in fields.get("mentions", ()))
    return OutboundMessage(**fields)
