"""The platforms' side of INBOUND traffic: the callbacks WeCom and DingTalk POST to the bot.

Pure builders return ``(query or headers, body bytes)`` exactly as the platform would send
them, encrypted with ``WeComCrypto.seal`` or signed with ``dingtalk_sign``; every time is
an explicit argument, never read from a clock. ``send_inbound`` / ``send_inbound_async``
POST such a pair with httpx.

::

    query, body = wecom_app_callback(crypto, to_user=corp, from_user="zhangwei",
                                     content="评分 3 92", msg_id="1", agent_id="1000002",
                                     create_time=1700000000)
    send_inbound(f"{bot_url}/wecom/app", body, params=query)
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from xml.sax.saxutils import escape

import httpx

from bot.platforms.dingtalk.sign import dingtalk_sign
from bot.platforms.wecom.crypto import WeComCrypto

_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
DINGTALK_SESSION_LIFETIME_MS = 90 * 60 * 1000


# --- WeCom self-built app (XML) ---------------------------------------------------------


def wecom_app_callback(
    crypto: WeComCrypto,
    *,
    to_user: str,
    from_user: str,
    content: str,
    msg_id: str,
    agent_id: str | int,
    create_time: int,
    msg_type: str = "text",
    media_id: str = "",
    file_name: str = "",
    timestamp: int | None = None,
    nonce: str = "",
) -> tuple[dict[str, str], bytes]:
    """An app message callback: ``(query, body)``.

    ``to_user`` is the corp id (``crypto.receive_id``). ``content`` is the text for
    ``text`` and the ``Recognition`` for ``voice``; media types carry ``media_id``.
    ``timestamp`` (the signed query timestamp) defaults to ``create_time``.
    """
    fields: list[tuple[str, str, bool]] = [
        ("ToUserName", to_user, True),
        ("FromUserName", from_user, True),
        ("CreateTime", str(create_time), False),
        ("MsgType", msg_type, True),
    ]
    if msg_type == "text":
        fields.append(("Content", content, True))
    elif msg_type in ("image", "voice", "video", "file"):
        fields.append(("MediaId", media_id, True))
        if msg_type == "image":
            fields.append(("PicUrl", f"https://wework.qpic.cn/{media_id}", True))
        if msg_type == "voice":
            fields.append(("Format", "amr", True))
            if content:
                fields.append(("Recognition", content, True))
        if msg_type == "file" and file_name:
            fields.append(("FileName", file_name, True))
    fields.append(("MsgId", msg_id, False))
    fields.append(("AgentID", str(agent_id), False))
    plaintext = "<xml>" + "".join(_element(tag, value, cdata) for tag, value, cdata in fields)
    plaintext += "</xml>"
    ts = str(create_time if timestamp is None else timestamp)
    encrypt, signature, used_nonce = crypto.seal(plaintext, nonce=nonce, timestamp=ts)
    envelope = (
        f"<xml><ToUserName>{_cdata(to_user)}</ToUserName>"
        f"<AgentID>{_cdata(str(agent_id))}</AgentID>"
        f"<Encrypt>{_cdata(encrypt)}</Encrypt></xml>"
    )
    query = {"msg_signature": signature, "timestamp": ts, "nonce": used_nonce}
    return query, envelope.encode("utf-8")


def wecom_url_verification(
    crypto: WeComCrypto, echostr_plain: str, timestamp: int, *, nonce: str = ""
) -> dict[str, str]:
    """The query of WeCom's GET URL check; the bot must answer ``echostr_plain``."""
    echostr, signature, used_nonce = crypto.seal(
        echostr_plain, nonce=nonce, timestamp=str(timestamp)
    )
    return {
        "msg_signature": signature,
        "timestamp": str(timestamp),
        "nonce": used_nonce,
        "echostr": echostr,
    }


# --- WeCom intelligent robot (JSON) -----------------------------------------------------


def wecom_robot_callback(
    crypto: WeComCrypto,
    *,
    msgid: str,
    from_userid: str,
    content: str,
    timestamp: int,
    chatid: str = "",
    chattype: str = "group",
    aibotid: str = "bot1",
    response_url: str = "",
    msgtype: str = "text",
    file_url: str = "",
    nonce: str = "",
) -> tuple[dict[str, str], bytes]:
    """An intelligent robot callback: ``(query, body)`` with body ``{"encrypt": ...}``.

    ``crypto`` must have receive id ``""``. Group text is sent as given, so include the
    ``@机器人名 `` prefix WeCom keeps. ``voice`` carries ``content`` as its transcription,
    ``image`` / ``file`` carry ``file_url``, ``mixed`` carries both.
    """
    message: dict[str, Any] = {"msgid": msgid, "aibotid": aibotid}
    if chattype == "group" or chatid:
        message["chatid"] = chatid
    message["chattype"] = chattype
    message["from"] = {"userid": from_userid}
    message["response_url"] = response_url
    message["msgtype"] = msgtype
    if msgtype in ("text", "voice"):
        message[msgtype] = {"content": content}
    elif msgtype in ("image", "file"):
        message[msgtype] = {"url": file_url}
    elif msgtype == "mixed":
        items: list[dict[str, Any]] = [{"msgtype": "text", "text": {"content": content}}]
        if file_url:
            items.append({"msgtype": "image", "image": {"url": file_url}})
        message["mixed"] = {"msg_item": items}
    plaintext = json.dumps(message, ensure_ascii=False)
    encrypt, signature, used_nonce = crypto.seal(plaintext, nonce=nonce, timestamp=str(timestamp))
    query = {"msg_signature": signature, "timestamp": str(timestamp), "nonce": used_nonce}
    return query, json.dumps({"encrypt": encrypt}).encode("utf-8")


