"""DingTalk (钉钉) enterprise internal app robot, HTTP mode: inbound JSON and session replies.

Pure translators; no I/O. The HTTP callback (``bot.platforms.dingtalk.callback``) checks
the ``timestamp`` / ``sign`` headers with ``bot.platforms.dingtalk.sign`` before calling
``parse_message``; another transport can call it directly with the same JSON.
Anything we cannot read becomes ``MalformedRequest`` (400); no other exception escapes,
whatever the body holds.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from bot.errors import MalformedRequest
from bot.platforms.fields import epoch_number, object_field, text_field, valid_unicode
from handlers.messages import Attachment, AttachmentKind, ChatType, InboundMessage

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# msgtype → attachment kind for the types whose ``content`` holds a ``downloadCode``.
_MEDIA: dict[str, AttachmentKind] = {
    "picture": "image",
    "file": "file",
    "audio": "voice",
    "video": "video",
}


def parse_message(body: bytes) -> InboundMessage:
    """The robot callback body as an ``InboundMessage``.

    Text keeps DingTalk's leading space in groups (the command parser strips it). Audio
    carries DingTalk's transcription as text; ``richText`` joins its text items with
    newlines and attaches its first picture. Unknown types come back with empty text.
    """
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        # ValueError covers bad JSON, bad UTF-8 and over-long integers.
        raise MalformedRequest("dingtalk: body is not JSON") from exc
    if not isinstance(data, dict):
        raise MalformedRequest("dingtalk: body is not a JSON object")

    message_id = _str(data, "msgId")
    sender_id = _str(data, "senderStaffId")
    msg_type = _str(data, "msgtype")

    chat_type: ChatType
    chat_id = ""
    conversation_type = data.get("conversationType")
    if conversation_type == "1":
        chat_type = "private"
    elif conversation_type == "2":
        chat_type = "group"
        chat_id = _str(data, "conversationId")
    else:
        raise MalformedRequest("dingtalk: conversationType is neither 1 nor 2")

    text = ""
    attachment: Attachment | None = None
    if msg_type == "text":
        text = _str(_obj(data, "text"), "content", allow_empty=True)
    elif msg_type == "richText":
        text, attachment = _rich_text(_obj(data, "content"))
    elif msg_type in _MEDIA:
        content = _obj(data, "content")
        attachment = Attachment(
            kind=_MEDIA[msg_type],
            ref=_str(content, "downloadCode"),
            filename=_optional_str(content, "fileName"),
        )
        if msg_type == "audio":
            text = _optional_str(content, "recognition")

    return InboundMessage(
        platform="dingtalk",
        channel="dingtalk",
        message_id=message_id,
        sender_id=sender_id,
        text=text,
        chat_type=chat_type,
        chat_id=chat_id,
        sent_at=_optional_ms(data, "createAt"),
        sender_name=_optional_str(data, "senderNick"),
        attachment=attachment,
        reply_url=_optional_str(data, "sessionWebhook"),
        reply_url_expires_at=_optional_ms(data, "sessionWebhookExpiredTime"),
    )


# --- helpers ----------------------------------------------------------------------------


def _str(obj: dict[str, object], key: str, *, allow_empty: bool = False) -> str:
    return text_field(obj, key, where="dingtalk: ", allow_empty=allow_empty)


def _optional_str(obj: dict[str, object], key: str) -> str:
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise MalformedRequest(f"dingtalk: {key} is not a string")
    return valid_unicode(value, f"dingtalk: {key}")


def _obj(obj: dict[str, object], key: str) -> dict[str, object]:
    return object_field(obj, key, where="dingtalk: ")


def _optional_ms(obj: dict[str, object], key: str) -> datetime | None:
    """A millisecond epoch field; DingTalk documents some as String but sends numbers."""
    value = obj.get(key)
    if value is None:
        return None
    millis: int | None = None
    if isinstance(value, str):
        millis = epoch_number(value)
    elif isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**15:
        millis = value
    if millis is None:
        raise MalformedRequest(f"dingtalk: {key} is not a millisecond timestamp")
    try:
        return _EPOCH + timedelta(milliseconds=millis)
    except OverflowError as exc:
        raise MalformedRequest(f"dingtalk: {key} is out of range") from exc


def _rich_text(content: dict[str, object]) -> tuple[str, Attachment | None]:
    items = content.get("richText")
    if not isinstance(items, list):
        raise MalformedRequest("dingtalk: content.richText is not a list")
    texts: list[str] = []
    attachment: Attachment | None = None
    for item in items:
        if not isinstance(item, dict):
            raise MalformedRequest("dingtalk: content.richText holds a non-object")
        if "text" in item:
            texts.append(_str(item, "text", allow_empty=True))
        elif "downloadCode" in item and attachment is None:
            # Only pictures can be embedded in rich text today; the type is informative.
            attachment = Attachment(kind="image", ref=_str(item, "downloadCode"))
    return "\n".join(texts), attachment
