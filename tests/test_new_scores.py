"""A new score line on PostgreSQL reads the venue's state and the judge's sheet and writes the
first score in one statement (``storage.new_scores``), unless what it reads says otherwise.
Every other answer is the one the two-step path gives, and on every backend alike: these
run on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bot.app import Services
from storage.db import transaction
from storage.models import ScoreRevision, ScoreSheet, Venue, VenueJudge
from storage.new_scores import score_if_new
from storage.people import venue_by_key
from tests.support.campaign import RUIQUAN
from tests.support.wire import PrivateChat

SCORE = "18 22 17 20 9"
NOW = datetime(2026, 3, 26, 8, tzinfo=UTC)


def _written(services: Services) -> tuple[int, int, int]:
    """Sheets, revisions and the sum of the judges' tallies, as committed."""
    with transaction(services.factory) as session:
        return _written_in(session)


def _written_in(session: Session) -> tuple[int, int, int]:
    sheets = session.scalar(select(func.count()).select_from(ScoreSheet))
    revisions = session.scalar(select(func.count()).select_from(ScoreRevision))
    tallies = session.scalar(select(func.coalesce(func.sum(VenueJudge.scored), 0)))
    return int(sheets or 0), int(revisions or 0), int(tallies or 0)


def test_a_first_score_is_written_and_counted(services: Services) -> None:
    send = PrivateChat(services.dispatcher, "ns")
    answer = send("shenyi", f"评分 {RUIQUAN[0]} {SCORE}")
    assert (
        answer
        == f"已记录 申毅 → {RUIQUAN[0]}：86 分（目标18 措施22 进展17 成效20 表现9） · 本会场您还剩 4 位未评"
    )
    assert _written(services) == (1, 1, 1)


def test_a_repeated_score_changes_nothing_and_a_different_one_is_refused(
    services: Services,
) -> None:
    send = PrivateChat(services.dispatcher, "ns")
    assert send("shenyi", f"评分 {RUIQUAN[0]} {SCORE}").startswith("已记录 ")
    again = send("shenyi", f"评分 {RUIQUAN[0]} {SCORE}")
    assert again.startswith(f"已记录过（未变化）申毅 → {RUIQUAN[0]}：86 分")
    other = send("shenyi", f"评分 {RUIQUAN[0]} 19 22 17 20 9")
    assert other.startswith(f"您已给 {RUIQUAN[0]} 评过 86 分")
    assert f"更正 {RUIQUAN[0]} 19 22 17 20 9" in other
    assert _written(services) == (1, 1, 1)  # nothing written by the two that read a sheet


def test_a_published_venue_refuses_a_score_before_checking_it_and_nothing_is_committed(
    services: Services,
) -> None:
    with transaction(services.factory) as session:
        session.execute(
            update(Venue)
            .where(Venue.key == "ruiquan")
            .values(published_at=datetime(2026, 3, 26, 8, tzinfo=UTC))
        )
    send = PrivateChat(services.dispatcher, "ns")
    valid = send("shenyi", f"评分 {RUIQUAN[0]} {SCORE}")
    too_high = send("shenyi", f"评分 {RUIQUAN[1]} 99 22 17 20 9")
    for answer in (valid, too_high):  # the lock first, as on the two-step path
        assert "成绩已于" in answer
        assert "公布并锁定，不再接受评分。" in answer
    # Committed, that is: the refusal rolls back whatever the statement wrote. That it
    # writes nothing is shown below the handler (the next test but one).
    assert _written(services) == (0, 0, 0)


def test_a_correction_of_nothing_is_refused_and_an_invalid_score_is_explained(
    services: Services,
) -> None:
    send = PrivateChat(services.dispatcher, "ns")
    assert send("shenyi", f"更正 {RUIQUAN[0]} {SCORE}").startswith(
        f"您还没有给 {RUIQUAN[0]} 评分，无需更正。"
    )
    assert "？" in send("shenyi", f"评分 {RUIQUAN[0]} 99 22 17 20 9")  # over the item's max
    assert _written(services) == (0, 0, 0)


def test_the_statement_writes_nothing_when_what_it_reads_says_no(services: Services) -> None:
    """Below the handler (whose refusal would roll any write back): a published venue, and
    a sheet already there, leave every table as it was, in the statement's own transaction."""
    if services.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: elsewhere a score line reads before it writes")
    send = PrivateChat(services.dispatcher, "ns")
    assert send("shenyi", f"评分 {RUIQUAN[0]} {SCORE}").startswith("已记录 ")
    with transaction(services.factory) as session:
        venue = venue_by_key(session, "ruiquan")
        assert venue is not None
        judge = next(j.person_id for j in venue.judges if j.person.name == "申毅")
        first, second = (c.id for c in venue.contestants[:2])
        score = {"judge_id": judge, "total": Decimal(86), "items": None, "now": NOW}
        score |= {"venue_id": venue.id, "inbound_id": None, "source": "test"}
        state, existing, written = score_if_new(session, contestant_id=first, **score)
        assert (state.published_at, written) == (None, None)
        assert existing is not None
        assert existing.total == Decimal(86)
        assert _written_in(session) == (1, 1, 1)
        session.execute(update(Venue).where(Venue.id == venue.id).values(published_at=NOW))
        state, existing, written = score_if_new(session, contestant_id=second, **score)
        assert (state.published_at, existing, written) == (NOW, None, None)
        assert _written_in(session) == (1, 1, 1)
        session.rollback()
