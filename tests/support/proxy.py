"""A loopback TCP proxy that can stop forwarding: a database that stops answering while every
TCP connection stays up (a stopped server, a firewall dropping packets), which no
connection-refused test can show."""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
from types import TracebackType


class BlackHoleProxy:
    """Forwards ``127.0.0.1:<port>`` to ``127.0.0.1:<upstream>`` until ``stop_forwarding``.

    While stopped, connections are still accepted and kept open, and nothing is read or
    written: the bytes wait in the kernel's buffers and flow again after ``resume``.
    """

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._forwarding = threading.Event()
        self._forwarding.set()
        self._closed = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> BlackHoleProxy:
        self._spawn(self._accept)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._closed.set()
        self._forwarding.set()
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def stop_forwarding(self) -> None:
        self._forwarding.clear()

    def resume(self) -> None:
        self._forwarding.set()

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self._spawn(self._pipe, client)

    def _pipe(self, client: socket.socket) -> None:
        # Stopped means not even connecting upstream: a new connection hangs as an old one does.
        self._forwarding.wait()
        if self._closed.is_set():
            client.close()
            return
        try:
            server = socket.create_connection(("127.0.0.1", self.upstream), timeout=5)
        except OSError:
            client.close()
            return
        server.settimeout(None)
        with self._lock:
            self._sockets += [client, server]
        peers = {client: server, server: client}
        with selectors.DefaultSelector() as selector:
            for sock in peers:
                selector.register(sock, selectors.EVENT_READ)
            while not self._closed.is_set():
                self._forwarding.wait()
                for key, _ in selector.select(timeout=0.05):
                    if not self._forwarding.is_set():
                        break  # stopped while waiting: leave the bytes where they are
                    if not self._relay(key.fileobj, peers):  # type: ignore[arg-type]
                        for sock in peers:
                            with contextlib.suppress(OSError):
                                sock.close()
                        return

    @staticmethod
    def _relay(source: socket.socket, peers: dict[socket.socket, socket.socket]) -> bool:
        try:
            data = source.recv(65536)
            if not data:
                return False
            peers[source].sendall(data)
        except OSError:
            return False
        return True
