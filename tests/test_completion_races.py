"""The score that completes a venue decides from what is committed, not from what its
message read earlier. On PostgreSQL and MariaDB (READ COMMITTED, workers side by side) two
things can move under a message: another worker's score can complete the venue after this
message read the venue's state, and an organizer's 加选手 can commit after this message read
the catalog. Neither can be timed from a test, so each is staged: the earlier read is made
to return what it would have returned then."""

from __future__ import annotations

from collections.abc import Callable, Iterator
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


def _start(db_url: str, tmp_path: Path, clock: FakeClock, *, auto: bool) -> Services:
    data = campaign(db_url)
    data["venues"][0]["auto_publish"] = auto
    data["server"] = {"data_dir": str(tmp_path / "data")}
    return build_services(settings_from_mapping(data), clock=clock)


@pytest.fixture(params=[False, True], ids=["host-publishes", "auto-publish"])
def served(
    request: pytest.FixtureRequest, db_url: str, tmp_path: Path, clock: FakeClock
) -> Iterator[Services]:
    services = _start(db_url, tmp_path, clock, auto=request.param)
    yield services
    services.engine.dispose()


@pytest.fixture
def host(db_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[Services]:
    services = _start(db_url, tmp_path, clock, auto=False)
    yield services
    services.engine.dispose()


@pytest.fixture
def auto(db_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[Services]:
    services = _start(db_url, tmp_path, clock, auto=True)
    yield services
    services.engine.dispose()


def published(services: Services) -> bool:
    with transaction(services.factory) as session:
        venue = venue_by_key(session, "ruiquan")
        assert venue is not None
        return venue.published_at is not None


def read_state_before_completion(monkeypatch: pytest.MonkeyPatch) -> None:
    """The next score reads the venue's state as it was before another worker's
    completing score committed (its counts and sheets it reads after)."""
    real = handlers.scoring.state_and_sheet

    def before(*args: object) -> tuple[VenueState, object]:
        state, sheet = real(*args)  # type: ignore[arg-type]
        return VenueState(None, None, state.auto_publish), sheet

    monkeypatch.setattr(handlers.scoring, "state_and_sheet", before)


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
    host: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "🎉" in fill(host)
    read_state_before_completion(monkeypatch)
    status, answer = say(host, "shenyi", "更正 1号 85")
    assert status == "ok", answer
    assert answer.startswith("已更正 申毅 → 瑞泉中学共同体：85 分"), answer
    assert "🎉" not in answer


def test_a_correction_racing_the_completion_still_auto_publishes(
    auto: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The completing score saw 张伟利's outlying 50 and left the venue unpublished; his
    # correction, which read the state before that score committed, clears the outlier.
    for judge, total in JUDGES[:2]:
        say(auto, judge, "评分\n" + "\n".join(f"{n}号 {total}" for n in range(1, 6)))
    _, last = say(
        auto, "zhangweili", "评分\n1号 50\n" + "\n".join(f"{n}号 87" for n in range(2, 6))
    )
    assert "🎉" in last, last
    assert not published(auto)
    read_state_before_completion(monkeypatch)
    status, answer = say(auto, "zhangweili", "更正 1号 87")
    assert status == "ok", answer
    assert answer.endswith("瑞泉中学会场成绩已自动公布。"), answer
    assert published(auto)


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


def test_a_contestant_committed_while_the_last_score_runs_keeps_the_venue_open(
    host: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The 加选手 commits inside the last score's transaction, after its first statement: on
    # MariaDB's REPEATABLE READ the score would not have seen it to the end.
    if host.engine.dialect.name == "sqlite":
        pytest.skip("SQLite's writers take turns: nothing commits inside another's transaction")
    fill(host, leave_last=True)
    added: list[int] = []

    def meanwhile(read: Callable[..., object]) -> Callable[..., object]:
        def add_then_read(*args: object, **named: object) -> object:
            if not added:
                with transaction(host.factory) as other:
                    venue = venue_by_key(other, "ruiquan")
                    assert venue is not None
                    added.append(add_contestant(other, venue, "新选手"))
            return read(*args, **named)

        return add_then_read

    # The score line's first read: on PostgreSQL with the first score's writes.
    for name in ("state_and_sheet", "score_if_new"):
        monkeypatch.setattr(handlers.scoring, name, meanwhile(getattr(handlers.scoring, name)))
    status, answer = say(host, "zhangweili", "评分 5号 87")
    assert status == "ok", answer
    assert added
    assert "🎉" not in answer
    with transaction(host.factory) as session:
        venue = venue_by_key(session, "ruiquan")
        assert venue is not None
        assert venue.completed_at is None
