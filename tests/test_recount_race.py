"""A recount of a venue's tallies (加选手, 换评委, a config sync) that meets a score still
being written counts that score's sheet once it has committed: on PostgreSQL a recount in
one ``UPDATE`` waited for the score's tally row and then counted with the snapshot it began
with, one sheet short, and the venue could never look complete."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import count
from pathlib import Path
from typing import Any

import pytest

import handlers.scoring
from bot.app import Services, build_services
from bot.clock import FakeClock
from bot.config import settings_from_mapping
from handlers.messages import InboundMessage
from storage.db import transaction
from storage.people import venue_by_key
from storage.scores import recount_sheets, sheet_counts
from tests.support.campaign import campaign

IDS = count()


@pytest.fixture
def served(db_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[Services]:
    data = campaign(db_url)
    data["server"] = {"data_dir": str(tmp_path / "data")}
    services = build_services(settings_from_mapping(data), clock=clock)
    yield services
    services.engine.dispose()


def say(services: Services, text: str) -> str:
    message = InboundMessage("wecom", "wecom_app", f"rc{next(IDS)}", "shenyi", text, "private")
    return services.dispatcher.process(message).status


def test_a_recount_waiting_on_a_score_counts_its_sheet(
    served: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    if served.engine.dialect.name == "sqlite":
        pytest.skip("SQLite's writers take turns: a recount never meets a score being written")
    assert say(served, "评分 1号 86") == "ok"
    scored, go_on = threading.Event(), threading.Event()
    real = handlers.scoring._score_line

    def score_then_hold(*args: Any, **named: Any) -> Any:
        line = real(*args, **named)  # the sheet and the tally are written, not committed
        scored.set()
        assert go_on.wait(10)
        return line

    monkeypatch.setattr(handlers.scoring, "_score_line", score_then_hold)
    with transaction(served.factory) as session:
        venue = venue_by_key(session, "ruiquan")
        assert venue is not None
        venue_id, judges = venue.id, [j.person_id for j in venue.judges]

    def recount() -> None:
        with transaction(served.factory) as session:
            recount_sheets(session, venue_id)

    with ThreadPoolExecutor(2) as pool:
        score = pool.submit(say, served, "评分 2号 86")
        assert scored.wait(10)
        counting = pool.submit(recount)
        threading.Timer(0.3, go_on.set).start()  # the recount is waiting on the score's row
        assert score.result(timeout=30) == "ok"
        counting.result(timeout=30)

    with transaction(served.factory) as session:
        # 申毅's two sheets, and nobody else's yet.
        assert sorted(sheet_counts(session, venue_id, judges).values()) == [0, 0, 2]
