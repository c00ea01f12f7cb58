"""Benchmark 1 — intake: encrypted WeCom scoring callbacks into ``edubot serve``.

Per repetition, each phase on a fresh database and a fresh ``edubot serve --no-scheduler``:

- **sustained**: the load process keeps ``concurrency`` requests in flight for ``duration``;
- **500/s**: the load process sends at exact 2 ms intervals; latency from scheduled time;
- **half load**: the same at half of this repetition's sustained rate (for context);
- on SQLite, two more for context: the disk's own sync latency (``bench.disk``, on the same
  folder, at the same rate and for as long), the floor under every answer that must
  survive a power cut; and the 500/s phase again with ``sqlite_synchronous = "normal"``
  (no sync per commit): what durability costs the latency;
- **floor**: ``bench.floor`` runs the same messages through decrypt + parse + dispatch in
  one process for ``duration``.

After each HTTP phase the database is read back: every 200 must be a recorded sheet.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench.common import (
    Metric,
    cpu_seconds,
    percentile,
    postgres_available,
    process_tree,
    py_spy,
    reset_postgres,
    run_module,
    serve,
)
from bench.disk import STALL_MS, sync_probe
from bench.workload import (
    Shape,
    build_requests,
    intake_config,
    save_requests,
    score_messages,
    toml_text,
)
from storage.db import make_engine
from storage.models import InboundMessageRow, ScoreSheet


@dataclass(frozen=True)
class IntakePlan:
    shape: Shape
    runs: int
    duration_s: float
    open_duration_s: float
    concurrency: int
    rate: float = 500.0
    timeout_s: float = 5.0
    """WeCom gives up on a callback answer after 5 s (and retries)."""


FULL = IntakePlan(Shape(20, 8, 50), runs=3, duration_s=10, open_duration_s=5, concurrency=16)
QUICK = IntakePlan(Shape(2, 3, 10), runs=1, duration_s=1.5, open_duration_s=1, concurrency=4)


class _Phase:
    """A fresh database and config directory for one phase."""

    def __init__(
        self,
        backend: str,
        plan: IntakePlan,
        work: Path,
        name: str,
        *,
        synchronous: str | None = None,
    ) -> None:
        self.dir = work / name
        self.dir.mkdir(parents=True)
        if backend == "sqlite":
            self.db_url = f"sqlite:///{self.dir / 'edubot.db'}"
        else:
            self.db_url = reset_postgres()
        config = intake_config(plan.shape, db_url=self.db_url, data_dir=str(self.dir / "data"))
        if synchronous is not None:
            config["database"]["sqlite_synchronous"] = synchronous
        self.config = self.dir / "edubot.toml"
        self.config.write_text(toml_text(config), encoding="utf-8")
        self.log = self.dir / "log.txt"

    def recorded(self) -> dict[str, Any]:
        engine = make_engine(self.db_url)
        try:
            with engine.connect() as conn:
                sheets = conn.scalar(select(func.count()).select_from(ScoreSheet))
                rows = conn.execute(
                    select(InboundMessageRow.status, func.count()).group_by(
                        InboundMessageRow.status
                    )
                ).all()
        finally:
            engine.dispose()
        return {"sheets": int(sheets or 0), "inbound": {s: int(n) for s, n in rows}}


def _load(
    phase: _Phase,
    plan: IntakePlan,
    requests: Path,
    mode_args: list[str],
    duration: float,
    *,
    spy: Path | None = None,
    workers: int = 1,
) -> dict[str, Any]:
    out = phase.dir / "load.json"
    # A server left with a backlog is stopped after 3 s: what it answers then is not timed.
    with serve(
        phase.config, scheduler=False, log_path=phase.log, stop_grace_s=3, workers=workers
    ) as served:
        args = ["--url", served.url, "--requests", str(requests), "--out", str(out)]
        args += ["--timeout", str(plan.timeout_s), *mode_args]
        pids = process_tree(served.process.pid)  # the supervisor and its workers
        cpu_before = cpu_seconds(pids)
        with py_spy(served.process.pid, spy):
            run_module(
                "bench.loadgen",
                args,
                timeout_s=duration + 3 * plan.timeout_s + 60,
                log_path=phase.dir / "loadgen.txt",
            )
        cpu = cpu_seconds(pids) - cpu_before
        time.sleep(0.2)  # let the last handler threads commit before reading back
    result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    result["serve_cpu_ms_per_message"] = 1000 * cpu / max(1, result["ok"])
    result["db"] = recorded = phase.recorded()
    # Every 200 must be a recorded sheet and nothing a refusal, or the numbers mean nothing.
    if recorded["sheets"] < result["ok"] or set(recorded["inbound"]) - {"ok"}:
        raise RuntimeError(f"intake phase {phase.dir.name}: {result['ok']} answered, {recorded}")
    return result


def _latency(result: dict[str, Any]) -> tuple[float, float]:
    """p50 and p99 in ms over every request sent; a request without a 200 counts with the
    time it took to fail (a lower bound: it was never answered)."""
    lat = list(result["latencies_ms"]) + list(result["failed_after_ms"])
    return percentile(lat, 50), percentile(lat, 99)


TARGET_SUSTAINED = {"sqlite": 1800.0, "postgresql": 1000.0}
"""Issue 16: 2× the best Python webhook peer on SQLite; PostgreSQL not the slow path."""


def run_intake(
    backend: str, plan: IntakePlan, work: Path, *, profile: bool = False, workers: int = 1
) -> tuple[list[Metric], dict[str, Any]]:
    """All intake metrics for ``backend`` ("sqlite" or "postgresql"), against ``edubot serve
    --workers`` ``workers``."""
    label = engine = "SQLite" if backend == "sqlite" else "PostgreSQL"
    if workers > 1:
        label += f", {workers} workers"
    sustained = Metric(
        f"intake_{backend}_sustained",
        f"Intake sustained, {label}",
        "msg/s",
        target=TARGET_SUSTAINED[backend],
        higher_is_better=True,
    )
    cpu = Metric(
        f"intake_{backend}_cpu_per_message",
        f"serve CPU per message, sustained, {label}",
        "ms",
    )
    floor_cpu = Metric(
        f"intake_{backend}_floor_cpu_per_message", f"Floor CPU per message, {engine}", "ms"
    )
    p50 = Metric(f"intake_{backend}_p50_at_500", f"Intake p50 at 500/s, {label}", "ms")
    p99 = Metric(f"intake_{backend}_p99_at_500", f"Intake p99 at 500/s, {label}", "ms", target=20)
    done_500 = Metric(
        f"intake_{backend}_answered_at_500",
        f"Intake requests answered 200 at 500/s, {label}",
        "%",
    )
    half_p99 = Metric(
        f"intake_{backend}_p99_at_half",
        f"Intake p99 at half the sustained rate, {label}",
        "ms",
    )
    disk_max = Metric(
        f"intake_{backend}_disk_sync_max",
        f"Disk: longest fdatasync in {plan.open_duration_s:g} s at {plan.rate:g}/s",
        "ms",
    )
    disk_stalls = Metric(
        f"intake_{backend}_disk_sync_stalls",
        f"Disk: fdatasyncs of {STALL_MS:g} ms or more in {plan.open_duration_s:g} s",
        "syncs",
    )
    normal_p99 = Metric(
        f"intake_{backend}_p99_at_500_unsynced",
        f"Intake p99 at 500/s, {label}, synchronous = normal (no sync per commit)",
        "ms",
    )
    floor = Metric(f"intake_{backend}_floor", f"Intake floor (no HTTP), {engine}", "msg/s")
    ratio = Metric(
        f"intake_{backend}_ratio",
        f"Intake / floor, {label}",
        "ratio",
        target=0.5,
        higher_is_better=True,
    )
    details: dict[str, Any] = {
        "shape": asdict(plan.shape) | {"sheets": plan.shape.sheets},
        "workers": workers,
    }
    if backend == "postgresql" and not postgres_available():
        details["skipped"] = "PostgreSQL is not reachable on 127.0.0.1:5432"
        return [], details
    runs: list[dict[str, Any]] = []
    root = Path(tempfile.mkdtemp(prefix=f"edubot-bench-intake-{backend}-", dir=work))
    try:
        messages = score_messages(plan.shape, plan.shape.sheets)
        requests = root / "requests.json"
        save_requests(build_requests(messages, create_time=int(time.time())), requests)
        for r in range(plan.runs):
            run: dict[str, Any] = {}
            closed = _load(
                _Phase(backend, plan, root, f"r{r}-sustained"),
                plan,
                requests,
                [
                    "closed",
                    "--concurrency",
                    str(plan.concurrency),
                    "--duration",
                    str(plan.duration_s),
                ],
                plan.duration_s,
                spy=work / f"profile-serve-{backend}.txt" if profile and r == 0 else None,
                workers=workers,
            )
            run["sustained"] = _strip(closed)
            sustained.runs.append(closed["throughput"])
            cpu.runs.append(closed["serve_cpu_ms_per_message"])

            def open_loop(name: str, rate: float, synchronous: str | None = None) -> Any:
                phase = _Phase(backend, plan, root, name, synchronous=synchronous)
                mode = ["open", "--rate", f"{rate:.1f}", "--duration", str(plan.open_duration_s)]
                return _load(phase, plan, requests, mode, plan.open_duration_s, workers=workers)

            opened = open_loop(f"r{r}-open500", plan.rate)
            run["open_500"] = _strip(opened)
            a, b = _latency(opened)
            p50.runs.append(a)
            p99.runs.append(b)
            done_500.runs.append(100.0 * opened["ok"] / max(1, opened["sent"]))

            if backend == "sqlite":
                probe = sync_probe(root, duration_s=plan.open_duration_s, rate=plan.rate)
                run["disk_sync"] = probe
                disk_max.runs.append(probe["max_ms"])
                disk_stalls.runs.append(probe["stalls"])
                unsynced = open_loop(f"r{r}-open500-normal", plan.rate, synchronous="normal")
                run["open_500_unsynced"] = _strip(unsynced)
                normal_p99.runs.append(_latency(unsynced)[1])

            half_rate = max(1.0, closed["throughput"] / 2)
            half = open_loop(f"r{r}-half", half_rate)
            run["open_half"] = _strip(half) | {"rate": half_rate}
            half_p99.runs.append(_latency(half)[1])

            phase = _Phase(backend, plan, root, f"r{r}-floor")
            out = phase.dir / "floor.json"
            args = ["--config", str(phase.config), "--requests", str(requests)]
            args += ["--duration", str(plan.duration_s), "--out", str(out)]
            if profile and r == 0:
                args += ["--profile", str(work / f"profile-floor-{backend}.txt")]
            run_module("bench.floor", args, timeout_s=plan.duration_s + 120, log_path=phase.log)
            floored = json.loads(out.read_text(encoding="utf-8"))
            run["floor"] = floored
            floor.runs.append(floored["throughput"])
            if floored.get("cpu_ms_per_message") is not None:
                floor_cpu.runs.append(floored["cpu_ms_per_message"])
            ratio.runs.append(
                closed["throughput"] / floored["throughput"] if floored["throughput"] else math.nan
            )
            runs.append(run)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    details["runs"] = runs
    details["note"] = (
        "Latency is measured from each request's scheduled send time. Percentiles count a "
        "request without a 200 (client timeout: "
        f"{plan.timeout_s:.0f} s per connect / pool wait / read) at the time it failed, a "
        "lower bound."
    )
    metrics = [sustained, cpu, floor, floor_cpu, ratio, p50, p99, done_500, half_p99]
    if backend == "sqlite":
        metrics += [disk_max, disk_stalls, normal_p99]
    return metrics, details


def _strip(result: dict[str, Any]) -> dict[str, Any]:
    """A phase result without its raw latency list (kept as percentiles)."""
    lat = result.get("latencies_ms", [])
    out = {k: v for k, v in result.items() if k not in ("latencies_ms", "failed_after_ms")}
    out["latency_ms"] = {
        "p50": percentile(lat, 50) if lat else None,
        "p90": percentile(lat, 90) if lat else None,
        "p99": percentile(lat, 99) if lat else None,
        "max": max(lat) if lat else None,
    }
    return out
