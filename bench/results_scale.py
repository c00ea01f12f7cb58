"""Benchmark 3 — results: a venue of 10,000 contestants × 7 judges × 5 items.

- **ranking**: ``handlers.results.standings`` on 70,000 synthetic ``SheetScores``;
- **export**: ``handlers.score_sheet.csv_text`` on the ``VenueTable`` of that size;
- **from the database** (reported separately): the same venue stored in SQLite (config
  synced, 70,000 sheets bulk-inserted), then ``venue_table(session, venue)`` — what 排名
  runs — and ``export_venue(..., fmt="csv")`` — what 导出 csv runs — each in a fresh session;
- for context, once: the .xlsx writer on the synthetic table (no audit rows) and loading
  the 10,000-contestant config.
"""

from __future__ import annotations

import random
import shutil
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from bench.common import Metric
from bench.workload import RUBRIC_ITEMS, rubric_config, toml_text
from bot.config import load_settings
from bot.config_sync import sync_config
from handlers.results import standings
from handlers.rubric import ItemSpec, RubricSpec, SheetScores
from handlers.score_sheet import csv_text, export_venue, write_xlsx
from handlers.standings import VenueTable, venue_table
from storage.db import make_engine, make_session_factory, transaction, upgrade
from storage.models import Contestant, ScoreSheet, VenueJudge
from storage.people import venue_by_key


@dataclass(frozen=True)
class ResultsPlan:
    contestants: int
    judges: int
    runs: int
    db_runs: int
    xlsx: bool


FULL = ResultsPlan(10_000, 7, runs=5, db_runs=3, xlsx=True)
QUICK = ResultsPlan(200, 7, runs=1, db_runs=1, xlsx=False)

RUBRIC = RubricSpec(
    key="fujian3",
    name="学校管理论坛评分表",
    items=tuple(ItemSpec(name, Decimal(m)) for name, m in RUBRIC_ITEMS),
    decimals=1,
)


def names(plan: ResultsPlan) -> tuple[tuple[str, ...], tuple[str, ...]]:
    contestants = tuple(f"学校{i:05d}共同体" for i in range(plan.contestants))
    judges = tuple(f"评委{j}号" for j in range(plan.judges))
    return contestants, judges


def synthetic_sheets(plan: ResultsPlan) -> dict[tuple[str, str], tuple[list[str], Decimal]]:
    """(contestant, judge) → (item strings, total); seeded, so every run ranks the same."""
    rng = random.Random(20260301)
    contestants, judges = names(plan)
    out: dict[tuple[str, str], tuple[list[str], Decimal]] = {}
    for c in contestants:
        for j in judges:
            items = [f"{rng.randint(m // 2 * 2, m * 2) / 2:g}" for _n, m in RUBRIC_ITEMS]
            out[(c, j)] = (items, sum((Decimal(v) for v in items), Decimal(0)))
    return out


def venue_ids(session: Session, key: str) -> tuple[int, dict[str, int], dict[str, int]]:
    """A stored venue's id and its contestants' and judges' ids by name."""
    venue = venue_by_key(session, key)
    assert venue is not None
    cids = {
        c.name: c.id
        for c in session.scalars(select(Contestant).where(Contestant.venue_id == venue.id))
    }
    jids = {
        j.person.name: j.person_id
        for j in session.scalars(select(VenueJudge).where(VenueJudge.venue_id == venue.id))
    }
    return venue.id, cids, jids


def sheet_rows(
    session: Session,
    key: str,
    sheets: Iterable[tuple[tuple[str, str], tuple[list[str], Decimal]]],
    now: datetime,
) -> list[dict[str, Any]]:
    """``score_sheets`` rows for venue ``key`` from ((contestant, judge), (items, total))."""
    venue_id, cids, jids = venue_ids(session, key)
    return [
        {
            "forum_id": venue_id,
            "judge_id": jids[j],
            "contestant_id": cids[c],
            "total": total,
            "items": items,
            "revision": 1,
            "updated_at": now,
        }
        for (c, j), (items, total) in sheets
    ]


