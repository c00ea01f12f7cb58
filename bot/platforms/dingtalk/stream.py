"""DingTalk Stream mode: the robot hears messages over a WebSocket edubot opens itself.

``POST {api_base}/v1.0/gateway/connections/open`` with the app's key and secret and the
robot topic returns ``{endpoint, ticket}``; the socket to ``endpoint?ticket=...`` then
carries frames ``{specVersion, type, headers: {topic, messageId, ...}, data: "<JSON>"}``:

- SYSTEM ``ping``: answered at once, echoing its data (the ``opaque`` value);
- SYSTEM ``disconnect``: the gateway closes this socket about 10 s later. Robot messages
  are not redelivered, so the runner opens the next connection first (``link.handover``);
- CALLBACK on ``/v1.0/im/bot/messages/get``: a robot message, the same JSON as the HTTP
  callback (``wire.parse_message``). It is handled in order by one worker and acknowledged
  only once the dispatcher has committed it; the answer goes by ``sessionWebhook``.

A frame that cannot be read (not JSON, unknown type, missing fields, oversized data) is
logged and skipped; it never ends the connection.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from bot.config import DingTalkSettings
from bot.connections.runner import Link
from bot.errors import LinkDropped, LoginRefused, MalformedRequest
from bot.platforms.dingtalk import wire
from handlers.messages import InboundMessage

log = logging.getLogger("edubot.dingtalk.stream")

ROBOT_TOPIC = "/v1.0/im/bot/messages/get"
OPEN_PATH = "/v1.0/gateway/connections/open"
USER_AGENT = "edubot-stream/1"


@dataclass(frozen=True, slots=True)
class Frame:
    """One downstream frame: its type, topic, message id and (JSON text) data."""

    type: str
    topic: str
    message_id: str
    data: str


def parse_frame(raw: str | bytes) -> Frame:
    """The frame in ``raw``; ``MalformedRequest`` for anything else."""
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise MalformedRequest("dingtalk stream: frame is not JSON") from exc
    if not isinstance(body, dict) or not isinstance(body.get("headers"), dict):
        raise MalformedRequest("dingtalk stream: frame has no headers object")
    headers: dict[str, Any] = body["headers"]
    data = body.get("data", "")
    if not isinstance(data, str):
        raise MalformedRequest("dingtalk stream: frame data is not a string")
    return Frame(_text(body, "type"), _text(headers, "topic"), _text(headers, "messageId"), data)


def _text(obj: dict[str, Any], key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise MalformedRequest(f"dingtalk stream: frame {key} is missing")
    return value


def ack(message_id: str, data: str = "", *, code: int = 200, message: str = "OK") -> str:
    """The upstream answer to frame ``message_id``."""
    headers = {"contentType": "application/json", "messageId": message_id}
    return json.dumps({"code": code, "headers": headers, "message": message, "data": data})


def open_body(settings: DingTalkSettings) -> dict[str, Any]:
    """The ``connections/open`` request: our app, subscribed to robot messages only."""
    return {
        "clientId": settings.app_key,
        "clientSecret": settings.app_secret,
        "subscriptions": [{"type": "CALLBACK", "topic": ROBOT_TOPIC}],
        "ua": USER_AGENT,
        "localIp": "",
    }


Handle = Callable[[InboundMessage], object]
"""Records and answers one message (the dispatcher, in a worker thread); raises when the
message could not be committed."""


class DingTalkStream:
    """The Stream mode session: ``await DingTalkStream(...)(link)`` runs one connection."""

    def __init__(
        self,
        settings: DingTalkSettings,
        handle: Handle,
        *,
        max_data_bytes: int = 1024 * 1024,
        ping_interval: float = 20.0,
        open_timeout: float = 10.0,
    ) -> None:
        self._settings = settings
        self._handle = handle
        self._max_data = max_data_bytes
        self._ping_interval = ping_interval
        self._open_timeout = open_timeout

    async def __call__(self, link: Link) -> None:
        """Open one connection and serve it until it ends (raising why)."""
        endpoint, ticket = await self._open()
        uri = f"{endpoint}{'&' if '?' in endpoint else '?'}ticket={quote_plus(ticket)}"
        try:
            async with connect(
                uri,
                proxy=self._settings.proxy or True,
                open_timeout=self._open_timeout,
                ping_interval=self._ping_interval,  # a silent socket fails its ping: a drop
                ping_timeout=self._ping_interval,
                close_timeout=2.0,  # a dead socket is given up quickly, not after 10 s
                max_size=4 * self._max_data + 65536,
                user_agent_header=USER_AGENT,
            ) as socket:
                link.up()
                await self._serve(socket, link)
        except InvalidHandshake as exc:
            raise LinkDropped(f"dingtalk stream: gateway refused the socket: {exc}") from exc

    async def _open(self) -> tuple[str, str]:
        return await open_connection(self._settings, timeout=self._open_timeout)

    async def _serve(self, socket: ClientConnection, link: Link) -> None:
        queue: asyncio.Queue[Frame | None] = asyncio.Queue()
        worker = asyncio.create_task(self._work(socket, queue))
        try:
            async for raw in socket:
                await self._on_frame(socket, raw, queue, link)
        except ConnectionClosed as exc:
            raise LinkDropped(f"dingtalk stream: connection lost ({exc})") from exc
        finally:
            # What arrived is still handled (and committed) before the session ends.
            queue.put_nowait(None)
            await asyncio.shield(worker)
        raise LinkDropped("dingtalk stream: the gateway closed the connection")

    async def _on_frame(
        self,
        socket: ClientConnection,
        raw: str | bytes,
        queue: asyncio.Queue[Frame | None],
        link: Link,
    ) -> None:
        try:
            frame = parse_frame(raw)
        except MalformedRequest as exc:
            log.warning("%s; skipped (%d bytes)", exc.reason, len(raw))
            return
        if frame.type == "SYSTEM" and frame.topic == "ping":
            await socket.send(ack(frame.message_id, frame.data))
        elif frame.type == "SYSTEM" and frame.topic == "disconnect":
            log.info("dingtalk stream: the gateway asked us to reconnect")
            link.handover()
        elif frame.type == "CALLBACK" and frame.topic == ROBOT_TOPIC:
            queue.put_nowait(frame)
        elif frame.type in ("SYSTEM", "EVENT", "CALLBACK"):
            log.info("dingtalk stream: %s %s not handled; acknowledged", frame.type, frame.topic)
            await socket.send(ack(frame.message_id))
        else:
            log.warning("dingtalk stream: unknown frame type %.40r skipped", frame.type)

    async def _work(self, socket: ClientConnection, queue: asyncio.Queue[Frame | None]) -> None:
        while (frame := await queue.get()) is not None:
            if await self._handle_frame(frame):
                try:
                    await socket.send(ack(frame.message_id, json.dumps({"response": None})))
                except ConnectionClosed:
                    log.info("dingtalk stream: %s handled, socket closed", frame.message_id)

    async def _handle_frame(self, frame: Frame) -> bool:
        """Handle one robot message; whether to acknowledge it."""
        if len(frame.data) > self._max_data:
            log.warning("dingtalk stream: %s: data over the limit, skipped", frame.message_id)
            return True
        try:
            # A lone surrogate becomes invalid UTF-8 here, which parse_message refuses.
            message = wire.parse_message(frame.data.encode("utf-8", "surrogatepass"))
            await asyncio.to_thread(self._handle, message)
        except MalformedRequest as exc:
            log.warning("dingtalk stream: %s skipped: %s", frame.message_id, exc.reason)
            return True
        except Exception:
            # Not committed: no ack, so the gateway may deliver it again.
            log.exception("dingtalk stream: %s could not be handled", frame.message_id)
            return False
        return True


async def open_connection(settings: DingTalkSettings, *, timeout: float) -> tuple[str, str]:
    """``connections/open``: the socket's endpoint and its ticket. ``LoginRefused`` when
    DingTalk refuses the key and secret, ``LinkDropped`` for anything else that fails."""
    url = settings.api_base.rstrip("/") + OPEN_PATH
    async with httpx.AsyncClient(proxy=settings.proxy or None, timeout=timeout) as client:
        try:
            response = await client.post(url, json=open_body(settings))
        except httpx.HTTPError as exc:
            raise LinkDropped(f"dingtalk stream: connections/open failed: {exc!r}") from exc
    if response.status_code in (400, 401, 403):
        raise LoginRefused(f"dingtalk stream: connections/open refused: {_detail(response)}")
    try:
        answer = response.json() if response.status_code == 200 else None
    except ValueError:
        answer = None
    if not isinstance(answer, dict) or not all(
        isinstance(answer.get(k), str) and answer[k] for k in ("endpoint", "ticket")
    ):
        raise LinkDropped(f"dingtalk stream: connections/open failed: {_detail(response)}")
    return answer["endpoint"], answer["ticket"]


def _detail(response: httpx.Response) -> str:
    text = response.text[:200].replace("\n", " ")
    return f"HTTP {response.status_code} {text}"
