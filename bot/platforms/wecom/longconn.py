"""The WeCom intelligent robot's long connection: no callback URL needed.

edubot connects to ``robot_ws_url`` and subscribes with the robot's id and secret
(``aibot_subscribe``); every frame is ``{cmd, headers: {req_id}, body}`` and answers to our
requests come back as ``{headers: {req_id}, errcode, errmsg}``:

- ``aibot_msg_callback``: a message, its body the same JSON as the API-mode callback
  (``wire.parse_robot_message``). It is handled in order by one worker and answered with
  ``aibot_respond_msg`` carrying its ``req_id``: one ``stream`` reply closed with
  ``finish: true``, ≤ 20,480 bytes. WeCom also takes ``template_card`` and
  ``stream_with_template_card`` there (plain text is not a reply type); a card's short
  fields cannot hold what edubot answers (README, "Reply types"), so replies are streams.
- Answers to our own requests (``{headers: {req_id}, errcode}``) of an outbox push
  (``aibot_send_msg``, ``robot_push``) go to the ``RobotChannel`` waiting for them.
- ``aibot_event_callback``: ``enter_chat`` gets a welcome (``aibot_respond_welcome_msg``);
  ``disconnected_event`` means another connection took the robot over. We end the session
  (``Superseded``) and do not fight back: the lease decides who connects again.
- ``ping`` every ``heartbeat`` seconds (WeCom: 30 s); two heartbeats without a frame from
  WeCom and the socket counts as dropped.

Unreadable frames (not JSON, unknown cmd, missing fields) are logged and skipped.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from bot.config import WeComSettings
from bot.connections.runner import Link
from bot.errors import LinkDropped, LoginRefused, MalformedRequest, Superseded
from bot.platforms.wecom import wire
from handlers.messages import InboundMessage, Reply

if TYPE_CHECKING:
    from bot.platforms.wecom.robot_push import RobotChannel

log = logging.getLogger("edubot.wecom.longconn")

MAX_REPLY_BYTES = 20_480
WELCOME = "您好！我是评审助手。发送“帮助”查看可用的命令。"
_CUT = "\n…（内容过长，已截断）"


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame from WeCom: a command with a body, or the answer to one of ours."""

    cmd: str
    req_id: str
    body: dict[str, Any]
    errcode: int | None
    errmsg: str


def parse_frame(raw: str | bytes) -> Frame:
    """The frame in ``raw``; ``MalformedRequest`` for anything else."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise MalformedRequest("wecom longconn: frame is not JSON") from exc
    if not isinstance(data, dict) or not isinstance(data.get("headers"), dict):
        raise MalformedRequest("wecom longconn: frame has no headers object")
    req_id = data["headers"].get("req_id")
    if not isinstance(req_id, str) or not req_id:
        raise MalformedRequest("wecom longconn: frame has no req_id")
    cmd, body, errcode = data.get("cmd") or "", data.get("body") or {}, data.get("errcode")
    if not isinstance(cmd, str) or not isinstance(body, dict):
        raise MalformedRequest("wecom longconn: frame cmd or body has the wrong type")
    if errcode is not None and not isinstance(errcode, int):
        raise MalformedRequest("wecom longconn: frame errcode is not a number")
    errmsg = data.get("errmsg")
    return Frame(cmd, req_id, body, errcode, errmsg if isinstance(errmsg, str) else "")


def request(cmd: str, req_id: str, body: dict[str, Any] | None = None) -> str:
    """One frame to WeCom."""
    frame: dict[str, Any] = {"cmd": cmd, "headers": {"req_id": req_id}}
    if body is not None:
        frame["body"] = body
    return json.dumps(frame, ensure_ascii=False)


def stream_reply(reply: Reply, stream_id: str) -> dict[str, Any]:
    """The ``aibot_respond_msg`` body: one finished stream message, cut to WeCom's limit."""
    content = reply.text
    if len(content.encode("utf-8")) > MAX_REPLY_BYTES:
        room = MAX_REPLY_BYTES - len(_CUT.encode("utf-8"))
        content = content.encode("utf-8")[:room].decode("utf-8", "ignore") + _CUT
    return {"msgtype": "stream", "stream": {"id": stream_id, "finish": True, "content": content}}


Handle = Callable[[InboundMessage], Reply]
"""Records one message and returns the answer (in a worker thread); raises when it could
not be committed."""


