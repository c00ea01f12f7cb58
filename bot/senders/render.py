"""Pure rendering: ``OutboundMessage`` → the JSON body each platform expects.

Golden-tested byte for byte; no I/O here. Mentions are rendered the way each platform
actually notifies people:

- WeCom text: ``mentioned_list`` (userids) and ``mentioned_mobile_list`` (for people we only
  know by mobile); WeCom markdown: a last line of ``<@userid>`` tags.
- DingTalk robots: ``at.atMobiles`` / ``at.atUserIds`` *and* the ``@mobile`` (or ``@userid``)
  in the text itself, which DingTalk requires before it notifies anyone.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable
from typing import Any

from handlers.messages import Mention, OutboundMessage

MSG_UUID_NAMESPACE = uuid.UUID("6f1d3c0e-8b5a-5e57-9d1c-2a0b7c4e9f10")
"""Namespace for ``msgUuid``: uuid5(namespace, dedupe_key) is stable across restarts."""

TITLE_MAX_CHARS = 64


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


# ----------------------------------------------------------------------------- WeCom


def wecom_webhook_body(message: OutboundMessage) -> dict[str, Any]:
    """Body for ``POST /cgi-bin/webhook/send``."""
    if message.markdown:
        return {"msgtype": "markdown", "markdown": {"content": wecom_markdown_content(message)}}
    text: dict[str, Any] = {"content": message.text}
    userids = _unique(m.wecom_userid for m in message.mentions)
    mobiles = _unique(m.mobile for m in message.mentions if not m.wecom_userid)
    if userids:
        text["mentioned_list"] = userids
    if mobiles:
        text["mentioned_mobile_list"] = mobiles
    return {"msgtype": "text", "text": text}


def wecom_markdown_content(message: OutboundMessage) -> str:
    """Markdown text plus one line of ``<@userid>`` tags (people without a WeCom userid
    cannot be mentioned in markdown)."""
    tags = " ".join(f"<@{uid}>" for uid in _unique(m.wecom_userid for m in message.mentions))
    return f"{message.text}\n{tags}" if tags else message.text


def wecom_app_content(message: OutboundMessage) -> dict[str, Any]:
    """The type-specific part of an app message (``msgtype`` + ``text``/``markdown``)."""
    kind = "markdown" if message.markdown else "text"
    return {"msgtype": kind, kind: {"content": message.text}}


# ----------------------------------------------------------------------------- DingTalk


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
    for handle in _unique(m.mobile or m.dingtalk_userid for m in mentions):
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
        "atMobiles": _unique(m.mobile for m in message.mentions),
        "atUserIds": _unique(m.dingtalk_userid for m in message.mentions),
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
