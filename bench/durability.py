"""What durability costs on SQLite: ``synchronous=FULL`` (the default) against ``NORMAL``.

``python -m bench.durability [--duration 5] [--runs 3] [--dir PATH]`` runs the intake floor
(decrypt, parse, dispatch: one transaction per scoring message, no HTTP; ``bench.floor``)
on a fresh database for each mode in turn, alternating the modes run by run, and prints
messages per second and the time per message. ``--dir`` puts the databases on the disk you
mean to measure (the default is a temporary folder, often tmpfs, where syncing is free).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bench.floor import run_floor
from bench.workload import Shape, build_requests, intake_config, score_messages
from bot.app import build_services
from bot.config import settings_from_mapping

SHAPE = Shape(4, 8, 50)


def one_run(mode: str, folder: Path, duration: float) -> float:
    """Messages per second for ``duration`` seconds with ``sqlite_synchronous=mode``."""
    data = intake_config(SHAPE, db_url=f"sqlite:///{folder / f'{mode}.db'}", data_dir=str(folder))
    data["database"]["sqlite_synchronous"] = mode
    services = build_services(settings_from_mapping(data))
    messages = score_messages(SHAPE, SHAPE.sheets)
    requests = build_requests(messages, create_time=int(time.time()))
    try:
        return float(run_floor(services, requests, duration=duration)["throughput"])
    finally:
        services.engine.dispose()
        for suffix in ("", "-wal", "-shm"):
            (folder / f"{mode}.db{suffix}").unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> None:
    """The command line: alternate the modes, print the medians."""
    parser = argparse.ArgumentParser(prog="python -m bench.durability", description=__doc__)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", type=Path)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        rates: dict[str, list[float]] = {"normal": [], "full": []}
        for _ in range(args.runs):
            for mode, runs in rates.items():
                runs.append(one_run(mode, Path(tmp), args.duration))
    for mode, runs in rates.items():
        median = statistics.median(runs)
        shown = ", ".join(f"{r:.0f}" for r in runs)
        print(f"{mode:>6}: {median:7.0f} messages/s ({1000 / median:.2f} ms each; runs {shown})")
    slower = 1 - statistics.median(rates["full"]) / statistics.median(rates["normal"])
    print(f"FULL costs {slower:.0%} of intake throughput on {args.dir or tempfile.gettempdir()}")


if __name__ == "__main__":
    main()
