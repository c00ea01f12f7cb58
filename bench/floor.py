"""The intake floor: the same callbacks opened, parsed and committed by one loop, no HTTP.

``python -m bench.floor --config X --requests FILE --duration 10 --out FILE`` runs in a
process of its own: ``build_services`` (migrations, config sync), then for each pre-built
request what the endpoint does minus HTTP — the WeCom app callback's ``parse`` (the
envelope, the signature, AES and the message XML) and ``Dispatcher.process`` (one
transaction).
``--profile FILE`` writes a pyinstrument text profile of the loop when pyinstrument is
installed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.workload import PreparedRequest, load_requests
from bot.app import Services, build_services
from bot.config import load_settings
from bot.platforms.inbound import WireRequest
from handlers.messages import InboundMessage


def run_floor(
    services: Services, requests: list[PreparedRequest], *, duration: float
) -> dict[str, Any]:
    """Process ``requests`` in order until ``duration`` seconds have passed; the tallies."""
    callback = services.callbacks["wecom_app"]
    statuses: Counter[str] = Counter()
    start = time.perf_counter()
    cpu_start = time.process_time()
    deadline = start + duration
    done = 0
    for request in requests:
        if time.perf_counter() >= deadline:
            break
        wire = WireRequest("POST", request.query, {})
        message = callback.parse(wire, request.body, now=services.clock.now())
        assert isinstance(message, InboundMessage)
        statuses[services.dispatcher.process(message).status] += 1
        done += 1
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    return {
        "cpu_ms_per_message": 1000 * cpu / done if done else None,
        "processed": done,
        "statuses": dict(statuses),
        "elapsed_s": elapsed,
        "throughput": done / elapsed if elapsed else 0.0,
    }


def main(argv: list[str] | None = None) -> None:
    """The command line: run the floor and write its result as JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench.floor", description=__doc__)
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--requests", type=Path, required=True)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--profile", type=Path)
    args = parser.parse_args(argv)
    services = build_services(load_settings(args.config))
    requests = load_requests(args.requests)
    profiler: Any = None
    if args.profile:
        with contextlib.suppress(ImportError):
            from pyinstrument import Profiler  # noqa: PLC0415 - optional, profiling only

            profiler = Profiler()
            profiler.start()
    try:
        result = run_floor(services, requests, duration=args.duration)
    finally:
        services.engine.dispose()
    if profiler is not None:
        profiler.stop()
        args.profile.write_text(profiler.output_text(show_all=False), encoding="utf-8")
    args.out.write_text(json.dumps(result), encoding="utf-8")


if __name__ == "__main__":
    main()
