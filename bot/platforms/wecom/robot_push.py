"""Pushing to a WeCom group or person over the robot's long connection (``aibot_send_msg``).

A group whose robot is long-connection only has no webhook key: the outbox reaches it by
sending ``{cmd: "aibot_send_msg", headers: {req_id}, body: {chatid, chat_type: 2,
msgtype: "markdown", markdown: {content}}}`` on the live socket and waiting for WeCom's
answer ``{headers: {req_id}, errcode, errmsg}`` (WecomTeam/aibot-node-sdk ``sendMessage``).
A person is reached the same way (``chatid`` = userid, ``chat_type: 1``) when the app
message API is not configured: it needs the server's fixed IP in 企业可信IP, this does not.

What WeCom documents and what follows from it:

- ``msgtype`` is ``markdown`` or ``template_card`` (plain ``text`` is refused, 40008), so
  every push goes as markdown, mentions as ``<@userid>`` tags.
- Only to chats where someone has already written to the robot; a group it never heard
  from is refused, and the refusal is permanent for that push.
- At most 30 pushes a minute and 1,000 an hour per robot. The outbox keeps every robot
  under ``[outbox] rate_per_minute`` (20) across instances; ``RobotPushSender`` also
  holds back once this process has sent 1,000 within an hour (only the instance holding
  the connection sends), and WeCom's own 45009 is retried a minute later.
- Only one instance holds the connection (the lease). Another instance that claims such a
  push gives it back for a few seconds (``RetryableDelivery``), so the holder sends it.

``RobotChannel`` is the link between the two threads: the connection's event loop
``attach``es its socket and hands every answer frame to ``answered``; the outbox's thread
calls ``request``, which sends from the connection's loop and waits for the answer.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import datetime, timedelta
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from bot.errors import PermanentDelivery, RetryableDelivery
from bot.platforms.wecom.longconn import Frame, request
from bot.platforms.wecom.render import wecom_markdown_content
from bot.senders.base import bounded_rate_key, check_errcode, check_not_empty, check_size
from bot.senders.limits import LIMITS
from handlers.messages import OutboundMessage
from handlers.text import utf8_len

SEND_CMD = "aibot_send_msg"
PER_HOUR = 1000
HOUR = timedelta(hours=1)
ANSWER_TIMEOUT_S = 10.0
NOT_HOLDER_RETRY_S = 5.0
"""A push claimed by an instance without the connection waits this long for the holder."""


class NotConnected(Exception):
    """This instance holds no live long connection now."""


class RobotChannel:
    """The live long connection of one robot, for senders on other threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._socket: ClientConnection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: dict[str, asyncio.Future[Frame]] = {}

    def attach(self, socket: ClientConnection) -> None:
        """The subscribed socket (called on its event loop)."""
        with self._lock:
            self._socket, self._loop = socket, asyncio.get_running_loop()

    def detach(self, socket: ClientConnection) -> None:
        """The socket is gone; waiting pushes fail at once (their answer cannot come)."""
        with self._lock:
            if self._socket is not socket:
                return
            self._socket = self._loop = None
            pending, self._pending = self._pending, {}
        for waiting in pending.values():
            if not waiting.done():
                waiting.set_exception(NotConnected("the long connection closed"))

    @property
    def connected(self) -> bool:
        """Whether a subscribed socket is attached now."""
        with self._lock:
            return self._socket is not None

    def answered(self, frame: Frame) -> bool:
        """Take ``frame`` if it answers one of our pushes (on the socket's event loop)."""
        with self._lock:
            waiting = self._pending.pop(frame.req_id, None)
        if waiting is None:
            return False
        if not waiting.done():
            waiting.set_result(frame)
        return True

    def request(self, cmd: str, body: dict[str, Any], *, timeout: float) -> Frame:
        """Send ``cmd`` and wait for WeCom's answer (from any thread but the socket's)."""
        with self._lock:
            socket, loop = self._socket, self._loop
        if socket is None or loop is None:
            raise NotConnected("this instance holds no long connection")
        future = asyncio.run_coroutine_threadsafe(self._exchange(socket, cmd, body), loop)
        try:
            return future.result(timeout)
        except FutureTimeout:
            future.cancel()
            raise

    async def _exchange(self, socket: ClientConnection, cmd: str, body: dict[str, Any]) -> Frame:
        req_id = f"{cmd}_{secrets.token_hex(8)}"
        waiting: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        with self._lock:
            self._pending[req_id] = waiting
        try:
            await socket.send(request(cmd, req_id, body))
            return await waiting
        except ConnectionClosed as exc:
            raise NotConnected(f"the long connection closed: {exc}") from exc
        finally:
            with self._lock:
                self._pending.pop(req_id, None)


