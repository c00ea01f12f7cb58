"""Benchmark 2 — scheduler scale: 100,000 pending pushes (10,000 deadlines × 10 people).

- **plan**: the 100,000 reminder rows (person pushes, due over the next 30 days) written
  into the outbox with one bulk insert; for context also the rate of the planners' own
  path, ``storage.outbox.enqueue`` (a look-up and a savepoint per row), on a sample.
- **start-up / memory**: ``edubot serve`` (scheduler on) from process start to a healthy
  ``/healthz``, and its VmRSS / VmHWM from ``/proc`` a few seconds later, with every row
  still pending.
- **lateness**: 1,000 group pushes due at the same second, 20 to each of 50 robots (WeCom
  group robots allow 20 a minute), inserted 4 s ahead into a running ``serve`` with the
  default outbox settings (a 2 s poll finds the rows, and the drain then runs at their due
  time), delivered to ``python -m bot.devtools.emulator`` (its own process, real clock). Lateness
  = the emulator's ``Recorded.at`` − ``due_at``. Each repetition uses 50 robots of its own
  so no rate window carries over.

The emulator runs as a process (uvicorn bound by host and port) rather than the in-process
``EmulatorServer``: a socket bound by ``bot.devtools.serving.LoopbackServer`` has protocol 0, so
asyncio does not set TCP_NODELAY on its connections, and every answer then waits ~40 ms
for a delayed ACK (Nagle), which would be measured as the bot's lateness.

``python -m bench.scheduler_scale [--runs 3] [--pending 100000] [--profile FILE]`` runs only
the lateness burst (same plan, same ``serve`` and emulator set-up, the pending rows written
by one bulk insert instead of timed), for iterating on the outbox without the whole section.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, insert, select

from bench.common import (
    ROOT,
    Metric,
    child_env,
    free_port,
    percentile,
    py_spy,
    rss_mib,
    serve,
    stop,
)
from bench.workload import toml_text, wecom_section
from bot.config import load_settings
from bot.config_sync import sync_config
from handlers.messages import OutboundMessage, payload_of
from handlers.pushes import enqueue
from storage.db import make_engine, make_session_factory, transaction, upgrade
from storage.models import OutboxRow


@dataclass(frozen=True)
class SchedulerPlan:
    deadlines: int
    people_per_deadline: int
    people: int
    burst: int
    robots: int
    runs: int
    enqueue_sample: int
    poll_seconds: float = 2.0
    settle_s: float = 3.0
    burst_wait_s: float = 90.0

    @property
    def pending(self) -> int:
        return self.deadlines * self.people_per_deadline


FULL = SchedulerPlan(10_000, 10, 1_000, 1_000, 50, runs=3, enqueue_sample=2_000)
QUICK = SchedulerPlan(100, 10, 50, 40, 2, runs=1, enqueue_sample=50, settle_s=0.5, burst_wait_s=30)


def scheduler_config(plan: SchedulerPlan, *, db_url: str, api_base: str, data_dir: str) -> str:
    groups = [
        {
            "key": f"burst{r}-{i:02d}",
            "name": f"压测群{r}-{i}",
            "platform": "wecom",
            "webhook": f"bench-key-{r}-{i:02d}",
        }
        for r in range(plan.runs)
        for i in range(plan.robots)
    ]
    people = [
        {
            "name": f"校长{i:04d}",
            "roles": ["principal"],
            "unit": f"学校{i:04d}",
            "wecom_userid": f"p{i:04d}",
        }
        for i in range(plan.people)
    ]
    config = {
        "timezone": "Asia/Shanghai",
        "server": {"data_dir": data_dir},
        "database": {"url": db_url, "busy_timeout_ms": 10000},
        "wecom": wecom_section(api_base),
        "outbox": {"poll_seconds": plan.poll_seconds, "grace": "6h"},
        "groups": groups,
        "people": people,
    }
    return toml_text(config)


def _reminder_rows(plan: SchedulerPlan, now: datetime) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for d in range(plan.deadlines):
        due = now + timedelta(days=1, minutes=(d * 37) % (29 * 24 * 60))
        for k in range(plan.people_per_deadline):
            person = (d * plan.people_per_deadline + k) % plan.people
            message = OutboundMessage(
                platform="wecom",
                target_kind="person",
                target=f"p{person:04d}",
                text=f"【材料提醒】材料{d:05d}将于明天截止，请尽快提交。",
                title="材料提醒",
            )
            key = f"bench:remind:{d:05d}:{person:04d}"
            rows.append(
                {
                    "dedupe_key": key,
                    "platform": "wecom",
                    "target_kind": "person",
                    "target": message.target,
                    "rate_key": "",
                    "payload": payload_of(message),
                    "due_at": due - timedelta(hours=2),
                    "expires_at": due,
                    "status": "pending",
                    "attempts": 0,
                    "claimed_by": "",
                    "last_error": "",
                    "created_at": now,
                    "reason": key,
                }
            )
    return rows


def _burst_rows(plan: SchedulerPlan, run: int, due: datetime) -> list[dict[str, Any]]:
    rows = []
    for i in range(plan.burst):
        group = f"burst{run}-{i % plan.robots:02d}"
        message = OutboundMessage(
            platform="wecom", target_kind="group", target=group, text=f"【压测】burst-{run}-{i}"
        )
        key = f"bench:burst:{run}:{i}"
        rows.append(
            {
                "dedupe_key": key,
                "platform": "wecom",
                "target_kind": "group",
                "target": group,
                "rate_key": "",
                "payload": payload_of(message),
                "due_at": due,
                "expires_at": None,
                "status": "pending",
                "attempts": 0,
                "claimed_by": "",
                "last_error": "",
                "created_at": datetime.now(UTC),
                "reason": key,
            }
        )
    return rows


def run_scheduler(
    plan: SchedulerPlan, work: Path, *, profile_to: Path | None = None
) -> tuple[list[Metric], dict[str, Any]]:
    """All scheduler metrics. ``profile_to``: py-spy the first burst into that file."""
    plan_time = Metric(
        "sched_plan", f"Plan {plan.pending:,} pushes (bulk insert)", "s", note="SQLite"
    )
    enqueue_rate = Metric(
        "sched_enqueue_rate",
        "Planner path storage.outbox.enqueue, rows/s",
        "rows/s",
        higher_is_better=True,
        note=f"{plan.enqueue_sample:,} rows per run, on top of the pending ones",
    )
    startup = Metric(
        "sched_startup", f"serve start-up with {plan.pending:,} pending", "s", target=3.0
    )
    rss = Metric("sched_rss", f"serve RSS with {plan.pending:,} pending", "MiB", target=150)
    hwm = Metric("sched_rss_peak", "serve peak RSS (VmHWM)", "MiB")
    rss_empty = Metric("sched_rss_empty", "serve RSS, same config, empty outbox", "MiB")
    lateness_p50 = Metric("sched_lateness_p50", f"Lateness p50, {plan.burst:,} due at once", "s")
    lateness_p99 = Metric(
        "sched_lateness_p99", f"Lateness p99, {plan.burst:,} due at once", "s", target=1.0
    )
    lateness_max = Metric("sched_lateness_max", "Lateness max", "s")
    details: dict[str, Any] = {"runs": []}
    root = Path(tempfile.mkdtemp(prefix="edubot-bench-sched-", dir=work))
    emulator: subprocess.Popen[bytes] | None = None
    engine: Any = None
    try:
        db_url, config, emulator_url = _workdir(plan, root)
        settings = load_settings(config)
        log = root / "serve.txt"
        emulator = _start_emulator(config, emulator_url, root / "emulator.txt")

        # Schema and config first (not timed): what `serve` would do on its first start.
        engine, factory = _prepared(db_url, settings)
        for _ in range(plan.runs):  # the baseline: what the process weighs without the rows
            with serve(config, scheduler=True, log_path=log) as served:
                time.sleep(plan.settle_s)
                rss_empty.runs.append(rss_mib(served.process.pid)[0])

        # Plan: each run into an empty outbox; the last run's rows stay for `serve`.
        now = datetime.now(UTC)
        for r in range(plan.runs):
            last = r == plan.runs - 1
            scratch = None if last else _prepared(f"sqlite:///{root / f'plan-{r}.db'}", settings)
            target = engine if scratch is None else scratch[0]
            started = time.perf_counter()
            rows = _reminder_rows(plan, now)
            with target.begin() as conn:
                conn.execute(insert(OutboxRow), rows)
            plan_time.runs.append(time.perf_counter() - started)
            del rows
            if scratch is not None:
                scratch[0].dispose()

        for r in range(plan.runs):
            sample_start = time.perf_counter()
            with transaction(factory) as session:
                for i in range(plan.enqueue_sample):
                    enqueue(
                        session,
                        OutboundMessage(
                            "wecom", "person", f"p{i % plan.people:04d}", "【材料提醒】样本"
                        ),
                        dedupe_key=f"bench:sample:{r}:{i}",
                        due_at=now + timedelta(days=20),
                        now=now,
                        reason=f"bench:sample:{r}:{i}",
                    )
            enqueue_rate.runs.append(plan.enqueue_sample / (time.perf_counter() - sample_start))
        rate = enqueue_rate.median or 1.0
        enqueue_rate.note += (
            f"; {plan.pending:,} rows this way would take {plan.pending / rate:.0f} s"
        )
        with engine.connect() as conn:
            pending = conn.scalar(
                select(func.count()).select_from(OutboxRow).where(OutboxRow.status == "pending")
            )
        details["pending_rows"] = int(pending or 0)

        for r in range(plan.runs):
            with serve(config, scheduler=True, log_path=log) as served:
                startup.runs.append(served.startup_s)
                time.sleep(plan.settle_s)  # the first outbox poll and planner pass have run
                resident, peak = rss_mib(served.process.pid)
                rss.runs.append(resident)
                hwm.runs.append(peak)
                with py_spy(served.process.pid, profile_to if r == 0 else None):
                    run = _burst(plan, r, engine, emulator_url)
                run |= {"startup_s": served.startup_s, "rss_mib": resident, "hwm_mib": peak}
                details["runs"].append(run)
                lateness_p50.runs.append(run["lateness_s"]["p50"])
                lateness_p99.runs.append(run["lateness_s"]["p99"])
                lateness_max.runs.append(run["lateness_s"]["max"])
    finally:
        _clean_up(engine, emulator, root)
    metrics = [plan_time, enqueue_rate, startup, rss, hwm, rss_empty]
    metrics += [lateness_p50, lateness_p99, lateness_max]
    return metrics, details


def _prepared(db_url: str, settings: Any) -> tuple[Any, Any]:
    """An engine and session factory on a migrated database holding ``settings``."""
    engine = make_engine(db_url)
    upgrade(engine)
    factory = make_session_factory(engine)
    with transaction(factory) as session:
        sync_config(session, settings)
    return engine, factory


def _start_emulator(config: Path, url: str, log_path: Path) -> subprocess.Popen[bytes]:
    """``python -m bot.devtools.emulator --config`` in a process of its own (real clock)."""
    port = url.rsplit(":", 1)[1]
    argv = [sys.executable, "-m", "bot.devtools.emulator", "--config", str(config), "--port", port]
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            argv, cwd=ROOT, env=child_env(), stdout=log, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + 30
    with httpx.Client(timeout=1.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"the emulator exited with {process.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                if client.get(f"{url}/_emulator/messages", params={"api": "none"}).is_success:
                    return process
            time.sleep(0.05)
    stop(process)
    raise RuntimeError("the emulator did not start within 30 s")


def _burst(plan: SchedulerPlan, run: int, engine: Any, emulator_url: str) -> dict[str, Any]:
    """Insert ``plan.burst`` pushes due at one second ~4 s ahead; wait until all arrive."""
    due = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=4)
    with engine.begin() as conn:
        conn.execute(insert(OutboxRow), _burst_rows(plan, run, due))
    marker = f"burst-{run}-"
    deadline = time.monotonic() + (due - datetime.now(UTC)).total_seconds() + plan.burst_wait_s
    arrived: dict[str, datetime] = {}
    refused = 0
    with httpx.Client(timeout=10.0) as client:
        while time.monotonic() < deadline:
            time.sleep(0.5)
            arrived, refused = _arrivals(client, emulator_url, marker)
            if len(arrived) >= plan.burst:
                break
    late = [(at - due).total_seconds() for at in arrived.values()]
    censored = late + [math.inf] * (plan.burst - len(late))
    return {
        "due_at": due.isoformat(),
        "delivered": len(arrived),
        "refused_by_platform": refused,
        "lateness_s": {
            "p50": percentile(censored, 50),
            "p99": percentile(censored, 99),
            "max": max(censored) if censored else math.nan,
            "first": min(late) if late else math.nan,
        },
    }


def _arrivals(client: httpx.Client, url: str, marker: str) -> tuple[dict[str, datetime], int]:
    """Delivered burst messages (text → emulator ``Recorded.at``) and refusals so far."""
    data = client.get(
        f"{url}/_emulator/messages",
        params={"platform": "wecom", "api": "webhook/send", "all": "1"},
    ).json()
    arrived: dict[str, datetime] = {}
    refused = 0
    for record in data["messages"]:
        content = str(record["body"].get("text", {}).get("content", ""))
        if marker not in content:
            continue
        if record["status"] != "ok":
            refused += 1
            continue
        arrived.setdefault(content, datetime.fromisoformat(record["at"]))
    return arrived, refused


def _workdir(plan: SchedulerPlan, root: Path) -> tuple[str, Path, str]:
    """The database URL, the config written for it and the emulator's URL, under ``root``."""
    db_url = f"sqlite:///{root / 'edubot.db'}"
    config = root / "edubot.toml"
    emulator_url = f"http://127.0.0.1:{free_port()}"
    config.write_text(
        scheduler_config(plan, db_url=db_url, api_base=emulator_url, data_dir=str(root / "data")),
        encoding="utf-8",
    )
    return db_url, config, emulator_url


