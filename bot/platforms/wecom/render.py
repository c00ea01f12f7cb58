"""Pure rendering: ``OutboundMessage`` → the JSON body WeCom's senders post.

Golden-tested byte for byte; no I/O here. Mentions are rendered the way WeCom notifies
people: in text, ``mentioned_list`` (userids) and ``mentioned_mobile_list`` (for people we
only know by mobile); in markdown, a last line of ``<@userid>`` tags.
"""

from __future__ import annotations

from typing import Any

from bot.senders.base import unique
from handlers.messages import OutboundMessage


def wecom_webhook_body(message: OutboundMessage) -> dict[str, Any]:
    """Body for ``POST /cgi-bin/webhook/send``."""
    if message.markdown:
        return {"msgtype": "markdown", "markdown": {"content": wecom_markdown_content(message)}}
    text: dict[str, Any] = {"content": message.text}
    userids = unique(m.wecom_userid for m in message.mentions)
    mobiles = unique(m.mobile for m in message.mentions if not m.wecom_userid)
    if userids:
        text["mentioned_list"] = userids
    if mobiles:
        text["mentioned_mobile_list"] = mobiles
    return {"msgtype": "text", "text": text}


def wecom_markdown_content(message: OutboundMessage) -> str:
    """Markdown text plus one line of ``<@userid>`` tags (people without a WeCom userid
    cannot be mentioned in markdown)."""
    tags = " ".join(f"<@{uid}>" for uid in unique(m.wecom_userid for m in message.mentions))
    return f"{message.text}\n{tags}" if tags else message.text


def wecom_app_content(message: OutboundMessage) -> dict[str, Any]:
    """The type-specific part of an app message (``msgtype`` + ``text``/``markdown``)."""
    kind = "markdown" if message.markdown else "text"
    return {"msgtype": kind, kind: {"content": message.text}}
