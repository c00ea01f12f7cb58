"""The load process: POSTs pre-built WeCom callbacks to ``edubot serve`` over loopback.

``python -m bench.loadgen --url URL --requests FILE --out FILE closed --concurrency 32
--duration 10`` keeps 32 requests in flight for 10 s (sustained throughput);
``... open --rate 500 --duration 5`` sends at exact intervals whatever the answers (latency
at a fixed offered load, measured from each request's scheduled time, so a slow server
cannot hide its queue). Both stop at the end of the request pool; a request not answered
within ``--timeout`` seconds of its scheduled time counts as a timeout, so nothing runs past
``--duration`` plus ``--timeout``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httptools

from bench.workload import PreparedRequest, load_requests

CALLBACK = "/wecom/callback"
CONTENT_TYPE = "text/xml; charset=utf-8"


class Tally:
    def __init__(self) -> None:
        self.latencies_ms: list[float] = []
        self.failed_after_ms: list[float] = []
        self.statuses: Counter[str] = Counter()
        self.sent = 0
        self.first_send = 0.0
        self.last_answer = 0.0

    def done(self, status: str, started: float) -> None:
        now = time.perf_counter()
        self.statuses[status] += 1
        if status == "200":
            self.latencies_ms.append((now - started) * 1000)
        else:
            self.failed_after_ms.append((now - started) * 1000)
        self.last_answer = max(self.last_answer, now)


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection: a request's bytes out, its status back.

    Requests are pre-encoded and responses parsed by httptools' C parser, so the load
    process spends tens of microseconds per request. An httpx client spent about 1.4 ms,
    most of a core on this 2-core machine, and that core was taken from the server being
    measured.
    """

    def __init__(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[int] | None = None
        self.usable = True

    @classmethod
    async def open(cls, host: str, port: int) -> _Connection:
        loop = asyncio.get_running_loop()
        _, connection = await loop.create_connection(cls, host, port)
        return connection

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(exc)

    def on_message_complete(self) -> None:  # httptools callback
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(self._parser.get_status_code())
        if not self._parser.should_keep_alive():
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.usable = False
        self._fail(exc or ConnectionResetError("the server closed the connection"))

    def _fail(self, exc: BaseException) -> None:
        self.usable = False
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)

    async def request(self, raw: bytes) -> int:
        assert self._transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self._transport.write(raw)
        return await self._waiter

    def close(self) -> None:
        self.usable = False
        if self._transport is not None:
            self._transport.abort()


class _Pool:
    """Idle connections to one server, opened as needed (up to ``limit`` at once)."""

    def __init__(self, url: str, limit: int) -> None:
        parts = urlsplit(url)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 80
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(limit)

    def encode(self, request: PreparedRequest) -> bytes:
        """The whole HTTP request, built before timing starts."""
        head = (
            f"POST {CALLBACK}?{urlencode(request.query)} HTTP/1.1\r\n"
            f"Host: {self._host}:{self._port}\r\n"
            f"Content-Type: {CONTENT_TYPE}\r\n"
            f"Content-Length: {len(request.body)}\r\n\r\n"
        )
        return head.encode("ascii") + request.body

    async def post(self, raw: bytes, *, within: float) -> str:
        """Send one request; what is not answered ``within`` seconds counts as a timeout."""
        try:
            async with asyncio.timeout(max(within, 0.0)), self._slots:
                reused = self._take_idle()
                if reused is not None:
                    try:
                        return str(await self._exchange(reused, raw))
                    except ConnectionError:
                        pass  # the server closed it meanwhile (keep-alive timeout): once more
                fresh = await _Connection.open(self._host, self._port)
                return str(await self._exchange(fresh, raw))
        except TimeoutError:
            return "timeout"
        except OSError as exc:
            return type(exc).__name__
        except httptools.HttpParserError:
            return "bad-response"

    def _take_idle(self) -> _Connection | None:
        while self._idle:
            connection = self._idle.pop()
            if connection.usable:
                return connection
        return None

    async def _exchange(self, connection: _Connection, raw: bytes) -> int:
        try:
            status = await connection.request(raw)
        except BaseException:
            connection.close()  # an answer may still come: never reuse it
            raise
        if connection.usable:
            self._idle.append(connection)
        return status

    def close(self) -> None:
        for connection in self._idle:
            connection.close()
        self._idle.clear()


async def closed_loop(
    url: str, requests: list[PreparedRequest], *, concurrency: int, duration: float, timeout: float
) -> Tally:
    tally = Tally()
    pool = _Pool(url, concurrency)
    encoded = [pool.encode(request) for request in requests]
    next_index = 0
    tally.first_send = time.perf_counter()
    deadline = tally.first_send + duration

    async def worker() -> None:
        nonlocal next_index
        while time.perf_counter() < deadline and next_index < len(encoded):
            raw = encoded[next_index]
            next_index += 1
            tally.sent += 1
            started = time.perf_counter()
            tally.done(await pool.post(raw, within=timeout), started)

    try:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        pool.close()
    return tally


OPEN_CONNECTIONS = 1024
"""Open loop: at most this many requests in flight (one connection each); a server that
falls behind makes the load process open more connections, as WeCom's servers would."""


async def open_loop(
    url: str, requests: list[PreparedRequest], *, rate: float, duration: float, timeout: float
) -> Tally:
    tally = Tally()
    count = min(len(requests), int(rate * duration))
    pool = _Pool(url, OPEN_CONNECTIONS)
    encoded = [pool.encode(request) for request in requests[:count]]
    tasks: list[asyncio.Task[None]] = []

    async def one(raw: bytes, scheduled: float) -> None:
        within = scheduled + timeout - time.perf_counter()
        tally.done(await pool.post(raw, within=within), scheduled)

    start = time.perf_counter() + 0.05
    tally.first_send = start
    try:
        for i, raw in enumerate(encoded):
            scheduled = start + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tally.sent += 1
            tasks.append(asyncio.create_task(one(raw, scheduled)))
        await asyncio.gather(*tasks)
    finally:
        pool.close()
    return tally


def summary(tally: Tally, mode: str) -> dict[str, Any]:
    elapsed = max(tally.last_answer - tally.first_send, 1e-9)
    ok = tally.statuses.get("200", 0)
    return {
        "mode": mode,
        "sent": tally.sent,
        "ok": ok,
        "statuses": dict(tally.statuses),
        "elapsed_s": elapsed,
        "throughput": ok / elapsed,
        "latencies_ms": tally.latencies_ms,
        "failed_after_ms": tally.failed_after_ms,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen", description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--requests", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--skip", type=int, default=0, help="start at this request")
    sub = parser.add_subparsers(dest="mode", required=True)
    closed = sub.add_parser("closed")
    closed.add_argument("--concurrency", type=int, default=32)
    closed.add_argument("--duration", type=float, default=10.0)
    opened = sub.add_parser("open")
    opened.add_argument("--rate", type=float, default=500.0)
    opened.add_argument("--duration", type=float, default=5.0)
    args = parser.parse_args(argv)
    requests = load_requests(args.requests)[args.skip :]
    if args.mode == "closed":
        tally = asyncio.run(
            closed_loop(
                args.url,
                requests,
                concurrency=args.concurrency,
                duration=args.duration,
                timeout=args.timeout,
            )
        )
    else:
        tally = asyncio.run(
            open_loop(
                args.url, requests, rate=args.rate, duration=args.duration, timeout=args.timeout
            )
        )
    args.out.write_text(json.dumps(summary(tally, args.mode)), encoding="utf-8")


if __name__ == "__main__":
    main()
