"""Each judge's count of scored contestants is kept as sheets are written, not counted per
message: these tests hold the kept tallies against a count from the sheets through scoring,
corrections, config changes (a contestant removed and back, judges reordered, a judge leaving
and coming back) and the migration that introduces them, on every database."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import func, select

from bot.app import Services, build_services
from bot.clock import FakeClock
from bot.config import settings_from_mapping
from storage.db import MIGRATIONS, make_engine, transaction, upgrade
from storage.models import Contestant, ScoreSheet, Venue
from storage.scores import mark_completed, sheet_counts
from tests.support.campaign import RUIQUAN, campaign
from tests.support.wire import PrivateChat

SCORE = "18 22 17 20 9"
JUDGES = {"shenyi": "申毅", "liangfei": "梁飞", "zhangweili": "张伟利"}


def config(db_url: str, tmp_path: Path, **venue: Any) -> dict[str, Any]:
    data = copy.deepcopy(campaign(db_url))
    data["server"] = {"data_dir": str(tmp_path / "data")}
    assert data["venues"][0]["key"] == "ruiquan"
    data["venues"][0].update(venue)
    return data


def start(db_url: str, tmp_path: Path, clock: FakeClock, **venue: Any) -> Services:
    return build_services(settings_from_mapping(config(db_url, tmp_path, **venue)), clock=clock)


@pytest.fixture
def first(db_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[Services]:
    svc = start(db_url, tmp_path, clock)
    yield svc
    svc.engine.dispose()


def kept_and_counted(services: Services) -> tuple[dict[int, int], dict[int, int]]:
    """The kept tallies of 瑞泉 and the same numbers counted from its sheets."""
    with transaction(services.factory) as session:
        venue = session.scalars(select(Venue).filter_by(key="ruiquan")).one()
        judges = [j.person_id for j in venue.judges]
        kept = sheet_counts(session, venue.id, judges)
        counted = dict.fromkeys(judges, 0)
        rows = session.execute(
            select(ScoreSheet.judge_id, func.count())
            .join(Contestant, Contestant.id == ScoreSheet.contestant_id)
            .where(ScoreSheet.venue_id == venue.id, Contestant.position > 0)
            .group_by(ScoreSheet.judge_id)
        )
        for judge, n in rows:
            if judge in counted:
                counted[judge] = int(n)
    return kept, counted


def test_tallies_follow_scores_corrections_and_every_config_change(
    first: Services, db_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    send = PrivateChat(first.dispatcher, "tally")
    for name in RUIQUAN[:3]:
        assert send("shenyi", f"评分 {name} {SCORE}").startswith("已记录")
    assert send("liangfei", f"评分 {RUIQUAN[0]} {SCORE}").startswith("已记录")
    assert send("shenyi", f"更正 {RUIQUAN[0]} 19 22 17 20 9").startswith("已更正")
    assert send("shenyi", f"评分 {RUIQUAN[1]} {SCORE}").startswith("已记录过（未变化）")
    kept, counted = kept_and_counted(first)
    assert kept == counted
    assert sorted(kept.values()) == [0, 1, 3]  # a correction or a repeat adds nothing

    # 杜桥中学 leaves the venue: 申毅's sheet for it stops counting.
    without = [n for n in RUIQUAN if n != RUIQUAN[1]]
    start(db_url, tmp_path, clock, contestants=without).engine.dispose()
    kept, counted = kept_and_counted(first)
    assert kept == counted
    assert sorted(kept.values()) == [0, 1, 2]
    assert "本会场您还剩 1 位未评" in send("shenyi", f"评分 {RUIQUAN[3]} {SCORE}")

    # It comes back, the judges are reordered and 梁飞 leaves: recounted from the sheets.
    start(db_url, tmp_path, clock, judges=["张伟利", "申毅"]).engine.dispose()
    kept, counted = kept_and_counted(first)
    assert kept == counted
    assert sorted(kept.values()) == [0, 4]
    # 梁飞 returns: the sheet written before leaving counts again.
    start(db_url, tmp_path, clock, judges=["申毅", "梁飞", "张伟利"]).engine.dispose()
    kept, counted = kept_and_counted(first)
    assert kept == counted
    assert sorted(kept.values()) == [0, 1, 4]
    assert "本会场您还剩 3 位未评" in send("liangfei", f"评分 {RUIQUAN[1]} {SCORE}")


def test_the_last_sheet_still_completes_the_venue(first: Services) -> None:
    send = PrivateChat(first.dispatcher, "tally")
    answers = [send(user, f"评分 {name} {SCORE}") for user in JUDGES for name in RUIQUAN]
    assert "您在瑞泉中学会场的评分已全部完成" in answers[-1]
    with transaction(first.factory) as session:
        venue = session.scalars(select(Venue).filter_by(key="ruiquan")).one()
        assert venue.completed_at is not None
    kept, counted = kept_and_counted(first)
    assert kept == counted == dict.fromkeys(kept, len(RUIQUAN))


def test_the_migration_counts_the_tallies_of_an_existing_database(
    first: Services, db_url: str
) -> None:
    send = PrivateChat(first.dispatcher, "tally")
    for name in RUIQUAN[:2]:
        send("shenyi", f"评分 {name} {SCORE}")
    send("zhangweili", f"评分 {RUIQUAN[4]} {SCORE}")
    before = kept_and_counted(first)[1]
    first.engine.dispose()

    config_ = Config()
    config_.set_main_option("script_location", str(MIGRATIONS))
    previous = ScriptDirectory.from_config(config_).get_revision("0010").down_revision
    assert isinstance(previous, str)
    engine = make_engine(db_url)
    try:
        with engine.begin() as connection:
            config_.attributes["connection"] = connection
            command.downgrade(config_, previous)  # as the release before this one left it
        upgrade(engine)
    finally:
        engine.dispose()
    kept, counted = kept_and_counted(first)
    assert kept == counted == before
    assert sorted(kept.values()) == [0, 1, 2]


def test_a_completion_is_marked_once_and_a_held_venue_sees_it(first: Services) -> None:
    now = datetime(2026, 12, 3, 9, 30, tzinfo=UTC)
    with transaction(first.factory) as session:
        venue = session.scalars(select(Venue).filter_by(key="ruiquan")).one()
        assert venue.completed_at is None  # loaded, so held by the session
        assert mark_completed(session, venue.id, now) is True
        assert venue.completed_at == now
        assert mark_completed(session, venue.id, now + timedelta(hours=1)) is False
        assert mark_completed(session, 10_000, now) is False  # no such venue
    with transaction(first.factory) as session:
        stored = session.scalars(select(Venue).filter_by(key="ruiquan")).one()
        assert stored.completed_at == now
