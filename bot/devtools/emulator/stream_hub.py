"""The emulated DingTalk Stream gateway: tickets, sockets and the frames on them.

``POST /v1.0/gateway/connections/open`` checks the app's key and secret (an unknown pair is
refused with HTTP 401) and issues a single-use ticket; ``/gateway/stream?ticket=...`` is
the socket. Tests and the demo drive the gateway side from their own thread::

    hub.wait_for_peers(1)
    ack = hub.deliver(body)      # a robot message as a CALLBACK frame; waits for its ack
    hub.disconnect(grace=0.5)    # SYSTEM disconnect, the socket closed ``grace`` s later
    hub.drop()                   # every socket closed at once (a network failure)

Every upstream frame (acks) is kept in ``upstream`` for the test to read.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.websockets import WebSocket, WebSocketDisconnect

from bot.devtools.emulator.records import DingTalkApp

ROBOT_TOPIC = "/v1.0/im/bot/messages/get"


@dataclass(eq=False)
class Peer:
    """One connected client socket and the acks it still owes."""

    socket: WebSocket
    loop: asyncio.AbstractEventLoop
    app_key: str
    pending: dict[str, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    draining: bool = False
    closing: asyncio.Task[None] | None = None


class DingTalkStreamHub:
    """The gateway's memory; ``find_app(key, secret)`` is the emulator's app registry."""

    def __init__(self, find_app: Callable[[str, str], DingTalkApp | None]) -> None:
        self._find_app = find_app
        self._lock = threading.Lock()
        self._tickets: dict[str, str] = {}
        self._peers: list[Peer] = []
        self.upstream: list[dict[str, Any]] = []
        self.opened = 0
        self.refused = 0
        self.subscriptions: list[Any] = []
        """What the last ``connections/open`` subscribed to."""

    # --- routes ---------------------------------------------------------------------------

    async def open_connection(self, request: Request) -> Response:
        """``POST /v1.0/gateway/connections/open``: a ticket and the socket's endpoint."""
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return _error(400, "InvalidParameter", "body is not a JSON object")
        key, secret = body.get("clientId"), body.get("clientSecret")
        app = None
        if isinstance(key, str) and isinstance(secret, str):
            app = self._find_app(key, secret)
        if app is None:
            with self._lock:
                self.refused += 1
            return _error(401, "InvalidAuthentication", "clientId or clientSecret is wrong")
        ticket = secrets.token_urlsafe(24)
        with self._lock:
            self.subscriptions = list(body.get("subscriptions") or [])
            self._tickets[ticket] = app.app_key
        endpoint = str(request.base_url).replace("http", "ws", 1).rstrip("/") + "/gateway/stream"
        return JSONResponse({"endpoint": endpoint, "ticket": ticket})

    async def stream(self, socket: WebSocket) -> None:
        """``/gateway/stream?ticket=``: a ticket is good for one socket."""
        with self._lock:
            app_key = self._tickets.pop(socket.query_params.get("ticket", ""), None)
        if app_key is None:
            await socket.close(code=4001)  # before accept: the handshake is refused (403)
            return
        await socket.accept()
        peer = Peer(socket, asyncio.get_running_loop(), app_key)
        with self._lock:
            self._peers.append(peer)
            self.opened += 1
        try:
            while True:
                self._receive(peer, await socket.receive_text())
        except WebSocketDisconnect:
            pass
        finally:
            with self._lock:
                self._peers.remove(peer)

    def _receive(self, peer: Peer, text: str) -> None:
        frame = json.loads(text)
        with self._lock:
            self.upstream.append(frame)
        message_id = frame.get("headers", {}).get("messageId", "")
        waiting = peer.pending.pop(message_id, None)
        if waiting is not None and not waiting.done():
            waiting.set_result(frame)

    # --- the gateway's side, driven from another thread -----------------------------------

    def peers(self) -> int:
        """How many sockets are connected now (draining ones included)."""
        with self._lock:
            return len(self._peers)

    def wait_for_peers(self, count: int = 1, *, timeout: float = 5.0, fresh: bool = True) -> None:
        """Block until ``count`` sockets (not draining, with ``fresh``) are connected."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                live = [p for p in self._peers if not (fresh and p.draining)]
            if len(live) >= count:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(live)} of {count} stream connections after {timeout} s")
            time.sleep(0.01)

    def deliver(self, body: bytes | str, *, timeout: float = 5.0) -> dict[str, Any]:
        """Send a robot message (the HTTP callback's JSON) and wait for its ack."""
        data = body.decode("utf-8") if isinstance(body, bytes) else body
        return self.exchange("CALLBACK", ROBOT_TOPIC, data, timeout=timeout)

    def ping(self, *, timeout: float = 5.0) -> dict[str, Any]:
        """A SYSTEM ping; the answer must echo its ``opaque``."""
        data = json.dumps({"opaque": secrets.token_hex(8)})
        return self.exchange("SYSTEM", "ping", data, timeout=timeout)

    def exchange(self, kind: str, topic: str, data: str, *, timeout: float = 5.0) -> dict[str, Any]:
        """Send one frame to the newest socket and wait for the frame answering it."""
        peer = self._current()
        text, message_id = _frame(kind, topic, data)
        answer: dict[str, Any] = self._call(
            peer, self._send_and_wait(peer, text, message_id), timeout
        )
        return answer

    async def deliver_here(self, body: str, *, timeout: float = 10.0) -> dict[str, Any]:
        """``deliver`` from the server's own event loop (the ``/_emulator`` route)."""
        peer = self._current()
        text, message_id = _frame("CALLBACK", ROBOT_TOPIC, body)
        return await asyncio.wait_for(self._send_and_wait(peer, text, message_id), timeout)

    async def deliver_route(self, request: Request) -> Response:
        """``POST /_emulator/dingtalk/stream``: the body (a robot message's JSON) as a
        CALLBACK frame on the newest connection; answers ``{"ack": ...}`` (409: none)."""
        try:
            ack = await self.deliver_here((await request.body()).decode("utf-8"))
        except LookupError as exc:
            return JSONResponse({"error": str(exc)}, status_code=409)
        except TimeoutError:
            return JSONResponse({"error": "no ack within 10 s"}, status_code=504)
        return JSONResponse({"ack": ack})

    def send_raw(self, text: str) -> None:
        """Send anything at all on the newest socket (bad frames)."""
        peer = self._current()
        self._call(peer, peer.socket.send_text(text), 5.0)

    def disconnect(self, *, grace: float = 0.5) -> None:
        """SYSTEM disconnect on every socket; each is closed ``grace`` seconds later."""
        with self._lock:
            peers = [p for p in self._peers if not p.draining]
            for peer in peers:
                peer.draining = True
        for peer in peers:
            frame = {
                "specVersion": "1.0",
                "type": "SYSTEM",
                "headers": {"topic": "disconnect", "messageId": secrets.token_hex(12)},
                "data": json.dumps({"reason": "server maintenance"}),
            }
            self._call(peer, self._disconnect(peer, json.dumps(frame), grace), 5.0)

    def drop(self) -> None:
        """Close every socket at once, as a failing network would."""
        with self._lock:
            peers = list(self._peers)
        for peer in peers:
            self._call(peer, peer.socket.close(code=1011), 5.0)

    def _current(self) -> Peer:
        with self._lock:
            live = [p for p in self._peers if not p.draining]
        if not live:
            raise LookupError("no stream connection is open")
        return live[-1]

    @staticmethod
    def _call(peer: Peer, work: Coroutine[Any, Any, Any], timeout: float) -> Any:
        return asyncio.run_coroutine_threadsafe(work, peer.loop).result(timeout)

    @staticmethod
    async def _send_and_wait(peer: Peer, text: str, message_id: str) -> dict[str, Any]:
        waiting: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        peer.pending[message_id] = waiting
        await peer.socket.send_text(text)
        return await waiting

    @staticmethod
    async def _disconnect(peer: Peer, text: str, grace: float) -> None:
        await peer.socket.send_text(text)

        async def close_later() -> None:
            await asyncio.sleep(grace)
            with contextlib.suppress(RuntimeError):  # already closed by the client
                await peer.socket.close(code=1000)

        peer.closing = peer.loop.create_task(close_later())


def _frame(kind: str, topic: str, data: str) -> tuple[str, str]:
    """A downstream frame's text and its message id."""
    message_id = secrets.token_hex(12)
    frame = {
        "specVersion": "1.0",
        "type": kind,
        "headers": {
            "topic": topic,
            "messageId": message_id,
            "contentType": "application/json",
            "time": str(int(time.time() * 1000)),
        },
        "data": data,
    }
    return json.dumps(frame), message_id


def _error(status: int, code: str, message: str) -> Response:
    return JSONResponse(
        {"code": code, "message": message, "requestid": secrets.token_hex(8)}, status_code=status
    )
