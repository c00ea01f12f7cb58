"""A term of weekly duties for 500 units: what planning costs, and what ``serve`` weighs.

``python -m bench.reporting_term [--units 500] [--weeks 20] [--runs 3] [--dir PATH]``

One repeating ``[[deadlines]]`` entry (周报, Fridays 17:00, reminder the day before, overdue
list to the leaders) for ``--units`` units with one principal each, over ``--weeks`` weeks,
plus a monthly 月小结 for the same units. It measures, on a fresh SQLite database each run:

- *expand + sync*: computing the periods (dateutil's rrule and the holiday calendar) and
  writing them with their submitters, what ``serve`` does on every start;
- *plan the term*: the clock set to each period's reminder time and due time in turn, the
  reminder and overdue planners run there (nobody hands in, the worst case: every push
  names every unit and is split into parts), CPU per period and the rows written;
- *serve*: ``edubot serve`` with the scheduler on the same config and database, time to
  ``/healthz`` and its resident memory once settled.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench.common import rss_mib, serve
from bench.workload import toml_text, wecom_section
from bot.config import load_settings
from bot.config_sync import sync_config
from bot.planning.deadlines import plan_deadline_reminders, plan_overdue
from storage.db import make_engine, make_session_factory, transaction, upgrade
from storage.models import Deadline, DeadlineSubmitter, OutboxRow


def term_config(units: int, weeks: int, *, db_url: str, data_dir: str, start: date) -> str:
    """The config: ``units`` schools, a principals' group, a weekly and a monthly report."""
    names = [f"学校{i:04d}" for i in range(units)]
    people = [
        {"name": f"校长{i:04d}", "roles": ["principal"], "unit": n, "wecom_userid": f"p{i:04d}"}
        for i, n in enumerate(names)
    ]
    people.append({"name": "教育股", "roles": ["organizer"], "wecom_userid": "org"})
    end = start + timedelta(weeks=weeks) - timedelta(days=1)
    shared = {
        "submitters": names,
        "group": "principals",
        "remind_before": ["1d"],
        "escalate_to": ["leaders"],
        "workdays_only": True,
        "start": start.isoformat(),
        "end": end.isoformat(),
    }
    config: dict[str, Any] = {
        "timezone": "Asia/Shanghai",
        "server": {"data_dir": data_dir},
        "database": {"url": db_url, "busy_timeout_ms": 10000},
        "wecom": wecom_section(),
        "groups": [
            {"key": "principals", "name": "校长群", "platform": "wecom", "webhook": "bench-p"},
            {"key": "leaders", "name": "领导小组群", "platform": "wecom", "webhook": "bench-l"},
        ],
        "people": people,
        "deadlines": [
            {"key": "weekly", "title": "周报", "repeat": "weekly", "weekday": "fri", **shared},
            {"key": "monthly", "title": "月小结", "repeat": "monthly", **shared},
        ],
    }
    return toml_text(config)


def one_run(units: int, weeks: int, folder: Path, start: date) -> dict[str, float]:
    """One fresh database: sync, plan every period of the term, then serve on it."""
    db = folder / "term.db"
    for suffix in ("", "-wal", "-shm"):
        (folder / f"term.db{suffix}").unlink(missing_ok=True)
    config = folder / "edubot.toml"
    text = term_config(units, weeks, db_url=f"sqlite:///{db}", data_dir=str(folder), start=start)
    config.write_text(text, encoding="utf-8")
    settings = load_settings(config)
    engine = make_engine(settings.database.url)
    result: dict[str, float] = {}
    try:
        upgrade(engine)
        factory = make_session_factory(engine)
        cpu = time.process_time()
        with transaction(factory) as session:
            sync_config(session, settings)
        result["sync_s"] = time.process_time() - cpu
        with transaction(factory) as session:
            result["periods"] = float(session.scalar(select(func.count(Deadline.id))) or 0)
            result["submitter_rows"] = float(
                session.scalar(select(func.count(DeadlineSubmitter.id))) or 0
            )
            dues = sorted(session.scalars(select(Deadline.due_at)).all())
        cpu = time.process_time()
        for due in dues:
            for now in (due - timedelta(days=1), due):
                with transaction(factory) as session:
                    plan_deadline_reminders(session, settings, now)
                    plan_overdue(session, settings, now)
        result["plan_ms_per_period"] = 1000 * (time.process_time() - cpu) / len(dues)
        with transaction(factory) as session:
            result["rows"] = float(session.scalar(select(func.count(OutboxRow.id))) or 0)
            # serve's own start must plan only what is ahead of the real clock.
            session.query(OutboxRow).delete()
    finally:
        engine.dispose()
    with serve(config, scheduler=True, log_path=folder / "serve.txt") as served:
        time.sleep(1.0)
        result["startup_s"] = served.startup_s
        result["rss_mib"] = rss_mib(served.process.pid)[0]
    return result


def main(argv: list[str] | None = None) -> None:
    """The command line: ``--runs`` fresh runs, each metric's runs and median."""
    parser = argparse.ArgumentParser(prog="python -m bench.reporting_term", description=__doc__)
    parser.add_argument("--units", type=int, default=500)
    parser.add_argument("--weeks", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", type=Path)
    args = parser.parse_args(argv)
    # The term starts three weeks back, so serve's start finds one period coming due.
    start = (datetime.now(UTC) - timedelta(weeks=3)).date()
    runs: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for _ in range(args.runs):
            runs.append(one_run(args.units, args.weeks, Path(tmp), start))
    print(f"{args.units} units × {args.weeks} weeks (weekly + monthly), {args.runs} runs")
    for key in runs[0]:
        values = [r[key] for r in runs]
        shown = ", ".join(f"{v:.3f}" for v in values)
        print(f"  {key:20s} median {statistics.median(values):10.3f}   runs {shown}")


if __name__ == "__main__":
    main()
