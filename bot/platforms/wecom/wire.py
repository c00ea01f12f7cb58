"""WeCom (企业微信) wire format: self-built app XML and intelligent robot JSON.

Pure translators between the bytes WeCom sends and ``handlers.messages``; no I/O, no storage.
The HTTP callbacks (``bot.platforms.wecom.callback``) call ``WeComCrypto.open`` on the
``Encrypt`` value they get from ``parse_app_envelope`` / ``parse_robot_envelope``, then hand
the plaintext to ``parse_app_message`` / ``parse_robot_message``; another transport can call
the message parsers directly. Whatever the parsers cannot read becomes ``MalformedRequest``
(400); nothing else escapes them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as safe_xml

from bot.errors import MalformedRequest
from bot.platforms.fields import MAX_EPOCH_DIGITS, epoch_number, object_field, text_field
from bot.platforms.wecom.crypto import WeComCrypto
from handlers.messages import Attachment, AttachmentKind, ChatType, InboundMessage, Reply

# Characters XML 1.0 forbids even inside CDATA; WeCom's parser would reject the whole reply.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

# App message types that carry a MediaId, and the robot types that carry a url.
_APP_MEDIA: dict[str, AttachmentKind] = {
    "image": "image",
    "voice": "voice",
    "video": "video",
    "file": "file",
}
_ROBOT_MEDIA: dict[str, AttachmentKind] = {"image": "image", "file": "file"}


LINK_KEY = "#aeskey="
"""Joins a robot file url and the ``aeskey`` the long connection gives with it."""


def verify_url(
    crypto: WeComCrypto,
    query: Mapping[str, str],
    *,
    now: datetime,
    tolerance: timedelta | None,
) -> str:
    """Answer WeCom's GET URL check: the decrypted ``echostr``, to be sent as the whole body.

    ``query`` must already be URL-decoded. Missing parameters raise ``MalformedRequest``;
    a bad signature, stale timestamp or foreign receive id raises ``Forbidden``.
    """
    try:
        msg_signature = query["msg_signature"]
        timestamp = query["timestamp"]
        nonce = query["nonce"]
        echostr = query["echostr"]
    except KeyError as exc:
        raise MalformedRequest(f"wecom: query parameter {exc.args[0]} is missing") from exc
    return crypto.open(msg_signature, timestamp, nonce, echostr, now=now, tolerance=tolerance)


# --- self-built app (XML) ---------------------------------------------------------------


def parse_app_envelope(body: bytes) -> str:
    """The ``Encrypt`` value of an app callback body.

    The body is ``<xml><ToUserName/><AgentID/><Encrypt/></xml>``.
    """
    root = _parse_xml(body, "body")
    return _child_text(root, "Encrypt", "body", strip=True)


def parse_app_message(plaintext_xml: str) -> InboundMessage | None:
    """The decrypted app message, or ``None`` for an event (the callback answers empty 200).

    Text keeps its content untouched; image, voice, video and file carry their ``MediaId``
    as the attachment ref. Other message types (location, link) arrive with empty text.
    """
    root = _parse_xml(plaintext_xml, "message")
    msg_type = _child_text(root, "MsgType", "message", strip=True)
    if msg_type == "event":
        # Events (enter_agent, menu clicks, ...) carry no command; nothing to record.
        return None
    sender = _child_text(root, "FromUserName", "message", strip=True)
    create_time = _child_text(root, "CreateTime", "message", strip=True)
    sent_at = _from_epoch_seconds(create_time)
    # Retries are de-duplicated on this id; without a MsgId, fall back to the key WeCom
    # documents for events (FromUserName + CreateTime).
    message_id = _child_text(root, "MsgId", "message", strip=True, required=False)
    if not message_id:
        message_id = f"{sender}:{create_time}"

    text = ""
    attachment: Attachment | None = None
    if msg_type == "text":
        text = _child_text(root, "Content", "message", allow_empty=True)
    elif msg_type in _APP_MEDIA:
        kind = _APP_MEDIA[msg_type]
        media_id = _child_text(root, "MediaId", "message", strip=True)
        filename = _child_text(root, "FileName", "message", required=False)
        attachment = Attachment(kind=kind, ref=media_id, filename=filename)
        if msg_type == "voice":
            # A transcription, when WeCom sends one; the audio itself stays fetchable.
            text = _child_text(root, "Recognition", "message", required=False, allow_empty=True)
    return InboundMessage(
        platform="wecom",
        channel="wecom_app",
        message_id=message_id,
        sender_id=sender,
        text=text,
        chat_type="private",
        sent_at=sent_at,
        attachment=attachment,
    )


def render_app_reply(
    crypto: WeComCrypto,
    reply: Reply,
    *,
    to_user: str,
    from_user: str,
    timestamp: str,
    nonce: str = "",
) -> bytes:
    """The encrypted passive reply to an app callback, as the HTTP response body.

    ``to_user`` is the sender's userid (the inbound ``FromUserName``), ``from_user`` the
    corp id (the inbound ``ToUserName``). An empty ``nonce`` gets a random one.
    """
    _check_timestamp(timestamp)
    plaintext = (
        "<xml>"
        f"<ToUserName>{_cdata(to_user)}</ToUserName>"
        f"<FromUserName>{_cdata(from_user)}</FromUserName>"
        f"<CreateTime>{timestamp}</CreateTime>"
        "<MsgType><![CDATA[text]]></MsgType>"
        f"<Content>{_cdata(reply.text)}</Content>"
        "</xml>"
    )
    encrypt, signature, used_nonce = crypto.seal(plaintext, nonce=nonce, timestamp=timestamp)
    envelope = (
        "<xml>"
        f"<Encrypt>{_cdata(encrypt)}</Encrypt>"
        f"<MsgSignature>{_cdata(signature)}</MsgSignature>"
        f"<TimeStamp>{timestamp}</TimeStamp>"
        f"<Nonce>{_cdata(used_nonce)}</Nonce>"
        "</xml>"
    )
    return envelope.encode("utf-8")


# --- intelligent robot (JSON) -----------------------------------------------------------


def parse_robot_envelope(body: bytes) -> str:
    """The ``encrypt`` value of an intelligent robot callback body ``{"encrypt": "..."}``."""
    data = _load_json_object(body, "body")
    encrypt = data.get("encrypt")
    if not isinstance(encrypt, str) or not encrypt.strip():
        raise MalformedRequest("wecom: body has no encrypt string")
    return encrypt.strip()


def parse_robot_message(plaintext_json: str) -> InboundMessage:
    """The decrypted robot callback. Group text keeps its leading ``@机器人名 ``.

    ``mixed`` joins its text items with newlines and attaches the first image or file.
    Types we do not understand (events, stream refreshes, ...) come back with empty text
    so the caller can still de-duplicate on ``msgid``.
    """
    data = _load_json_object(plaintext_json, "message")
    message_id = _str_field(data, "msgid", "message")
    sender_obj = data.get("from")
    if not isinstance(sender_obj, dict):
        raise MalformedRequest("wecom: message has no from object")
    sender = _str_field(sender_obj, "userid", "message.from")

    chat_type: ChatType
    chat_id = ""
    raw_chat_type = data.get("chattype", "single")
    if raw_chat_type == "group":
        chat_type = "group"
        chat_id = _str_field(data, "chatid", "message")
    elif raw_chat_type == "single":
        # Events such as enter_chat carry no chattype; they only happen in single chats.
        chat_type = "private"
    else:
        raise MalformedRequest("wecom: message chattype is neither single nor group")

    reply_url = ""
    if "response_url" in data:
        reply_url = _str_field(data, "response_url", "message", allow_empty=True)
    # Only events carry create_time; messages are timestamped by the HTTP layer's clock.
    create_time = data.get("create_time")
    sent_at = _from_epoch_seconds(create_time) if create_time is not None else None

    msg_type = data.get("msgtype")
    text = ""
    attachment: Attachment | None = None
    if msg_type == "text":
        text = _str_field(_obj_field(data, "text"), "content", "message.text", allow_empty=True)
    elif msg_type == "voice":
        # WeCom transcribes voice for robots; there is no audio to fetch.
        text = _str_field(_obj_field(data, "voice"), "content", "message.voice", allow_empty=True)
    elif isinstance(msg_type, str) and msg_type in _ROBOT_MEDIA:
        attachment = _robot_attachment(data, _ROBOT_MEDIA[msg_type])
    elif msg_type == "mixed":
        text, attachment = _robot_mixed(_obj_field(data, "mixed"))
    return InboundMessage(
        platform="wecom",
        channel="wecom_robot",
        message_id=message_id,
        sender_id=sender,
        text=text,
        chat_type=chat_type,
        chat_id=chat_id,
        sent_at=sent_at,
        attachment=attachment,
        reply_url=reply_url,
    )


def render_robot_reply(
    crypto: WeComCrypto,
    reply: Reply,
    *,
    stream_id: str,
    timestamp: str,
    nonce: str = "",
) -> bytes:
    """The encrypted passive reply to a robot callback: one finished stream message."""
    _check_timestamp(timestamp)
    plaintext = json.dumps(
        {"msgtype": "stream", "stream": {"id": stream_id, "finish": True, "content": reply.text}},
        ensure_ascii=False,
    )
    encrypt, signature, used_nonce = crypto.seal(plaintext, nonce=nonce, timestamp=timestamp)
    # WeCom's own JSON sample sends the timestamp as a string; mirror it.
    envelope = {
        "encrypt": encrypt,
        "msgsignature": signature,
        "timestamp": timestamp,
        "nonce": used_nonce,
    }
    return json.dumps(envelope, ensure_ascii=False).encode("utf-8")


# --- helpers ----------------------------------------------------------------------------


def _parse_xml(data: bytes | str, what: str) -> Element:
    try:
        # forbid_dtd: WeCom never sends a DTD, so any DOCTYPE is an attack or garbage.
        root: Element = safe_xml.fromstring(data, forbid_dtd=True)
    except (ParseError, ValueError, LookupError) as exc:
        # ValueError covers defusedxml's refusals and unencodable text; LookupError an
        # unknown encoding in the XML declaration.
        raise MalformedRequest(f"wecom: {what} is not acceptable XML") from exc
    if root.tag != "xml":
        raise MalformedRequest(f"wecom: {what} root element is not <xml>")
    return root


def _child_text(
    root: Element,
    tag: str,
    what: str,
    *,
    strip: bool = False,
    required: bool = True,
    allow_empty: bool = False,
) -> str:
    element = root.find(tag)
    if element is None:
        if required:
            raise MalformedRequest(f"wecom: {what} has no {tag}")
        return ""
    value = element.text or ""
    if strip:
        value = value.strip()
    if required and not value and not allow_empty:
        raise MalformedRequest(f"wecom: {what} has an empty {tag}")
    return value


def _from_epoch_seconds(raw: object) -> datetime:
    if isinstance(raw, bool):
        raise MalformedRequest("wecom: timestamp is not a number")
    if isinstance(raw, str):
        parsed = epoch_number(raw)
    elif isinstance(raw, int) and 0 <= raw < 10**MAX_EPOCH_DIGITS:
        parsed = raw
    else:
        parsed = None
    if parsed is None:
        raise MalformedRequest("wecom: timestamp is not a number of seconds")
    seconds = parsed
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise MalformedRequest("wecom: timestamp is out of range") from exc


def _cdata(value: str) -> str:
    # "]]>" would end the section early: close it after "]]" and reopen before ">".
    clean = _XML_ILLEGAL.sub("", value)
    return "<![CDATA[" + clean.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _check_timestamp(timestamp: str) -> None:
    # It is written into the XML unquoted and signed as is, so it must be plain digits.
    if not (timestamp.isascii() and timestamp.isdigit()):
        raise ValueError("timestamp must be decimal digits")


def _load_json_object(raw: bytes | str, what: str) -> dict[str, object]:
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        # ValueError covers bad JSON, bad UTF-8 and over-long integers.
        raise MalformedRequest(f"wecom: {what} is not JSON") from exc
    if not isinstance(data, dict):
        raise MalformedRequest(f"wecom: {what} is not a JSON object")
    return data


def _str_field(obj: dict[str, object], key: str, what: str, *, allow_empty: bool = False) -> str:
    return text_field(obj, key, where=f"wecom: {what}.", allow_empty=allow_empty)


def _obj_field(data: dict[str, object], key: str) -> dict[str, object]:
    return object_field(data, key, where="wecom: message.")


def _robot_attachment(item: dict[str, object], kind: AttachmentKind) -> Attachment:
    part = _obj_field(item, kind)
    url = _str_field(part, "url", f"message.{kind}")
    # Over the long connection each url comes with its own key; it travels with the url
    # in a fragment, which no HTTP client sends (``media.WeComRobotMedia`` takes it off).
    aeskey = part.get("aeskey")
    if isinstance(aeskey, str) and aeskey and "#" not in url:
        url = f"{url}{LINK_KEY}{aeskey}"
    return Attachment(kind=kind, ref=url)


def _robot_mixed(mixed: dict[str, object]) -> tuple[str, Attachment | None]:
    items = mixed.get("msg_item")
    if not isinstance(items, list):
        raise MalformedRequest("wecom: message.mixed.msg_item is not a list")
    texts: list[str] = []
    attachment: Attachment | None = None
    for item in items:
        if not isinstance(item, dict):
            raise MalformedRequest("wecom: message.mixed.msg_item holds a non-object")
        item_type = item.get("msgtype")
        if item_type == "text":
            text_obj = _obj_field(item, "text")
            texts.append(_str_field(text_obj, "content", "mixed.text", allow_empty=True))
        elif isinstance(item_type, str) and item_type in _ROBOT_MEDIA and attachment is None:
            attachment = _robot_attachment(item, _ROBOT_MEDIA[item_type])
    return "\n".join(texts), attachment
