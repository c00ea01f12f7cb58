"""The score that completes a venue decides from what is committed, not from what its
message read earlier. On PostgreSQL and MariaDB (READ COMMITTED, workers side by side) two
things can move under a message: another worker's score can complete the venue after this
message read the venue's state, and an organizer's 加选手 can commit after this message read
the catalog. Neither can be timed from a test, so each is staged: the earlier read is made
to return what it would have returned then."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import count
from pathlib import Path

import pytest

import handlers.scoring
from bot.app import Services, build_services
from bot.clock import FakeClock
from bot.config import settings_from_mapping
from handlers.messages import InboundMessage
from storage.day_of import add_contestant
from storage.db import transaction
from storage.people import venue_by_key
from storage.scores import VenueState
from tests.support.campaign import campaign

IDS = count()
JUDGES = (("shenyi", 86), ("liangfei", 88), ("zhangweili", 87))


@pytest.fixture(params=[False, True], ids=["host-publishes", "auto-publish"])
def served(
    request: pytest.FixtureRequest, db_url: str, tmp_path: Path, clock: FakeClock
) -> Iterator[Services]:
    data = campaign(db_url)
    data["venues"][0]["auto_publish"] = request.param
    data["server"] = {"data_dir": str(tmp_path / "data")}
    services = build_services(settings_from_mapping(data), clock=clock)
    yield services
    services.engine.dispose()


def say(services: Services, user: str, text: str) -> tuple[str, str]:
    message = InboundMessage("wecom", "wecom_app", f"race{next(IDS)}", user, text, "private")
    outcome = services.dispatcher.process(message)
    return outcome.status, outcome.reply.text


def fill(services: Services, *, leave_last: bool = False) -> str:
    """Every judge scores 瑞泉's five contestants; the last judge leaves out 5号 if told."""
    answer = ""
    for judge, total in JUDGES:
        numbers = range(1, 5) if leave_last and judge == JUDGES[-1][0] else range(1, 6)
        _, answer = say(services, judge, "评分\n" + "\n".join(f"{n}号 {total}" for n in numbers))
    return answer


def test_a_venue_completed_meanwhile_is_not_completed_again(
    served: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "🎉" in fill(served)
    # This correction read the venue's state before the completing score committed.
    real = handlers.scoring.state_and_sheet

    def read_before_completion(*args: object) -> tuple[VenueState, object]:
        state, sheet = real(*args)  # type: ignore[arg-type]
        return VenueState(None, None, state.auto_publish), sheet

    monkeypatch.setattr(handlers.scoring, "state_and_sheet", read_before_completion)
    status, answer = say(served, "shenyi", "更正 1号 85")
    assert status == "ok", answer
    assert answer.startswith("已更正 申毅 → 瑞泉中学共同体：85 分"), answer
    assert "🎉" not in answer


def test_a_contestant_added_meanwhile_keeps_the_venue_open(
    served: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(served, leave_last=True)
    catalog = served.dispatcher._catalog
    before = catalog.cached()
    assert before is not None
    with transaction(served.factory) as session:
        venue = venue_by_key(session, "ruiquan")
        assert venue is not None
        add_contestant(session, venue, "新选手")
    # The last score read the catalog before the 加选手 committed.
    monkeypatch.setattr(catalog, "get", lambda _session: before)
    monkeypatch.setattr(catalog, "at", lambda _session, _generation: before)
    status, answer = say(served, "zhangweili", "评分 5号 87")
    assert status == "ok", answer
    assert "🎉" not in answer
    assert "公布" not in answer
