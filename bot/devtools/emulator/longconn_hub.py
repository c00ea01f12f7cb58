"""The emulated WeCom intelligent robot long connection (``/aibot-ws``).

A client subscribes with ``aibot_subscribe {bot_id, secret}``; a wrong pair is answered
with a non-zero ``errcode`` and the socket is closed. WeCom keeps one live connection per
robot: a second subscriber gets it, and the first is sent ``disconnected_event`` and
closed. Tests and the demo drive WeCom's side from their own thread::

    hub.wait_for_robot("bot1")
    frame = hub.deliver("bot1", body)     # aibot_msg_callback; waits for aibot_respond_msg
    hub.event("bot1", "enter_chat")       # waits for the welcome
    hub.drop("bot1"); hub.mute = True     # a failing network; a WeCom that stops answering

A robot may push (``aibot_send_msg``, markdown or template card) to a chat someone wrote
to it from: the hub notes each chat it delivers a message from, and the emulator's state
checks and logs every push (``state.messages("wecom", "aibot_send_msg")``), with WeCom's
limits of 30 a minute and 1,000 an hour per robot.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.websockets import WebSocket, WebSocketDisconnect

REFUSED = 40058  # the emulator's code for a bad bot_id or secret


class RobotPushes(Protocol):
    """Where the emulator's state keeps what robots heard and pushed."""

    def robot_heard(self, bot_id: str, chat: str) -> None:
        """Someone wrote to the robot in ``chat``."""
        ...

    def robot_push(self, bot_id: str, body: dict[str, Any]) -> tuple[int, str]:
        """Check and log one push; WeCom's ``(errcode, errmsg)``."""
        ...


@dataclass(eq=False)
class RobotPeer:
    """One subscribed socket and the answers it still owes."""

    socket: WebSocket
    loop: asyncio.AbstractEventLoop
    bot_id: str
    pending: dict[str, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)