class RobotPushSender:
    """Pushes to one WeCom group (``chat_id``) through the robot's long connection; without
    a ``chat_id``, to the person each message names (its ``target`` userid, a private chat
    that person has opened with the robot)."""

    def __init__(
        self,
        channel: RobotChannel,
        *,
        bot_id: str,
        chat_id: str,
        now: Callable[[], datetime],
        per_hour: int = PER_HOUR,
        timeout: float = ANSWER_TIMEOUT_S,
    ) -> None:
        self._channel = channel
        self._bot_id = bot_id
        self._chat_id = chat_id
        self._now = now
        self._per_hour = per_hour
        self._timeout = timeout
        self._sent: deque[datetime] = deque()
        self._lock = threading.Lock()

    def rate_key(self, message: OutboundMessage) -> str:
        """All of a robot's pushes share one limit, whichever group they go to."""
        return bounded_rate_key("wecom-aibot", self._bot_id)

    def send(self, message: OutboundMessage, *, dedupe_key: str) -> None:
        """Send once as markdown, or raise a delivery error."""
        where = "wecom aibot_send_msg"
        content = wecom_markdown_content(message)
        check_not_empty(where, message)
        check_size(where, utf8_len(content), LIMITS["wecom_markdown"])
        self._take_hour_slot(where)
        chat = self._chat_id or message.target
        if not chat or "|" in chat or any(c.isspace() for c in chat):
            raise PermanentDelivery(f"{where}: '{chat}' is not one chatid or userid")
        body = {
            "chatid": chat,
            "chat_type": 2 if self._chat_id else 1,
            "msgtype": "markdown",
            "markdown": {"content": content},
        }
        try:
            answer = self._channel.request(SEND_CMD, body, timeout=self._timeout)
        except NotConnected as exc:
            raise RetryableDelivery(f"{where}: {exc}", retry_after=NOT_HOLDER_RETRY_S) from exc
        except FutureTimeout as exc:
            raise RetryableDelivery(f"{where}: no answer within {self._timeout:.0f} s") from exc
        check_errcode(where, answer.errcode or 0, answer.errmsg)

    def _take_hour_slot(self, where: str) -> None:
        now = self._now()
        with self._lock:
            while self._sent and self._sent[0] <= now - HOUR:
                self._sent.popleft()
            if len(self._sent) >= self._per_hour:
                wait = (self._sent[0] + HOUR - now).total_seconds()
                raise RetryableDelivery(
                    f"{where}: {self._per_hour} pushes within the hour", retry_after=wait
                )
            self._sent.append(now)


def robot_push_sender(
    channel: RobotChannel | None,
    bot_id: str,
    chat_id: str,
    now: Callable[[], datetime],
    *,
    timeout: float = ANSWER_TIMEOUT_S,
) -> RobotPushSender | None:
    """The sender through the long connection, if there is one: to group ``chat_id``, or
    with ``chat_id=""`` to each message's person. An answer is awaited ``timeout`` seconds
    at most (never longer than the outbox's request timeout: its lease relies on it)."""
    if channel is None or not bot_id:
        return None
    return RobotPushSender(channel, bot_id=bot_id, chat_id=chat_id, now=now, timeout=timeout)
