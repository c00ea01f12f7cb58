"""How ``edubot chat`` carries each typed message to the bot: its ``--over`` modes.

::

    over        the message travels                                  the answer comes back
    direct      straight to the dispatcher (no wire)                 its return value
    stream      DingTalk Stream mode: ticket, socket, CALLBACK frame  the inbound log, once
                (the connection the service opens itself)             the frame is acked
    websocket   the WeCom robot's long connection: aibot_msg_callback the aibot_respond_msg frame
    http        the HTTP callback, signed (and for WeCom encrypted)   the passive reply / the log

``auto`` (the default) is the long connection the config uses for the speaker's platform
(``[dingtalk] mode = "stream"``, ``[wecom] robot_mode = "websocket"``), else ``direct``.

Every mode but ``direct`` runs the platform emulator and the real service in this process
on loopback, with the service's platform settings pointed at the emulator and credentials
made up for the session (a robot id of its own, so a running ``edubot serve`` keeps its
connection and its lease). Nothing reaches the real platforms; the database is the
config's. DingTalk answers through a message's sessionWebhook, a push; chat sends no
pushes, so its DingTalk messages carry none and the answer is read from the inbound log,
where the dispatcher stored it in the same transaction.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Literal

import defusedxml.ElementTree as ET
import httpx

from bot.app import Services, build_services, create_app
from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.devtools.emulator import EmulatorServer, EmulatorState
from bot.devtools.emulator.players import dingtalk_callback, wecom_app_callback
from bot.devtools.serving import LoopbackServer
from bot.platforms.wecom.crypto import WeComCrypto
from bot.runtime import attach_connections
from handlers.messages import InboundMessage, Platform
from storage.db import transaction
from storage.inbound import find_inbound

Over = Literal["auto", "direct", "http", "stream", "websocket"]
WAIT_S = 10.0
"""How long a connection may take to come up, and an answer to arrive."""
_LABELS = {
    "direct": "直接交给分发器（不经网络）",
    "stream": "钉钉 Stream 模式长连接",
    "websocket": "企业微信智能机器人长连接",
    "http": "HTTP 回调",
}


@dataclass(frozen=True, slots=True)
class Speaker:
    """Who the terminal speaks as, and on which platform."""

    name: str
    platform: Platform
    user_id: str


@dataclass(frozen=True, slots=True)
class Said:
    """The bot's answer to one message and how it was handled (ok, refused, error)."""

    text: str
    status: str


@dataclass
class Line:
    """An open line to the bot: the services behind it and how a message is sent."""

    services: Services
    send: Callable[[str], Said]
    where: str = ""
    """What the banner says about the wire (``钉钉 Stream 模式长连接（平台模拟器 …）``)."""


def resolve(over: Over, settings: Settings, speaker: Speaker) -> Over:
    """``auto``: the long connection the config uses for the speaker's platform, else direct."""
    if over != "auto":
        return over
    if speaker.platform == "dingtalk" and settings.dingtalk.mode == "stream":
        return "stream"
    if speaker.platform == "wecom" and settings.wecom.robot_mode == "websocket":
        return "websocket"
    return "direct"


def platform_for(over: Over) -> Platform | None:
    """The platform a mode needs the speaker on (``None``: either)."""
    return {"stream": "dingtalk", "websocket": "wecom"}.get(over)  # type: ignore[return-value]


@contextmanager
def open_line(
    settings: Settings, speaker: Speaker, over: Over, *, clock: Clock | None
) -> Iterator[Line]:
    """The line for ``over`` (already resolved), closed again on exit."""
    with ExitStack() as stack:
        if over == "direct":
            services = build_services(settings, clock=clock)
            stack.callback(services.engine.dispose)
            yield Line(services, _direct(services, speaker), _LABELS[over])
            return
        state = EmulatorState(clock or SystemClock())
        emulator = stack.enter_context(EmulatorServer(state))
        wired = _pointed_at(settings, emulator.base_url, over)
        state.register(wired)
        services = build_services(wired, clock=clock)
        stack.callback(services.engine.dispose)
        if over == "http":
            server = stack.enter_context(LoopbackServer(create_app(services), name="edubot-chat"))
            client = stack.enter_context(httpx.Client(timeout=WAIT_S))
            send = _http(services, speaker, server.base_url, client)
            where = f"{_LABELS[over]}（本机服务 {server.base_url}）"
        else:
            for connection in attach_connections(services):
                connection.start()
                stack.callback(connection.stop)
            send = _connected(services, speaker, state, over)
            where = f"{_LABELS[over]}（平台模拟器 {emulator.base_url}）"
        yield Line(services, send, where)


