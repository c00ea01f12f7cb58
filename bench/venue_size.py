"""Does a scoring message cost more as its venue fills? The intake floor on three shapes.

``python -m bench.venue_size [--runs 3] [--chunk 2000] [--dir PATH]`` fills, on a fresh SQLite
database each time, every sheet of one of these campaigns, one scoring message per sheet
(decrypt, parse, dispatch: one transaction each, no HTTP; ``bench.floor``):

- ``small``: 1,000 venues of 3 judges × 5 contestants (15 sheets per venue);
- ``mid``: 40 venues of 8 × 50 (400 sheets per venue);
- ``large``: one venue of 25 judges × 800 contestants (20,000 sheets), a 征文 contest.

It prints, per chunk of ``--chunk`` messages as the venues fill, the CPU time per message
(this process's CPU time, so other work on the machine does not blur it) and the wall-clock
rate, then the sustained rate over the whole fill as CPU allows it (1 / CPU per message).
Flat means the last chunk costs what the first did and the three shapes are within 10 % of
each other. The shapes' fills take turns chunk by chunk (``interleaved``).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from bench.floor import run_floor
from bench.workload import Shape, build_requests, intake_config, score_messages
from bot.app import build_services
from bot.config import settings_from_mapping

SHAPES = {
    "small": Shape(1000, 3, 5),
    "mid": Shape(40, 8, 50),
    "large": Shape(1, 25, 800),
}


def one_fill(name: str, folder: Path, chunk: int) -> Iterator[float]:
    """CPU milliseconds per message for each ``chunk`` of one whole fill of shape ``name``,
    one chunk per step, so that fills of several shapes can take turns."""
    shape = SHAPES[name]
    db = folder / f"{name}.db"
    data = intake_config(shape, db_url=f"sqlite:///{db}", data_dir=str(folder / name))
    services = build_services(settings_from_mapping(data))
    requests = build_requests(score_messages(shape, shape.sheets), create_time=int(time.time()))
    try:
        for start in range(0, len(requests), chunk):
            part = requests[start : start + chunk]
            cpu = time.process_time()
            result = run_floor(services, part, duration=3600)
            cpu = time.process_time() - cpu
            assert result["statuses"] == {"ok": len(part)}, result["statuses"]
            yield 1000 * cpu / len(part)
    finally:
        services.engine.dispose()
        for suffix in ("", "-wal", "-shm"):
            (folder / f"{name}.db{suffix}").unlink(missing_ok=True)


def interleaved(names: list[str], folder: Path, chunk: int) -> dict[str, list[float]]:
    """Every shape's fill, chunk by chunk in turn (small's first chunk, mid's, large's,
    small's second …): a slow stretch of a shared machine then falls on every shape alike
    instead of on whichever shape was running. Each shape's CPU ms per message by chunk."""
    fills = {name: one_fill(name, folder, chunk) for name in names}
    costs: dict[str, list[float]] = {name: [] for name in names}
    while fills:
        for name, fill in list(fills.items()):
            try:
                costs[name].append(next(fill))
            except StopIteration:
                del fills[name]
    return costs


def sustained(costs: list[float], chunk: int, total: int) -> float:
    """The whole fill's messages per CPU second from its chunks' CPU ms per message."""
    sizes = [min(chunk, total - start) for start in range(0, total, chunk)]
    return 1000 * sum(sizes) / sum(size * ms for size, ms in zip(sizes, costs, strict=True))


def main(argv: list[str] | None = None) -> None:
    """The command line: alternate the shapes, print per-chunk rates and the medians."""
    parser = argparse.ArgumentParser(prog="python -m bench.venue_size", description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--chunk", type=int, default=2000)
    parser.add_argument("--only", default=",".join(SHAPES), help="comma-separated shapes")
    parser.add_argument("--dir", type=Path)
    args = parser.parse_args(argv)
    names = args.only.split(",")
    whole: dict[str, list[float]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for run in range(args.runs):
            for name, costs in interleaved(names, Path(tmp), args.chunk).items():
                total = SHAPES[name].sheets
                whole[name].append(sustained(costs, args.chunk, total))
                chunks = " ".join(f"{c:.2f}" for c in costs)
                print(f"run {run + 1} {name:>5} ({total} sheets): CPU ms/message by chunk {chunks}")
    for name, runs in whole.items():
        rate = statistics.median(runs)
        print(f"{name:>5}: {rate:6.0f} messages per CPU second (median of {len(runs)})")
    best = max(statistics.median(r) for r in whole.values())
    worst = min(statistics.median(r) for r in whole.values())
    print(f"spread: the slowest shape runs at {worst / best:.0%} of the fastest")


if __name__ == "__main__":
    main()