class WeComLongHub:
    """What the emulated long connection knows: robots, the live socket per robot, frames."""

    def __init__(self, pushes: RobotPushes) -> None:
        self._pushes = pushes
        self._lock = threading.Lock()
        self._robots: dict[str, str] = {}
        self._live: dict[str, RobotPeer] = {}
        self.upstream: list[dict[str, Any]] = []
        self.subscribed = 0
        self.refused = 0
        self.mute = False
        """While set, pings go unanswered (a connection gone silent)."""

    def add_robot(self, bot_id: str, secret: str) -> None:
        """Register a robot that may subscribe."""
        with self._lock:
            self._robots[bot_id] = secret

    # --- the route ------------------------------------------------------------------------

    async def serve(self, socket: WebSocket) -> None:
        """``/aibot-ws``: subscribe first, then frames until either side closes."""
        await socket.accept()
        try:
            peer = await self._subscribe(socket)
            if peer is None:
                return
            while True:
                await self._receive(peer, json.loads(await socket.receive_text()))
        except (WebSocketDisconnect, ValueError, RuntimeError):
            return
        finally:
            with self._lock:
                for bot_id, live in list(self._live.items()):
                    if live.socket is socket:
                        del self._live[bot_id]

    async def _subscribe(self, socket: WebSocket) -> RobotPeer | None:
        frame = json.loads(await socket.receive_text())
        req_id = frame.get("headers", {}).get("req_id", "")
        body = frame.get("body") or {}
        bot_id, secret = body.get("bot_id"), body.get("secret")
        with self._lock:
            known = self._robots.get(bot_id) if isinstance(bot_id, str) else None
            ok = frame.get("cmd") == "aibot_subscribe" and known is not None and known == secret
            self.refused += 0 if ok else 1
        if not ok:
            answer = {"headers": {"req_id": req_id}, "errcode": REFUSED, "errmsg": "invalid secret"}
            await socket.send_text(json.dumps(answer))
            await socket.close(code=1000)
            return None
        peer = RobotPeer(socket, asyncio.get_running_loop(), str(bot_id))
        with self._lock:
            previous = self._live.get(peer.bot_id)
            self._live[peer.bot_id] = peer
            self.subscribed += 1
        await socket.send_text(
            json.dumps({"headers": {"req_id": req_id}, "errcode": 0, "errmsg": "ok"})
        )
        if previous is not None:
            await self._kick(previous)
        return peer

    @staticmethod
    async def _kick(peer: RobotPeer) -> None:
        event = {
            "cmd": "aibot_event_callback",
            "headers": {"req_id": secrets.token_hex(8)},
            "body": {
                "msgid": secrets.token_hex(8),
                "aibotid": peer.bot_id,
                "msgtype": "event",
                "event": {"eventtype": "disconnected_event"},
            },
        }
        with contextlib.suppress(RuntimeError):  # it went away by itself
            await peer.socket.send_text(json.dumps(event))
            await peer.socket.close(code=1000)

    async def _receive(self, peer: RobotPeer, frame: dict[str, Any]) -> None:
        with self._lock:
            self.upstream.append(frame)
            mute = self.mute
        req_id = frame.get("headers", {}).get("req_id", "")
        if frame.get("cmd") == "ping":
            if not mute:
                answer = {"headers": {"req_id": req_id}, "errcode": 0, "errmsg": "ok"}
                await peer.socket.send_text(json.dumps(answer))
            return
        if frame.get("cmd") == "aibot_send_msg":
            body = frame.get("body")
            code, why = self._pushes.robot_push(peer.bot_id, body if isinstance(body, dict) else {})
            answer = {"headers": {"req_id": req_id}, "errcode": code, "errmsg": why}
            await peer.socket.send_text(json.dumps(answer))
            return
        waiting = peer.pending.pop(req_id, None)
        if waiting is not None and not waiting.done():
            waiting.set_result(frame)

    # --- WeCom's side, driven from another thread -----------------------------------------

    def holder(self, bot_id: str) -> RobotPeer | None:
        """The live connection of ``bot_id``, if any."""
        with self._lock:
            return self._live.get(bot_id)

    def wait_for_robot(
        self, bot_id: str, *, timeout: float = 5.0, besides: Any = None
    ) -> RobotPeer:
        """Block until ``bot_id`` has a live connection (other than ``besides``)."""
        deadline = time.monotonic() + timeout
        while (peer := self.holder(bot_id)) is None or peer is besides:
            if time.monotonic() > deadline:
                raise TimeoutError(f"robot {bot_id} has no connection after {timeout} s")
            time.sleep(0.01)
        return peer

    def deliver(self, bot_id: str, body: dict[str, Any], *, timeout: float = 5.0) -> dict[str, Any]:
        """An ``aibot_msg_callback``; returns the ``aibot_respond_msg`` frame answering it."""
        return self._exchange(bot_id, "aibot_msg_callback", body, timeout)

    def event(
        self, bot_id: str, eventtype: str, *, userid: str = "", timeout: float = 5.0
    ) -> dict[str, Any]:
        """An ``aibot_event_callback``; returns the frame answering it."""
        body = {
            "msgid": secrets.token_hex(8),
            "aibotid": bot_id,
            "chattype": "single",
            "from": {"userid": userid},
            "msgtype": "event",
            "event": {"eventtype": eventtype},
        }
        return self._exchange(bot_id, "aibot_event_callback", body, timeout)

    async def deliver_route(self, request: Request) -> Response:
        """``POST /_emulator/wecom/aibot/{bot_id}``: the body (a robot message's JSON) as an
        ``aibot_msg_callback``; answers ``{"answer": frame}`` (409: no live connection)."""
        peer = self.holder(request.path_params["bot_id"])
        if peer is None:
            return JSONResponse({"error": "the robot has no live connection"}, status_code=409)
        req_id = secrets.token_hex(10)
        body = json.loads(await request.body())
        self._heard(peer.bot_id, body)
        frame = {"cmd": "aibot_msg_callback", "headers": {"req_id": req_id}, "body": body}
        try:
            answer = await asyncio.wait_for(
                _send_and_wait(peer, json.dumps(frame, ensure_ascii=False), req_id), 10.0
            )
        except TimeoutError:
            return JSONResponse({"error": "no answer within 10 s"}, status_code=504)
        return JSONResponse({"answer": answer})

    def send_raw(self, bot_id: str, text: str) -> None:
        """Anything at all on the robot's live socket (bad frames)."""
        peer = self.wait_for_robot(bot_id)
        _call(peer, peer.socket.send_text(text), 5.0)

    def drop(self, bot_id: str) -> None:
        """Close the robot's live socket at once, as a failing network would."""
        peer = self.holder(bot_id)
        if peer is not None:
            _call(peer, peer.socket.close(code=1011), 5.0)

    def _exchange(
        self, bot_id: str, cmd: str, body: dict[str, Any], timeout: float
    ) -> dict[str, Any]:
        peer = self.wait_for_robot(bot_id, timeout=timeout)
        self._heard(bot_id, body)
        req_id = secrets.token_hex(10)
        frame = json.dumps(
            {"cmd": cmd, "headers": {"req_id": req_id}, "body": body}, ensure_ascii=False
        )
        answer: dict[str, Any] = _call(peer, _send_and_wait(peer, frame, req_id), timeout)
        return answer

    def _heard(self, bot_id: str, body: Any) -> None:
        if not isinstance(body, dict):
            return
        sender = body.get("from")
        chat = body.get("chatid") or (sender.get("userid") if isinstance(sender, dict) else "")
        if isinstance(chat, str) and chat:
            self._pushes.robot_heard(bot_id, chat)


async def _send_and_wait(peer: RobotPeer, text: str, req_id: str) -> dict[str, Any]:
    waiting: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
    peer.pending[req_id] = waiting
    await peer.socket.send_text(text)
    return await waiting


def _call(peer: RobotPeer, work: Coroutine[Any, Any, Any], timeout: float) -> Any:
    return asyncio.run_coroutine_threadsafe(work, peer.loop).result(timeout)
