"""Shared pieces of the benchmarks: metrics, statistics, child processes, databases.

Every child process is started here and ended in a ``finally`` by its own pid; every wait is
bounded by a deadline; every address is on loopback.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_BENCH_DB = "edubot_bench"
PG_BENCH_URL = f"postgresql://postgres@127.0.0.1:5432/{PG_BENCH_DB}"


# --------------------------------------------------------------------------- metrics


@dataclass
class Metric:
    """One reported number: the median of ``runs``, compared with an optional target."""

    key: str
    label: str
    unit: str
    runs: list[float] = field(default_factory=list)
    target: float | None = None
    higher_is_better: bool = False
    note: str = ""

    @property
    def median(self) -> float | None:
        finite = [r for r in self.runs if r is not None]
        return statistics.median(finite) if finite else None

    @property
    def passed(self) -> bool | None:
        value = self.median
        if self.target is None or value is None:
            return None
        return value >= self.target if self.higher_is_better else value <= self.target

    def as_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "unit": self.unit,
            "median": _clean(self.median),
            "runs": [_clean(r) for r in self.runs],
            "target": self.target,
            "target_is": None if self.target is None else (">=" if self.higher_is_better else "<="),
            "pass": self.passed,
            "note": self.note,
        }


def _clean(value: float | None) -> float | None:
    if value is None or math.isnan(value) or math.isinf(value):
        return None
    return round(value, 4)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of ``values``; nan when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def machine_info() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        mem_kb = int(Path("/proc/meminfo").read_text().splitlines()[0].split()[1])
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "loadavg_at_start": list(os.getloadavg()),
    }


# --------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("PYTHONHASHSEED", "0")
    return env


@dataclass
class Served:
    """An ``edubot serve`` child process and what it took to get it healthy."""

    process: subprocess.Popen[bytes]
    url: str
    startup_s: float


def wait_healthy(url: str, process: subprocess.Popen[bytes], timeout_s: float) -> float:
    """Poll ``/healthz`` until 200; returns the seconds it took. Bounded by ``timeout_s``."""
    start = time.perf_counter()
    deadline = start + timeout_s
    with httpx.Client(timeout=1.0) as client:
        while time.perf_counter() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"edubot serve exited with {process.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                if client.get(f"{url}/healthz").status_code == 200:
                    return time.perf_counter() - start
            time.sleep(0.01)
    raise RuntimeError(f"edubot serve was not healthy within {timeout_s} s")


@contextlib.contextmanager
def serve(
    config: Path,
    *,
    scheduler: bool,
    log_path: Path,
    timeout_s: float = 60.0,
    stop_grace_s: float = 10.0,
    workers: int = 1,
) -> Iterator[Served]:
    """``python -m bot serve`` on a free loopback port, as the README tells operators to run
    it (``--workers N``: when N > 1, wait until every worker is up); killed (by pid) on exit."""
    port = free_port()
    argv = [sys.executable, "-m", "bot", "--log-level", "WARNING", "serve"]
    argv += ["--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--workers", str(workers)]
    if not scheduler:
        argv.append("--no-scheduler")
    url = f"http://127.0.0.1:{port}"
    before = _started(log_path) if log_path.exists() else 0
    with log_path.open("ab") as log:
        start = time.perf_counter()
        process = subprocess.Popen(
            argv, cwd=ROOT, env=child_env(), stdout=log, stderr=subprocess.STDOUT
        )
        try:
            wait_healthy(url, process, timeout_s)
            deadline = time.perf_counter() + timeout_s
            # Every worker, not only the first: each logs the end of its start-up.
            while workers > 1 and _started(log_path) - before < workers:
                if time.perf_counter() > deadline or process.poll() is not None:
                    raise RuntimeError(f"edubot serve did not start {workers} workers")
                time.sleep(0.05)
            yield Served(process, url, time.perf_counter() - start)
        finally:
            stop(process, grace_s=stop_grace_s)


def _started(log_path: Path) -> int:
    """How many serve processes logged the end of their start-up (uvicorn's line)."""
    return log_path.read_text(errors="replace").count("Application startup complete")


def stop(process: subprocess.Popen[bytes], grace_s: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after ``grace_s``; always reaps the child."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (serve's worker processes), from /proc."""
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
    return tree


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU seconds used so far by ``pids`` (from /proc/<pid>/stat)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def rss_mib(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of ``pid`` in MiB, from /proc/<pid>/status."""
    values = {"VmRSS": 0.0, "VmHWM": 0.0}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in values:
            values[name] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


def run_module(module: str, args: list[str], *, timeout_s: float, log_path: Path) -> None:
    """Run ``python -m module args`` to completion (bounded); raise if it failed."""
    argv = [sys.executable, "-m", module, *args]
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            argv, cwd=ROOT, env=child_env(), stdout=log, stderr=subprocess.STDOUT
        )
        try:
            code = process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            stop(process, grace_s=2)
            raise RuntimeError(f"{module} ran longer than {timeout_s} s") from None
        finally:
            stop(process, grace_s=2)
    if code != 0:
        tail = log_path.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"{module} exited with {code}:\n{tail}")


@contextlib.contextmanager
def py_spy(pid: int, out: Path | None) -> Iterator[None]:
    """``py-spy record`` of ``pid`` and its children (collapsed stacks, idle threads too)
    for the block.

    Does nothing when ``out`` is None or py-spy is not installed (``pip install py-spy``).
    """
    exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if out is None or not Path(exe).exists():
        yield
        return
    argv = [exe, "record", "-p", str(pid), "-o", str(out), "--format", "raw", "--idle"]
    argv.append("--subprocesses")  # serve --workers: the supervisor only waits
    with out.with_suffix(".log").open("wb") as log:
        spy = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        with contextlib.suppress(subprocess.TimeoutExpired):
            spy.wait(30)
        stop(spy, grace_s=5)


# --------------------------------------------------------------------------- databases


def postgres_available() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            return True
    except OSError:
        return False


def reset_postgres() -> str:
    """Create ``edubot_bench`` if needed and empty it; returns its URL."""
    import psycopg  # noqa: PLC0415 - only when PostgreSQL is benchmarked

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        exists = admin.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (PG_BENCH_DB,)
        ).fetchone()
        if not exists:
            admin.execute(f'CREATE DATABASE "{PG_BENCH_DB}"')
    with psycopg.connect(PG_BENCH_URL, autocommit=True) as db:
        db.execute("DROP SCHEMA public CASCADE")
        db.execute("CREATE SCHEMA public")
    return PG_BENCH_URL
