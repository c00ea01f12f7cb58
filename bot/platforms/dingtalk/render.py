"""Pure rendering: ``OutboundMessage`` → the JSON body DingTalk's robots expect.

Golden-tested byte for byte; no I/O here. DingTalk only notifies the people a robot message
mentions in ``at.atMobiles`` / ``at.atUserIds`` *and* by ``@mobile`` (or ``@userid``) in the
text itself, so both are rendered.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable
from typing import Any

from bot.senders.base import unique
from handlers.messages import Mention, OutboundMessage

MSG_UUID_NAMESPACE = uuid.UUID("6f1d3c0e-8b5a-5e57-9d1c-2a0b7c4e9f10")
"""Namespace for ``msgUuid``: uuid5(namespace, dedupe_key) is stable across restarts."""

TITLE_MAX_CHARS = 64


def msg_uuid(dedupe_key: str) -> str:
    """DingTalk ``msgUuid``: the same for every attempt of one outbox row."""
    return str(uuid.uuid5(MSG_UUID_NAMESPACE, dedupe_key))


def markdown_title(message: OutboundMessage) -> str:
    """``message.title``, else the first non-blank line without its ``#`` heading marks."""
    if message.title:
        return message.title
    for line in message.text.splitlines():
        cleaned = line.strip().lstrip("#").strip()
        if cleaned:
            return cleaned[:TITLE_MAX_CHARS]
    return "通知"


def dingtalk_text_with_ats(text: str, mentions: Iterable[Mention]) -> str:
    """Append `` @mobile`` (or `` @userid`` for people without a mobile) for everyone the
    text does not already @-mention."""
    suffix = ""
    for handle in unique(m.mobile or m.dingtalk_userid for m in mentions):
        if not _mentioned(text + suffix, handle):
            suffix += f" @{handle}"
    return text + suffix


def _mentioned(text: str, handle: str) -> bool:
    # Exact: "@1380000000" is not present inside "@13800000001", and DingTalk only notifies
    # a person whose own @mobile is in the text.
    return re.search(f"@{re.escape(handle)}(?![0-9A-Za-z_-])", text) is not None


def dingtalk_robot_body(message: OutboundMessage, *, dedupe_key: str) -> dict[str, Any]:
    """Body for a custom robot ``/robot/send`` or a ``sessionWebhook``."""
    text = dingtalk_text_with_ats(message.text, message.mentions)
    at = {
        "atMobiles": unique(m.mobile for m in message.mentions),
        "atUserIds": unique(m.dingtalk_userid for m in message.mentions),
        "isAtAll": False,
    }
    body: dict[str, Any]
    if message.markdown:
        body = {"msgtype": "markdown", "markdown": {"title": markdown_title(message), "text": text}}
    else:
        body = {"msgtype": "text", "text": {"content": text}}
    body["at"] = at
    body["msgUuid"] = msg_uuid(dedupe_key)
    return body


def dingtalk_app_message(message: OutboundMessage) -> dict[str, str]:
    """``msgKey`` and ``msgParam`` (a JSON *string*) for the app robot OpenAPI."""
    if message.markdown:
        key, param = "sampleMarkdown", {"title": markdown_title(message), "text": message.text}
    else:
        key, param = "sampleText", {"content": message.text}
    return {"msgKey": key, "msgParam": json.dumps(param, ensure_ascii=False)}