def _pointed_at(settings: Settings, base: str, over: Over) -> Settings:
    """The settings with every platform URL at the emulator and session credentials."""
    session = secrets.token_hex(4)
    wecom = settings.wecom.model_copy(
        update={
            "api_base": base,
            "proxy": "",
            "corp_id": settings.wecom.corp_id or "chat-corp",
            "token": settings.wecom.token or "chat-token",
            "encoding_aes_key": settings.wecom.encoding_aes_key or _aes_key(),
            "robot_mode": "websocket" if over == "websocket" else "callback",
            "robot_bot_id": f"edubot-chat-{session}",
            "robot_secret": secrets.token_hex(16),
            "robot_ws_url": base.replace("http", "ws", 1) + "/aibot-ws",
        }
    )
    dingtalk = settings.dingtalk.model_copy(
        update={
            "api_base": base,
            "oapi_base": base,
            "proxy": "",
            "mode": "stream" if over == "stream" else "http",
            "app_key": settings.dingtalk.app_key or f"edubot-chat-{session}",
            "app_secret": settings.dingtalk.app_secret or secrets.token_hex(16),
        }
    )
    return settings.model_copy(update={"wecom": wecom, "dingtalk": dingtalk})


def _aes_key() -> str:
    return secrets.token_urlsafe(40).replace("-", "a").replace("_", "b")[:43]


def _said(services: Services, platform: Platform, message_id: str) -> Said:
    """The answer the dispatcher stored with the message."""
    with transaction(services.factory) as session:
        row = find_inbound(session, platform, message_id)
        if row is None:
            return Said("（消息未被记录：连接没有确认它）", "error")
        return Said(row.reply_text, row.status)


def _direct(services: Services, speaker: Speaker) -> Callable[[str], Said]:
    def send(text: str) -> Said:
        outcome = services.dispatcher.process(
            InboundMessage(
                platform=speaker.platform,
                channel="wecom_app" if speaker.platform == "wecom" else "dingtalk",
                message_id=f"chat-{uuid.uuid4().hex}",
                sender_id=speaker.user_id,
                text=text,
                chat_type="private",
                sent_at=services.clock.now(),
                sender_name=speaker.name,
            )
        )
        return Said(outcome.reply.text, outcome.status)

    return send


def _dingtalk_callback(
    services: Services, speaker: Speaker, msg_id: str, text: str
) -> tuple[dict[str, str], bytes]:
    """A private DingTalk message without a sessionWebhook (chat sends no pushes)."""
    millis = int(services.clock.now().timestamp() * 1000)
    return dingtalk_callback(
        services.settings.dingtalk.app_secret,
        msg_id=msg_id,
        sender_staff_id=speaker.user_id,
        sender_nick=speaker.name,
        content=text,
        create_at_ms=millis,
        timestamp_ms=millis,
        conversation_type="1",
    )


def _connected(
    services: Services, speaker: Speaker, state: EmulatorState, over: Over
) -> Callable[[str], Said]:
    bot_id = services.settings.wecom.robot_bot_id
    if over == "stream":
        state.dingtalk_stream.wait_for_peers(1, timeout=WAIT_S)
    else:
        state.wecom_longconn.wait_for_robot(bot_id, timeout=WAIT_S)

    def send(text: str) -> Said:
        msg_id = f"chat-{uuid.uuid4().hex}"
        if over == "stream":
            _, body = _dingtalk_callback(services, speaker, msg_id, text)
            state.dingtalk_stream.deliver(body, timeout=WAIT_S)  # acked once committed
            return _said(services, "dingtalk", msg_id)
        message = {
            "msgid": msg_id,
            "aibotid": bot_id,
            "chattype": "single",
            "from": {"userid": speaker.user_id},
            "msgtype": "text",
            "text": {"content": text},
        }
        frame = state.wecom_longconn.deliver(bot_id, message, timeout=WAIT_S)
        stored = _said(services, "wecom", msg_id)
        return Said(str(frame["body"]["stream"]["content"]), stored.status)

    return send


def _http(
    services: Services, speaker: Speaker, base: str, client: httpx.Client
) -> Callable[[str], Said]:
    wecom = services.settings.wecom
    crypto = WeComCrypto(wecom.token, wecom.encoding_aes_key, wecom.corp_id)

    def send(text: str) -> Said:
        msg_id = f"chat-{uuid.uuid4().hex}"
        if speaker.platform == "dingtalk":
            headers, body = _dingtalk_callback(services, speaker, msg_id, text)
            client.post(f"{base}/dingtalk/callback", headers=headers, content=body)
            return _said(services, "dingtalk", msg_id)
        query, body = wecom_app_callback(
            crypto,
            to_user=wecom.corp_id,
            from_user=speaker.user_id,
            content=text,
            msg_id=msg_id,
            agent_id=wecom.agent_id or "1",
            create_time=int(services.clock.now().timestamp()),
        )
        response = client.post(f"{base}/wecom/callback", params=query, content=body)
        envelope = ET.fromstring(response.content)
        inner = ET.fromstring(crypto.decrypt(envelope.findtext("Encrypt") or ""))
        return Said(inner.findtext("Content") or "", _said(services, "wecom", msg_id).status)

    return send
