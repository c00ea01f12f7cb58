"""Benchmark — the web desk: the venue page of a 10,000 × 7 venue, and one venue's results
board with 200 viewers polling it every 2 seconds.

``edubot serve`` runs in its own process on a SQLite database prepared here (config synced,
70,000 sheets bulk-inserted, a 20-contestant venue scored and published for the board);
logins and the projector link are written straight into the database, as ``后台`` and
``看板`` would. Then, over real HTTP on loopback:

- **venue page**: ``GET /desk/venues/big`` (matrix, ranking with per-judge totals, audit,
  outliers) as the organizer, one request at a time;
- **board**: 200 viewers (asyncio, one process) each ``GET /desk/b/<link>.json`` every 2 s
  for ``seconds``; reported: requests answered per second, latency median / p95 / max, and
  the server's CPU share over the run.

    .venv/bin/python -m bench.desk [--quick]
    .venv/bin/python bench/run.py --only desk [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert, update

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import results_scale
from bench.common import Metric, serve
from bench.results_scale import ResultsPlan, names, sheet_rows, synthetic_sheets
from bench.workload import rubric_config, toml_text
from bot.config import load_settings
from bot.config_sync import sync_config
from bot.desk.tokens import DeskTokens
from storage.db import make_engine, make_session_factory, transaction, upgrade
from storage.desk import add_board_link, add_login
from storage.models import ScoreSheet, Venue
from storage.people import person_by_name, venue_by_key

SECRET = "bench-desk-secret"
BOARD = [f"学校{i:02d}" for i in range(20)]


@dataclass(frozen=True)
class DeskPlan:
    """The big venue's size; the board's viewers and how long they watch; page repetitions."""

    sheets: ResultsPlan
    viewers: int
    seconds: float
    page_runs: int


FULL = DeskPlan(results_scale.FULL, viewers=200, seconds=30, page_runs=5)
QUICK = DeskPlan(results_scale.QUICK, viewers=20, seconds=6, page_runs=1)


def _config(root: Path, plan: ResultsPlan) -> Path:
    contestants, judges = names(plan)
    config = {
        "timezone": "Asia/Shanghai",
        "server": {"data_dir": str(root / "data"), "link_secret": SECRET},
        "database": {"url": f"sqlite:///{root / 'edubot.db'}", "sqlite_synchronous": "normal"},
        "people": [{"name": j, "roles": ["judge"]} for j in judges]
        + [{"name": "教育股", "roles": ["organizer"], "wecom_userid": "jiaoyugu"}],
        "rubrics": [rubric_config()],
        "venues": [
            {
                "key": key,
                "title": "学校管理论坛",
                "starts_at": "2026-03-01 08:00",
                "location": "压测",
                "rubric": "fujian3",
                "judges": list(judges if key == "big" else judges[:3]),
                "contestants": list(contestants if key == "big" else BOARD),
            }
            for key in ("big", "board")
        ],
    }
    path = root / "edubot.toml"
    path.write_text(toml_text(config), encoding="utf-8")
    return path


def _prepare(path: Path, plan: ResultsPlan) -> dict[str, str]:
    """Sheets for both venues, the board venue published; a login and a projector link."""
    settings = load_settings(path)
    engine = make_engine(settings.database.url)
    upgrade(engine)
    factory = make_session_factory(engine)
    with transaction(factory) as session:
        sync_config(session, settings)
    raw = synthetic_sheets(plan)
    now = datetime(2026, 3, 1, 2, tzinfo=UTC)
    rows: list[dict[str, Any]] = []
    with transaction(factory) as session:
        rows = sheet_rows(session, "big", raw.items(), now)
        judges = names(plan)[1][:3]
        first = names(plan)[0][0]
        board = (((c, j), raw[(first, j)]) for c in BOARD for j in judges)
        rows += sheet_rows(session, "board", board, now)
    with engine.begin() as conn:
        conn.execute(insert(ScoreSheet), rows)
    tokens = DeskTokens.of(settings)
    assert tokens is not None
    login, board = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    real_now = datetime.now(UTC)
    with transaction(factory) as session:
        session.execute(update(Venue).where(Venue.key == "board").values(published_at=now))
        organizer = person_by_name(session, "教育股")
        venue = venue_by_key(session, "board")
        assert organizer is not None
        assert venue is not None
        add_login(
            session,
            nonce=login,
            person_id=organizer.id,
            now=real_now,
            expires_at=real_now + timedelta(hours=1),
            source="bench",
        )
        add_board_link(
            session, nonce=board, venue_id=venue.id, person_id=organizer.id, now=real_now
        )
    engine.dispose()
    return {
        "login": tokens.login_url(login, real_now).removeprefix(tokens.base_url),
        "board": tokens.board_url(board).removeprefix(tokens.base_url) + ".json",
    }


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _viewers(url: str, viewers: int, seconds: float, every: float) -> list[float]:
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=viewers, max_keepalive_connections=viewers)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def viewer(offset: float) -> None:
            await asyncio.sleep(offset)  # viewers opened the board at different moments
            stop = time.monotonic() + seconds
            while time.monotonic() < stop:
                started = time.perf_counter()
                answer = await client.get(url)
                assert answer.status_code == 200, answer.text
                latencies.append(time.perf_counter() - started)
                await asyncio.sleep(max(0.0, every - (time.perf_counter() - started)))

        await asyncio.gather(*(viewer(every * i / viewers) for i in range(viewers)))
    return latencies


def _page(http: httpx.Client, url: str, runs: int) -> dict[str, Any]:
    """GET ``url`` ``runs`` times, one at a time: seconds (median, each) and bytes."""
    seconds, size = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        answer = http.get(url)
        seconds.append(time.perf_counter() - started)
        assert answer.status_code == 200
        size = len(answer.content)
    return {
        "median_s": round(statistics.median(seconds), 3),
        "runs_s": [round(v, 3) for v in seconds],
        "bytes": size,
    }


def run(desk: DeskPlan, work: Path | None = None) -> dict[str, Any]:
    """Prepare the database in a temporary folder (under ``work``), serve it, measure."""
    plan, viewers, seconds, page_runs = desk.sheets, desk.viewers, desk.seconds, desk.page_runs
    with tempfile.TemporaryDirectory(prefix="edubot-bench-desk-", dir=work) as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        links = _prepare(_config(root, plan), plan)
        prepare_s = time.perf_counter() - started
        with serve(root / "edubot.toml", scheduler=False, log_path=root / "serve.log") as served:
            base = served.url
            with httpx.Client(timeout=60, follow_redirects=True) as http:
                token = links["login"].split("t=", 1)[1]
                assert http.post(f"{base}/desk/login", data={"t": token}).status_code == 200
                pages = {
                    name: _page(http, f"{base}/desk/venues/big{query}", page_runs)
                    for name, query in (("venue_page", ""), ("venue_page_all", "?all=1"))
                }
            pid = served.process.pid
            cpu0, t0 = _cpu_s(pid), time.perf_counter()
            board = base + links["board"]
            latencies = asyncio.run(_viewers(board, viewers, seconds, 2.0))
            wall = time.perf_counter() - t0
            cpu = (_cpu_s(pid) - cpu0) / wall
    ordered = sorted(latencies)
    return {
        "venue": f"{plan.contestants:,} × {plan.judges}",
        "prepare_s": round(prepare_s, 1),
        **pages,
        "board": {
            "viewers": viewers,
            "seconds": round(wall, 1),
            "requests": len(latencies),
            "per_s": round(len(latencies) / wall, 1),
            "latency_median_ms": round(1000 * statistics.median(ordered), 1),
            "latency_p95_ms": round(1000 * ordered[int(0.95 * (len(ordered) - 1))], 1),
            "latency_max_ms": round(1000 * ordered[-1], 1),
            "server_cpu_share": round(cpu, 2),
        },
        "machine": {"cpus": os.cpu_count(), "loadavg": os.getloadavg()},
    }


def run_desk(plan: DeskPlan, work: Path) -> tuple[list[Metric], dict[str, Any]]:
    """``bench/run.py --only desk``: the venue pages and the board as metrics (no targets:
    README §Benchmarks sets none for the desk), the whole report as details."""
    details = run(plan, work)
    size, board = details["venue"], details["board"]
    metrics = [
        Metric("desk_venue_page", f"Desk venue page {size}", "s", details["venue_page"]["runs_s"]),
        Metric(
            "desk_venue_page_all",
            f"Desk venue page {size}, all listed",
            "s",
            details["venue_page_all"]["runs_s"],
        ),
        Metric(
            "desk_board_rate",
            f"Desk board, {board['viewers']} viewers every 2 s: answered",
            "req/s",
            [board["per_s"]],
            higher_is_better=True,
        ),
        Metric("desk_board_p95", "Desk board latency p95", "ms", [board["latency_p95_ms"]]),
        Metric("desk_board_cpu", "Desk board: server CPU", "%", [100 * board["server_cpu_share"]]),
    ]
    return metrics, details


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="200 contestants, 20 viewers, 6 s")
    args = parser.parse_args(argv)
    report = run(QUICK if args.quick else FULL)
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
