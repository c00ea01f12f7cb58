"""Serve an ASGI app on loopback from a background thread (the emulator and the demo).

The socket is bound before uvicorn starts (port 0 = an ephemeral port), so ``base_url`` is
known at once; ``start()`` returns only when uvicorn is serving, and ``stop()`` joins the
thread and leaves no socket open.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Literal

import uvicorn
from starlette.types import ASGIApp


class LoopbackServer:
    """uvicorn serving ``app`` on ``host:port`` in a thread."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        name: str = "edubot-server",
        lifespan: Literal["auto", "on", "off"] = "off",
        host: str = "127.0.0.1",
        port: int = 0,
        startup_timeout_s: float = 10.0,
        shutdown_timeout_s: float = 5.0,
    ) -> None:
        self.app = app
        self.name = name
        self._lifespan = lifespan
        self.host = host
        self._requested_port = port
        self._startup_timeout_s = startup_timeout_s
        self._shutdown_timeout_s = shutdown_timeout_s
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``; e.g. every platform base URL points here."""
        if not self.port:
            raise RuntimeError("the server is not started")
        return f"http://{self.host}:{self.port}"

    def start(self) -> LoopbackServer:
        """Bind, start uvicorn and wait until it serves. Returns ``self``."""
        if self._thread is not None:
            raise RuntimeError("the server is already started")
        # IPPROTO_TCP explicitly: asyncio only disables Nagle on sockets it can tell are TCP,
        # and without it every loopback request waits ~40 ms for a delayed ACK.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.bind((self.host, self._requested_port))
        except OSError:
            sock.close()
            raise
        config = uvicorn.Config(
            self.app,
            loop="asyncio",
            ws="websockets-sansio",  # the emulated long connections; no legacy-API warnings
            lifespan=self._lifespan,
            log_config=None,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=max(1, int(self._shutdown_timeout_s)),
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name=self.name, daemon=True
        )
        self._socket, self._server, self._thread = sock, server, thread
        self.port = sock.getsockname()[1]
        thread.start()
        deadline = time.monotonic() + self._startup_timeout_s
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the server did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        """Ask uvicorn to exit, join its thread and close the socket. Idempotent."""
        server, thread, sock = self._server, self._thread, self._socket
        self._server = self._thread = self._socket = None
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(self._shutdown_timeout_s)
            if thread.is_alive() and server is not None:
                server.force_exit = True
                thread.join(self._shutdown_timeout_s)
        if sock is not None:
            sock.close()
        self.port = 0

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
