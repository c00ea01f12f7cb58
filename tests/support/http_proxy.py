"""A loopback HTTP proxy that records what went through it: CONNECT tunnels (WebSockets,
HTTPS) and absolute-form requests (plain HTTP), each answered by the real upstream."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from types import TracebackType
from urllib.parse import urlsplit

import pytest


class LoopbackProxy:
    """``with LoopbackProxy() as proxy:`` → ``proxy.url``; ``proxy.requests`` lists each
    request line (``"CONNECT 127.0.0.1:5000 HTTP/1.1"``, ``"POST http://... HTTP/1.1"``)."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.url = ""
        self._tunnels: list[list[bool]] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    def freeze_open_tunnels(self) -> None:
        """Swallow every byte on the tunnels open now (those connections go silent); new
        ones pass as before."""
        for tunnel in self._tunnels:
            tunnel[0] = True

    def __enter__(self) -> LoopbackProxy:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._client, "127.0.0.1", 0), self._loop
        )
        self._server = future.result(5)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        async def close() -> None:
            assert self._server is not None
            self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            line, *header_lines = head.decode("latin-1").split("\r\n")
            self.requests.append(line)
            method, target, version = line.split(" ")
            if method == "CONNECT":
                host, port = target.rsplit(":", 1)
                up_reader, up_writer = await asyncio.open_connection(host, int(port))
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            else:
                url = urlsplit(target)
                up_reader, up_writer = await asyncio.open_connection(url.hostname, url.port or 80)
                kept = [h for h in header_lines if h and not h.lower().startswith("connection:")]
                path = url.path + (f"?{url.query}" if url.query else "")
                request = "\r\n".join([f"{method} {path} {version}", *kept, "Connection: close"])
                up_writer.write((request + "\r\n\r\n").encode("latin-1"))
            frozen = [False]
            self._tunnels.append(frozen)
            await asyncio.gather(_pipe(reader, up_writer, frozen), _pipe(up_reader, writer, frozen))
        except (OSError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            with contextlib.suppress(OSError):
                writer.close()


async def _pipe(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, frozen: list[bool]
) -> None:
    try:
        while data := await reader.read(65536):
            if frozen[0]:
                continue
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            writer.close()


def clear_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy variable set: only a configured proxy can carry a request."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
