"""How long the disk under a database takes to make one small write durable.

``python -m bench.disk [--dir PATH] [--duration 5] [--rate 500]`` overwrites 4 KiB blocks of
a 4 MiB file and ``fdatasync``s after each, at ``rate`` a second for ``duration`` seconds:
what SQLite does with ``synchronous = full`` for each commit once its WAL has reached its
working size. Nothing else runs, so what it reports is the disk's own latency, the floor
under any intake answer that must survive a power cut (``bench.intake`` runs it next to
its 500/s phase on the same folder).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import percentile

BLOCK = 4096
FILE_SIZE = 4 << 20
STALL_MS = 20.0
"""A sync this slow alone takes an answer waiting on it past the intake's p99 target."""


def sync_probe(folder: Path, *, duration_s: float = 5.0, rate: float = 500.0) -> dict[str, Any]:
    """Sync latencies in ms over ``duration_s``: p50, p99, max, and the syncs of
    ``STALL_MS`` or more (``stalls``: count; ``stall_ms``: their total)."""
    if not hasattr(os, "fdatasync"):
        raise RuntimeError("fdatasync is not available on this platform")
    path = folder / "disk-probe.bin"
    block = os.urandom(BLOCK)
    latencies: list[float] = []
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, b"\0" * FILE_SIZE)  # the file's size stays put from here on
        os.fsync(fd)
        interval = 1.0 / rate
        start = time.perf_counter()
        for n in range(int(duration_s * rate)):
            os.pwrite(fd, block, (n * BLOCK) % FILE_SIZE)
            before = time.perf_counter()
            os.fdatasync(fd)
            latencies.append((time.perf_counter() - before) * 1000)
            pause = start + (n + 1) * interval - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
    finally:
        os.close(fd)
        path.unlink(missing_ok=True)
    stalls = [ms for ms in latencies if ms >= STALL_MS]
    return {
        "syncs": len(latencies),
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "max_ms": max(latencies),
        "stalls": len(stalls),
        "stall_ms": sum(stalls),
    }


def main(argv: list[str] | None = None) -> None:
    """The command line: one probe, printed as JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench.disk", description=__doc__)
    parser.add_argument("--dir", type=Path, help="a folder on the disk to measure")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=500.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        result = sync_probe(Path(folder), duration_s=args.duration, rate=args.rate)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
