"""The platforms' side of inbound traffic for tests: encrypted / signed requests."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from bot.platforms.dingtalk.sign import dingtalk_sign
from bot.platforms.wecom.crypto import WeComCrypto
from handlers.messages import InboundMessage
from tests.support.campaign import (
    CORP_ID,
    DING_SECRET,
    ROBOT_AES,
    ROBOT_TOKEN,
    WECOM_AES,
    WECOM_TOKEN,
)

APP = WeComCrypto(WECOM_TOKEN, WECOM_AES, CORP_ID)
ROBOT = WeComCrypto(ROBOT_TOKEN, ROBOT_AES, "")


def wecom_private(user: str, text: str, message_id: str, **extra: Any) -> InboundMessage:
    """A private WeCom app message as the endpoint hands it to the dispatcher (decrypted,
    parsed): for tests that talk to ``Dispatcher.process`` directly."""
    return InboundMessage(
        platform="wecom",
        channel="wecom_app",
        message_id=message_id,
        sender_id=user,
        text=text,
        chat_type="private",
        **extra,
    )


def private_message(user: str, text: str, message_id: str) -> InboundMessage:
    """A private message from ``user``: over DingTalk when the id starts with ``ding-``,
    else to the WeCom app."""
    if user.startswith("ding-"):
        return InboundMessage("dingtalk", "dingtalk", message_id, user, text, "private")
    return wecom_private(user, text, message_id)


class PrivateChat:
    """Private WeCom app messages sent straight to a dispatcher, each with a new message id;
    returns the answer's text."""

    def __init__(self, dispatcher: Any, prefix: str) -> None:
        self.dispatcher = dispatcher
        self.prefix = prefix
        self.sent = 0

    def __call__(self, user: str, text: str) -> str:
        self.sent += 1
        message = wecom_private(user, text, f"{self.prefix}-{self.sent}")
        return str(self.dispatcher.process(message).reply.text)


def wecom_app_request(
    user: str, text: str, msg_id: str, now: datetime
) -> tuple[dict[str, str], bytes]:
    ts = str(int(now.timestamp()))
    plain = (
        f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName>"
        f"<FromUserName><![CDATA[{user}]]></FromUserName><CreateTime>{ts}</CreateTime>"
        f"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{text}]]></Content>"
        f"<MsgId>{msg_id}</MsgId><AgentID>1000002</AgentID></xml>"
    )
    encrypt, signature, nonce = APP.seal(plain, timestamp=ts)
    body = (
        f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName>"
        f"<AgentID><![CDATA[1000002]]></AgentID><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    ).encode()
    return {"msg_signature": signature, "timestamp": ts, "nonce": nonce}, body


def wecom_robot_request(
    user: str, text: str, msg_id: str, now: datetime, chat_id: str = "wrRuiquan"
) -> tuple[dict[str, str], bytes]:
    ts = str(int(now.timestamp()))
    plain = json.dumps(
        {
            "msgid": msg_id,
            "aibotid": "aibot1",
            "chatid": chat_id,
            "chattype": "group" if chat_id else "single",
            "from": {"userid": user},
            "response_url": "http://127.0.0.1:9/response",
            "msgtype": "text",
            "text": {"content": f"@评分助手 {text}"},
        },
        ensure_ascii=False,
    )
    encrypt, signature, nonce = ROBOT.seal(plain, timestamp=ts)
    body = json.dumps({"encrypt": encrypt}).encode()
    return {"msg_signature": signature, "timestamp": ts, "nonce": nonce}, body


def dingtalk_request(
    staff_id: str, text: str, msg_id: str, now: datetime, conversation_id: str = "cidYuhong"
) -> tuple[dict[str, str], bytes]:
    ms = int(now.timestamp() * 1000)
    payload: dict[str, Any] = {
        "msgId": msg_id,
        "msgtype": "text",
        "text": {"content": f" {text}"},
        "conversationType": "2" if conversation_id else "1",
        "conversationId": conversation_id,
        "conversationTitle": "育红初中会场群",
        "senderStaffId": staff_id,
        "senderNick": staff_id,
        "senderCorpId": "dingcorp",
        "isAdmin": False,
        "robotCode": "dingrobot",
        "chatbotUserId": "bot",
        "sessionWebhook": f"http://127.0.0.1:9/session/{msg_id}",
        "sessionWebhookExpiredTime": ms + 90 * 60 * 1000,
        "createAt": ms,
    }
    headers = {"timestamp": str(ms), "sign": dingtalk_sign(DING_SECRET, ms)}
    return headers, json.dumps(payload, ensure_ascii=False).encode()


def open_app_reply(body: bytes) -> str:
    """Decrypt a passive app reply and return its Content."""
    import defusedxml.ElementTree as ET

    root = ET.fromstring(body)
    encrypt = root.findtext("Encrypt") or ""
    plain = APP.decrypt(encrypt)
    inner = ET.fromstring(plain)
    return inner.findtext("Content") or ""


def open_robot_reply(body: bytes) -> str:
    data = json.loads(body)
    plain = json.loads(ROBOT.decrypt(data["encrypt"]))
    return str(plain["stream"]["content"])