class WeComLongConnection:
    """One long connection session: ``await WeComLongConnection(...)(link)``."""

    def __init__(
        self,
        settings: WeComSettings,
        handle: Handle,
        *,
        heartbeat: float = 30.0,
        open_timeout: float = 10.0,
        max_frame_bytes: int = 1024 * 1024,
        channel: RobotChannel | None = None,
    ) -> None:
        self._settings = settings
        self._handle = handle
        self._heartbeat = heartbeat
        self._open_timeout = open_timeout
        self._max_frame = max_frame_bytes
        self._channel = channel
        self._silent_beats = 0

    async def __call__(self, link: Link) -> None:
        """Connect, subscribe and serve until the connection ends (raising why)."""
        self._silent_beats = 0
        try:
            async with _connect(self._settings, self._open_timeout, 4 * self._max_frame) as socket:
                await subscribe(socket, self._settings, self._open_timeout)
                link.up()
                if self._channel is not None:
                    self._channel.attach(socket)  # the outbox may push through it now
                try:
                    await self._serve(socket)
                finally:
                    if self._channel is not None:
                        self._channel.detach(socket)
        except InvalidHandshake as exc:
            raise LinkDropped(f"wecom longconn: handshake refused: {exc}") from exc

    async def _serve(self, socket: ClientConnection) -> None:
        queue: asyncio.Queue[tuple[str, dict[str, Any]] | None] = asyncio.Queue()
        worker = asyncio.create_task(self._work(socket, queue))
        tasks = [
            asyncio.create_task(self._read(socket, queue)),
            asyncio.create_task(self._beat(socket)),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # the LinkError that ended the session
        finally:
            for task in tasks:
                task.cancel()
            queue.put_nowait(None)  # what arrived is still handled before the session ends
            await asyncio.shield(worker)

    async def _read(
        self, socket: ClientConnection, queue: asyncio.Queue[tuple[str, dict[str, Any]] | None]
    ) -> None:
        try:
            async for raw in socket:
                self._silent_beats = 0
                await self._on_frame(socket, raw, queue)
        except ConnectionClosed as exc:
            raise LinkDropped(f"wecom longconn: connection lost ({exc})") from exc
        raise LinkDropped("wecom longconn: WeCom closed the connection")

    async def _beat(self, socket: ClientConnection) -> None:
        while True:
            await asyncio.sleep(self._heartbeat)
            if self._silent_beats >= 2:
                await socket.close()
                raise LinkDropped("wecom longconn: silent for two heartbeats")
            self._silent_beats += 1
            await socket.send(request("ping", _req_id("ping")))

    async def _on_frame(
        self,
        socket: ClientConnection,
        raw: str | bytes,
        queue: asyncio.Queue[tuple[str, dict[str, Any]] | None],
    ) -> None:
        try:
            if len(raw) > self._max_frame:
                raise MalformedRequest("wecom longconn: frame over the size limit")
            frame = parse_frame(raw)
        except MalformedRequest as exc:
            log.warning("%s; skipped (%d bytes)", exc.reason, len(raw))
            return
        if frame.cmd == "aibot_msg_callback":
            queue.put_nowait((frame.req_id, frame.body))
        elif frame.cmd == "aibot_event_callback":
            await self._on_event(socket, frame)
        elif not frame.cmd:
            if self._channel is not None and self._channel.answered(frame):
                return  # the answer to a push (aibot_send_msg)
            if frame.errcode not in (0, None):
                log.warning(
                    "wecom longconn: %s refused: %s %s", frame.req_id, frame.errcode, frame.errmsg
                )
        else:
            log.warning("wecom longconn: unknown cmd %.40r skipped", frame.cmd)

    async def _on_event(self, socket: ClientConnection, frame: Frame) -> None:
        event = frame.body.get("event")
        kind = event.get("eventtype") if isinstance(event, dict) else None
        if kind == "disconnected_event":
            raise Superseded("wecom longconn: another connection took the robot over")
        if kind == "enter_chat":
            body = {"msgtype": "text", "text": {"content": WELCOME}}
            await socket.send(request("aibot_respond_welcome_msg", frame.req_id, body))
        else:
            log.info("wecom longconn: event %.40r not handled", kind)

    async def _work(
        self, socket: ClientConnection, queue: asyncio.Queue[tuple[str, dict[str, Any]] | None]
    ) -> None:
        while (item := await queue.get()) is not None:
            req_id, body = item
            try:
                message = wire.parse_robot_message(json.dumps(body, ensure_ascii=False))
                reply = await asyncio.to_thread(self._handle, message)
            except MalformedRequest as exc:
                log.warning("wecom longconn: %s skipped: %s", req_id, exc.reason)
                continue
            except Exception:
                log.exception("wecom longconn: %s could not be handled", req_id)
                continue
            answer = stream_reply(reply, f"s{message.message_id}"[:64])
            try:
                await socket.send(request("aibot_respond_msg", req_id, answer))
            except ConnectionClosed:
                log.warning("wecom longconn: %s recorded, but the socket closed first", req_id)


def _connect(settings: WeComSettings, open_timeout: float, max_size: int) -> connect:
    return connect(
        settings.robot_ws_url,
        proxy=settings.proxy or True,
        open_timeout=open_timeout,
        ping_interval=None,  # WeCom's own ping command keeps the connection alive
        close_timeout=2.0,  # a dead socket is given up quickly, not after 10 s
        max_size=max_size,
    )


async def subscribe(socket: ClientConnection, settings: WeComSettings, timeout: float) -> None:
    """``aibot_subscribe`` with the robot's id and secret; ``LoginRefused`` when WeCom says
    no, ``LinkDropped`` when it does not answer within ``timeout``."""
    req_id = _req_id("aibot_subscribe")
    body = {"bot_id": settings.robot_bot_id, "secret": settings.robot_secret}
    await socket.send(request("aibot_subscribe", req_id, body))
    try:
        async with asyncio.timeout(timeout):
            while True:
                frame = parse_frame(await socket.recv())
                if frame.req_id == req_id:
                    break
    except TimeoutError as exc:
        raise LinkDropped("wecom longconn: no answer to aibot_subscribe") from exc
    except (ConnectionClosed, MalformedRequest) as exc:
        raise LinkDropped(f"wecom longconn: subscribe failed: {exc}") from exc
    if frame.errcode != 0:
        raise LoginRefused(f"wecom longconn: subscribe refused: {frame.errcode} {frame.errmsg}")


async def probe(settings: WeComSettings, *, timeout: float) -> None:
    """Connect, subscribe and close again (``edubot doctor``); raises a ``LinkError`` (or
    ``OSError`` / ``TimeoutError`` from the network) saying why not."""
    try:
        async with _connect(settings, timeout, 1024 * 1024) as socket:
            await subscribe(socket, settings, timeout)
    except InvalidHandshake as exc:
        raise LinkDropped(f"wecom longconn: handshake refused: {exc}") from exc


def _req_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"