# --- DingTalk app robot (HTTP mode) -----------------------------------------------------


def dingtalk_callback(
    app_secret: str,
    *,
    msg_id: str,
    sender_staff_id: str,
    sender_nick: str,
    content: str,
    create_at_ms: int,
    timestamp_ms: int,
    conversation_id: str = "",
    conversation_type: str = "2",
    conversation_title: str = "",
    session_webhook: str = "",
    session_webhook_expired_ms: int | None = None,
    robot_code: str = "",
    msgtype: str = "text",
    download_code: str = "",
    file_name: str = "",
) -> tuple[dict[str, str], bytes]:
    """A robot message callback: ``(headers, body)``; headers carry ``timestamp`` and ``sign``.

    In a group (``conversation_type="2"``, which needs ``conversation_id``) the text starts
    with a space, as DingTalk sends it. ``audio`` carries ``content`` as its recognition;
    ``picture`` / ``file`` / ``video`` carry ``download_code``. The session webhook expires
    ``session_webhook_expired_ms`` (default: 90 minutes after ``create_at_ms``).
    """
    if conversation_type == "2" and not conversation_id:
        raise ValueError("a group message (conversation_type '2') needs a conversation_id")
    payload: dict[str, Any] = {
        "msgId": msg_id,
        "msgtype": msgtype,
        "createAt": create_at_ms,
        "conversationType": conversation_type,
        "senderNick": sender_nick,
        "senderStaffId": sender_staff_id,
        "isAdmin": False,
        "robotCode": robot_code,
        "atUsers": [],
    }
    if conversation_id:
        payload["conversationId"] = conversation_id
    if conversation_title or conversation_type == "2":
        payload["conversationTitle"] = conversation_title
    if session_webhook:
        payload["sessionWebhook"] = session_webhook
        payload["sessionWebhookExpiredTime"] = (
            session_webhook_expired_ms
            if session_webhook_expired_ms is not None
            else create_at_ms + DINGTALK_SESSION_LIFETIME_MS
        )
    part = _dingtalk_part(msgtype, content, download_code, file_name, conversation_type == "2")
    if part is not None:
        payload[part[0]] = part[1]
    headers = {
        "timestamp": str(timestamp_ms),
        "sign": dingtalk_sign(app_secret, timestamp_ms),
        "Content-Type": "application/json; charset=utf-8",
    }
    return headers, json.dumps(payload, ensure_ascii=False).encode("utf-8")


def _dingtalk_part(
    msgtype: str, content: str, download_code: str, file_name: str, in_group: bool
) -> tuple[str, dict[str, Any]] | None:
    """The message's own part: ``("text", ...)`` or ``("content", ...)``, or ``None``."""
    if msgtype == "text":
        if in_group and not content.startswith(" "):
            content = " " + content
        return "text", {"content": content}
    found = _dingtalk_content(msgtype, content, download_code, file_name)
    return None if found is None else ("content", found)


def _dingtalk_content(
    msgtype: str, content: str, download_code: str, file_name: str
) -> dict[str, Any] | None:
    """The ``content`` object of a non-text message; ``None`` for a type that has none."""
    if msgtype == "audio":
        return {"downloadCode": download_code, "recognition": content}
    if msgtype == "file":
        return {"downloadCode": download_code, "fileName": file_name}
    if msgtype in ("picture", "video"):
        return {"downloadCode": download_code}
    if msgtype == "richText":
        rich: list[dict[str, str]] = [{"text": content}]
        if download_code:
            rich.append({"downloadCode": download_code, "type": "picture"})
        return {"richText": rich}
    return None


# --- sending ----------------------------------------------------------------------------


def send_inbound(
    url: str,
    body: bytes,
    *,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    client: httpx.Client | None = None,
    timeout: float = 5.0,
) -> httpx.Response:
    """POST a built callback to the bot (``client`` reused when given, else a fresh one)."""
    all_headers = _with_content_type(body, headers)
    if client is not None:
        return client.post(url, content=body, params=params, headers=all_headers)
    with httpx.Client(timeout=timeout) as fresh:
        return fresh.post(url, content=body, params=params, headers=all_headers)


async def send_inbound_async(
    url: str,
    body: bytes,
    *,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    client: httpx.AsyncClient | None = None,
    timeout: float = 5.0,
) -> httpx.Response:
    """``send_inbound`` for asyncio callers (the benchmarks)."""
    all_headers = _with_content_type(body, headers)
    if client is not None:
        return await client.post(url, content=body, params=params, headers=all_headers)
    async with httpx.AsyncClient(timeout=timeout) as fresh:
        return await fresh.post(url, content=body, params=params, headers=all_headers)


def _with_content_type(body: bytes, headers: Mapping[str, str] | None) -> dict[str, str]:
    merged = dict(headers or {})
    if not any(name.lower() == "content-type" for name in merged):
        xml = body.lstrip().startswith(b"<")
        merged["Content-Type"] = "text/xml; charset=utf-8" if xml else "application/json"
    return merged


def _element(tag: str, value: str, cdata: bool) -> str:
    return f"<{tag}>{_cdata(value) if cdata else escape(value)}</{tag}>"


def _cdata(value: str) -> str:
    # "]]>" would end the section early: close it after "]]" and reopen before ">".
    clean = _XML_ILLEGAL.sub("", value)
    return "<![CDATA[" + clean.replace("]]>", "]]]]><![CDATA[>") + "]]>"