def run_bursts(
    plan: SchedulerPlan, work: Path, *, profile_to: Path | None = None
) -> list[dict[str, Any]]:
    """Only the lateness bursts of ``plan`` (``plan.pending`` rows pending, not timed)."""
    root = Path(tempfile.mkdtemp(prefix="edubot-bench-burst-", dir=work))
    emulator: subprocess.Popen[bytes] | None = None
    engine: Any = None
    runs: list[dict[str, Any]] = []
    try:
        db_url, config, emulator_url = _workdir(plan, root)
        emulator = _start_emulator(config, emulator_url, root / "emulator.txt")
        engine, _factory = _prepared(db_url, load_settings(config))
        if plan.pending:
            with engine.begin() as conn:
                conn.execute(insert(OutboxRow), _reminder_rows(plan, datetime.now(UTC)))
        for r in range(plan.runs):
            with serve(config, scheduler=True, log_path=root / "serve.txt") as served:
                time.sleep(plan.settle_s)
                cpu = (_cpu_s(served.process.pid), _cpu_s(emulator.pid))
                with py_spy(served.process.pid, profile_to if r == 0 else None):
                    runs.append(_burst(plan, r, engine, emulator_url))
                serve_cpu = _cpu_s(served.process.pid) - cpu[0]
                emulator_cpu = _cpu_s(emulator.pid) - cpu[1]
            late = runs[-1]["lateness_s"]
            print(
                f"run {r}: delivered {runs[-1]['delivered']}, p50 {late['p50']:.3f} s, "
                f"p99 {late['p99']:.3f} s, max {late['max']:.3f} s, first {late['first']:.3f} s; "
                f"CPU during the burst: serve {serve_cpu:.2f} s, emulator {emulator_cpu:.2f} s",
                file=sys.stderr,
            )
    finally:
        _clean_up(engine, emulator, root)
    return runs


def _clean_up(engine: Any, emulator: subprocess.Popen[bytes] | None, root: Path) -> None:
    if engine is not None:
        engine.dispose()
    if emulator is not None:
        stop(emulator)
    shutil.rmtree(root, ignore_errors=True)


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scheduler_scale", description=__doc__)
    parser.add_argument("--runs", type=int, default=FULL.runs)
    parser.add_argument("--pending", type=int, default=FULL.pending, help="rows left pending")
    parser.add_argument("--profile", type=Path, help="py-spy the first burst into this file")
    args = parser.parse_args(argv)
    deadlines = math.ceil(args.pending / FULL.people_per_deadline)
    plan = replace(FULL, runs=args.runs, deadlines=deadlines)
    with tempfile.TemporaryDirectory(prefix="edubot-bench-") as tmp:
        runs = run_bursts(plan, Path(tmp), profile_to=args.profile)
    for key in ("p50", "p99", "max"):
        values = [run["lateness_s"][key] for run in runs]
        shown = ", ".join(f"{v:.3f}" for v in values)
        print(f"lateness {key}: median {statistics.median(values):.3f} s (runs {shown})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
