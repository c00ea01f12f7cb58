"""Slow clients are dropped (issue 17, item 8): a connection stalled in its headers or in its
body is closed after the read deadline, while other clients are served all along."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from bot.app import Services, create_app
from bot.http_timeouts import timed_protocol

pytestmark = pytest.mark.fault

READ_TIMEOUT_S = 0.5


@pytest.fixture
def server(sqlite_services: Services) -> Iterator[int]:
    listener = socket.create_server(("127.0.0.1", 0))
    port = int(listener.getsockname()[1])
    config = uvicorn.Config(
        create_app(sqlite_services),
        http=timed_protocol(READ_TIMEOUT_S),
        lifespan="off",
        log_level="warning",
        ws="none",
    )
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not running.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield port
    running.should_exit = True
    thread.join(timeout=10)
    listener.close()


def _stalled(port: int, payload: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(payload)
    return sock


def _closed_by_server(sock: socket.socket) -> bool:
    """Read until the server closes (True) or 10 s pass (False)."""
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True
    return True


def test_clients_stalled_in_headers_or_body_are_dropped_and_others_are_served(
    server: int,
) -> None:
    in_headers = [
        _stalled(server, b"POST /dingtalk/callback HTTP/1.1\r\nHost: x\r\ntimest")
        for _ in range(20)
    ]
    in_body = [
        _stalled(
            server,
            b'POST /dingtalk/callback HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"a"',
        )
        for _ in range(20)
    ]
    silent = [_stalled(server, b"") for _ in range(20)]
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server}", timeout=5) as client:
            assert client.get("/healthz").status_code == 200  # served while they stall
        for sock in [*in_headers, *in_body, *silent]:
            assert _closed_by_server(sock)
        with httpx.Client(base_url=f"http://127.0.0.1:{server}", timeout=5) as client:
            assert client.get("/healthz").status_code == 200
    finally:
        for sock in [*in_headers, *in_body, *silent]:
            sock.close()


def test_a_request_that_arrives_in_pieces_within_the_deadline_is_served(server: int) -> None:
    with socket.create_connection(("127.0.0.1", server), timeout=5) as sock:
        for piece in (b"GET /healthz HTTP/1.1\r\n", b"Host: x\r\n", b"\r\n"):
            sock.sendall(piece)
            time.sleep(READ_TIMEOUT_S / 5)
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
