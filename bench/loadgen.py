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
import contextlib
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from bench.workload import PreparedRequest, load_requests

CALLBACK = "/wecom/callback"
HEADERS = {"Content-Type": "text/xml; charset=utf-8"}


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


async def _post(
    client: httpx.AsyncClient, url: str, request: PreparedRequest, *, within: float
) -> str:
    """POST one callback; whatever is not answered ``within`` seconds counts as a timeout."""
    try:
        async with asyncio.timeout(max(within, 0.0)):
            response = await client.post(
                url, content=request.body, params=request.query, headers=HEADERS
            )
    except (TimeoutError, httpx.TimeoutException):
        return "timeout"
    except httpx.HTTPError as exc:
        return type(exc).__name__
    return str(response.status_code)


def _client(connections: int, timeout: float) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(timeout=timeout, limits=limits)


async def closed_loop(
    url: str, requests: list[PreparedRequest], *, concurrency: int, duration: float, timeout: float
) -> Tally:
    tally = Tally()
    async with _client(concurrency, timeout) as client:
        target = url + CALLBACK
        next_index = 0
        tally.first_send = time.perf_counter()
        deadline = tally.first_send + duration

        async def worker() -> None:
            nonlocal next_index
            while time.perf_counter() < deadline and next_index < len(requests):
                request = requests[next_index]
                next_index += 1
                tally.sent += 1
                started = time.perf_counter()
                tally.done(await _post(client, target, request, within=timeout), started)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return tally


SHARDS = 32
"""Open loop: requests go round-robin over this many clients of 32 connections each.
One httpx pool of a thousand connections spends its time in the pool's own bookkeeping
(quadratic in waiting requests) once the server falls behind, and the load process, not
the server, would set the latency."""


async def open_loop(
    url: str, requests: list[PreparedRequest], *, rate: float, duration: float, timeout: float
) -> Tally:
    tally = Tally()
    count = min(len(requests), int(rate * duration))
    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(_client(32, timeout)) for _ in range(SHARDS)]
        target = url + CALLBACK
        tasks: list[asyncio.Task[None]] = []

        async def one(
            client: httpx.AsyncClient, request: PreparedRequest, scheduled: float
        ) -> None:
            within = scheduled + timeout - time.perf_counter()
            tally.done(await _post(client, target, request, within=within), scheduled)

        start = time.perf_counter() + 0.05
        tally.first_send = start
        for i in range(count):
            scheduled = start + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tally.sent += 1
            client = clients[i % SHARDS]
            tasks.append(asyncio.create_task(one(client, requests[i], scheduled)))
        await asyncio.gather(*tasks)
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