def run_results(plan: ResultsPlan, work: Path) -> tuple[list[Metric], dict[str, Any]]:
    size = f"{plan.contestants:,} × {plan.judges}"
    ranking = Metric("results_ranking", f"Ranking {size} (standings)", "s", target=0.5)
    export = Metric("results_export_csv", f"CSV export {size} (csv_text)", "s", target=2.0)
    db_table = Metric("results_db_venue_table", f"Ranking from SQLite {size} (venue_table)", "s")
    db_export = Metric("results_db_export_csv", f"CSV export from SQLite {size}", "s")
    xlsx = Metric("results_xlsx", f"xlsx export {size}, no audit rows (context)", "s")
    config_load = Metric(
        "results_config_load", f"Load a config of {plan.contestants:,} contestants", "s"
    )
    details: dict[str, Any] = {}

    contestants, judges = names(plan)
    raw = synthetic_sheets(plan)
    sheets = {
        key: SheetScores(total, tuple(Decimal(v) for v in items))
        for key, (items, total) in raw.items()
    }
    table: VenueTable | None = None
    for _ in range(plan.runs):
        started = time.perf_counter()
        ranked = standings(RUBRIC, contestants, judges, sheets)
        ranking.runs.append(time.perf_counter() - started)
        table = VenueTable(
            "big",
            "学校管理论坛",
            "压测会场",
            RUBRIC,
            judges,
            contestants,
            sheets,
            tuple(ranked),
            frozenset(),
        )
        started = time.perf_counter()
        text = csv_text(table)
        export.runs.append(time.perf_counter() - started)
    details["csv_bytes"] = len(text.encode("utf-8"))
    details["ranks"] = {"first": ranked[0].rank, "last": ranked[-1].rank}

    root = Path(tempfile.mkdtemp(prefix="edubot-bench-results-", dir=work))
    try:
        if plan.xlsx and table is not None:
            from datetime import UTC, datetime  # noqa: PLC0415
            from zoneinfo import ZoneInfo  # noqa: PLC0415

            started = time.perf_counter()
            write_xlsx(
                table,
                [],
                root / "big.xlsx",
                tz=ZoneInfo("Asia/Shanghai"),
                now=datetime(2026, 3, 1, tzinfo=UTC),
            )
            xlsx.runs.append(time.perf_counter() - started)
        details["db"] = _database(plan, root, raw, db_table, db_export, config_load)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    metrics = [ranking, export, db_table, db_export, config_load]
    if xlsx.runs:
        metrics.append(xlsx)
    return metrics, details


def _database(
    plan: ResultsPlan,
    root: Path,
    raw: dict[tuple[str, str], tuple[list[str], Decimal]],
    db_table: Metric,
    db_export: Metric,
    config_load: Metric,
) -> dict[str, Any]:
    contestants, judges = names(plan)
    db_url = f"sqlite:///{root / 'edubot.db'}"
    config = {
        "timezone": "Asia/Shanghai",
        "server": {"data_dir": str(root / "data")},
        "database": {"url": db_url},
        "people": [{"name": j, "roles": ["judge"]} for j in judges],
        "rubrics": [rubric_config()],
        "venues": [
            {
                "key": "big",
                "title": "学校管理论坛",
                "starts_at": "2026-03-01 08:00",
                "location": "压测",
                "rubric": "fujian3",
                "judges": list(judges),
                "contestants": list(contestants),
            }
        ],
    }
    path = root / "edubot.toml"
    path.write_text(toml_text(config), encoding="utf-8")
    for _ in range(plan.db_runs):
        started = time.perf_counter()
        settings = load_settings(path)
        config_load.runs.append(time.perf_counter() - started)

    engine = make_engine(db_url)
    try:
        upgrade(engine)
        factory = make_session_factory(engine)
        started = time.perf_counter()
        with transaction(factory) as session:
            sync_config(session, settings)
        sync_s = time.perf_counter() - started
        with transaction(factory) as session:
            rows = sheet_rows(session, "big", raw.items(), settings.venues[0].starts_at)
        started = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(insert(ScoreSheet), rows)
        insert_s = time.perf_counter() - started
        for _ in range(plan.db_runs):
            with transaction(factory) as session:
                started = time.perf_counter()
                big = venue_by_key(session, "big")
                assert big is not None
                loaded = venue_table(session, big)
                db_table.runs.append(time.perf_counter() - started)
                assert loaded.scored == len(raw)
            with transaction(factory) as session:
                started = time.perf_counter()
                export_venue(session, "big", fmt="csv", out=None, tz=settings.tz)
                db_export.runs.append(time.perf_counter() - started)
    finally:
        engine.dispose()
    return {"sync_config_s": sync_s, "insert_sheets_s": insert_s, "sheets": len(raw)}
