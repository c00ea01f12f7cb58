"""Statements per scoring message: each is a round trip to a database server, so a scoring
message runs a fixed, small number of them (counted as the database sees them), and
the same messages give the same answers and rows on every database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select

from bot.app import Services, build_services
from bot.clock import FakeClock
from bot.config import settings_from_mapping
from handlers.messages import InboundMessage
from handlers.parsing import parse
from storage.db import transaction
from storage.models import (
    Contestant,
    InboundMessageRow,
    Person,
    RubricItem,
    ScoreRevision,
    VenueJudge,
)
from tests.conftest import make_settings
from tests.support.campaign import RUIQUAN, campaign
from tests.support.wire import PrivateChat

SCORE = "18 22 17 20 9"


@pytest.fixture
def served(db_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[Services]:
    svc = build_services(make_settings(db_url, tmp_path), clock=clock)
    yield svc
    svc.engine.dispose()


MOST = {"sqlite": 10, "postgresql": 3, "mysql": 9}
"""Statements per new score (SQLite's count includes its explicit BEGIN IMMEDIATE; the other
drivers begin implicitly). On PostgreSQL the catalog's counter comes back with the claim,
and the venue's state and the sheet are read in the statement that writes the score
(``storage.new_scores``): claim, score, answer. Before issue 16: 12 on PostgreSQL and
MariaDB, with a savepoint around the handler and the venue's state and the sheet read
apart; 4 on PostgreSQL before the state was read with the write."""


class Statements:
    """Every statement the engine runs but COMMIT: SQLAlchemy's cursor events on a server;
    on SQLite the driver's own trace (the hot statements go straight to its cursor,
    ``storage.prepared``, past SQLAlchemy's events)."""

    def __init__(self, services: Services) -> None:
        self.whole: list[str] = []
        """Every statement as the database got it, on one line."""
        engine = services.engine
        if engine.dialect.name != "sqlite":
            event.listen(engine, "before_cursor_execute", self._statement)
            return
        engine.dispose()  # connections from now on are traced from their checkout
        event.listen(engine, "checkout", lambda raw, *_: raw.set_trace_callback(self._traced))
        event.listen(engine, "checkin", lambda raw, *_: raw.set_trace_callback(None))

    @property
    def sent(self) -> list[str]:
        """The statements cut to 100 characters, for a readable failure."""
        return [statement[:100] for statement in self.whole]

    def _statement(self, _conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        self.whole.append(" ".join(statement.split()))

    def _traced(self, statement: str) -> None:
        if statement.strip().upper() != "COMMIT":
            self.whole.append(" ".join(statement.split()))


def test_a_scoring_message_runs_few_statements_and_no_savepoint(served: Services) -> None:
    send = PrivateChat(served.dispatcher, "rt")
    assert send("shenyi", f"评分 {RUIQUAN[0]} {SCORE}").startswith("已记录")  # warm caches
    statements = Statements(served)
    answer = send("shenyi", f"评分 {RUIQUAN[1]} {SCORE}")
    assert answer.startswith("已记录 申毅 → 杜桥中学：")
    assert "本会场您还剩 3 位未评" in answer
    sent = statements.sent
    assert len(sent) <= MOST[served.engine.dialect.name], sent
    assert not [s for s in sent if "SAVEPOINT" in s.upper()], sent
    assert sum(1 for s in sent if s.upper().startswith("UPDATE INBOUND_MESSAGES")) <= 1


def test_a_refusal_records_only_the_answer(served: Services) -> None:
    send = PrivateChat(served.dispatcher, "rt")
    assert send("shenyi", f"评分 {RUIQUAN[0]} {SCORE}").startswith("已记录")
    refused = send("shenyi", f"评分 {RUIQUAN[0]} 19 22 17 20 9")  # a second, different score
    assert refused.startswith(f"您已给 {RUIQUAN[0]} 评过")
    with transaction(served.factory) as session:
        rows = session.execute(
            select(InboundMessageRow.message_id, InboundMessageRow.status).order_by(
                InboundMessageRow.id
            )
        ).all()
        revisions = session.scalar(select(func.count()).select_from(ScoreRevision))
    assert [status for _, status in rows] == ["ok", "refused"]
    assert revisions == 1


def test_a_person_added_by_another_instance_is_known_at_their_first_message(
    served: Services, db_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    send = PrivateChat(served.dispatcher, "rt")
    assert send("newcomer", "帮助").startswith("您好，您的企业微信账号（newcomer）不在")
    data = campaign(db_url)
    data["server"] = {"data_dir": str(tmp_path / "data")}
    data["people"].append({"name": "新评委", "roles": ["judge"], "wecom_userid": "newcomer"})
    build_services(settings_from_mapping(data), clock=clock).engine.dispose()  # its sync
    assert not send("newcomer", "帮助").startswith("您好，您的企业微信账号")
    with transaction(served.factory) as session:
        rows = session.execute(
            select(InboundMessageRow.status, Person.name)
            .outerjoin(Person, Person.id == InboundMessageRow.person_id)
            .where(InboundMessageRow.sender_id == "newcomer")
            .order_by(InboundMessageRow.id)
        ).all()
    assert [tuple(r) for r in rows] == [("unknown_person", None), ("ok", "新评委")]


def test_a_person_added_by_another_instance_is_known_in_a_batch_too(
    served: Services, db_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    """The batch's claims read the catalog's counter (on PostgreSQL, all in one round trip)
    and every sender is looked up again in the catalog as it is now."""
    send = PrivateChat(served.dispatcher, "rt")
    assert send("shenyi", f"评分 {RUIQUAN[0]} {SCORE}").startswith("已记录")  # cached catalog
    data = campaign(db_url)
    data["server"] = {"data_dir": str(tmp_path / "data")}
    data["people"].append({"name": "新评委", "roles": ["judge"], "wecom_userid": "newcomer"})
    build_services(settings_from_mapping(data), clock=clock).engine.dispose()  # its sync
    batch = [
        InboundMessage("wecom", "wecom_app", f"rt-new-{i}", user, "评分 1号 80", "private")
        for i, user in enumerate(("liangfei", "newcomer"))
    ]
    outcomes = served.dispatcher.process_many([(m, parse(m.text)) for m in batch])
    assert outcomes[0].status == "ok"  # type: ignore[union-attr]
    assert outcomes[1].status != "unknown_person"  # type: ignore[union-attr]
    with transaction(served.factory) as session:
        rows = session.execute(
            select(InboundMessageRow.sender_id, Person.name)
            .outerjoin(Person, Person.id == InboundMessageRow.person_id)
            .where(InboundMessageRow.message_id.like("rt-new-%"))
            .order_by(InboundMessageRow.id)
        ).all()
    assert [tuple(r) for r in rows] == [("liangfei", "梁飞"), ("newcomer", "新评委")]


COMPLETING = {"sqlite": 18, "postgresql": 11, "mysql": 17}
"""Statements for the score that completes a venue (no auto-publish): a new score's, then
the catalog's counter (unchanged since the claim, so the catalog's copy of the venue
serves), the venue's sheets for its table, the completion time, its group and the group's
notice.
Before: the stored venue was loaded again, with its judges, contestants and rubric items apart
(21 on SQLite, 20 on MariaDB)."""


def test_the_score_that_completes_a_venue_does_not_load_the_venue_again(
    served: Services,
) -> None:
    send = PrivateChat(served.dispatcher, "rt")
    judges = ("shenyi", "liangfei", "zhangweili")
    for judge in judges:
        names = RUIQUAN if judge != judges[-1] else RUIQUAN[:-1]
        lines = "\n".join(f"{name} {SCORE}" for name in names)
        assert "已记录" in send(judge, f"评分\n{lines}")
    statements = Statements(served)
    answer = send(judges[-1], f"评分 {RUIQUAN[-1]} {SCORE}")
    assert answer.endswith("🎉 瑞泉中学会场全部评分已完成。"), answer
    sent = [s.upper() for s in statements.whole]
    # The ORM's loads of the stored venue: its contestants, its rubric's items, and its
    # judges with their people (the judges' tallies alone are the new score's count).
    stored = [f"FROM {t.__tablename__.upper()}" for t in (Contestant, RubricItem)]
    judges = f"FROM {VenueJudge.__tablename__.upper()}"
    reloads = [
        s
        for s in sent
        if any(table in s for table in stored)
        or (judges in s and Person.__tablename__.upper() in s)
    ]
    assert reloads == [], reloads
    assert len(sent) <= COMPLETING[served.engine.dialect.name], statements.sent


BATCH = {"sqlite": 1 + 3 * 9, "postgresql": 2 + 3, "mysql": 3 * 9}
"""Statements for three new scores stored together (``Dispatcher.process_many``). On
PostgreSQL the three claims are one statement run three times in a pipeline, as are the
three answers: one round trip each, so one per score and two per batch. Elsewhere each
score runs its own (SQLite's count has the batch's one BEGIN IMMEDIATE and three settles,
which its driver runs as one ``executemany``). Before: 12 on PostgreSQL."""


def test_scores_stored_together_share_the_claim_and_the_answer_round_trips(
    served: Services,
) -> None:
    send = PrivateChat(served.dispatcher, "rt")
    assert send("shenyi", f"评分 {RUIQUAN[0]} {SCORE}").startswith("已记录")  # warm caches
    batch = [
        InboundMessage("wecom", "wecom_app", f"rt-batch-{i}", judge, text, "private")
        for i, (judge, text) in enumerate(
            [
                ("shenyi", f"评分 {RUIQUAN[1]} {SCORE}"),
                ("liangfei", f"评分 {RUIQUAN[0]} {SCORE}"),
                ("zhangweili", f"评分 {RUIQUAN[0]} {SCORE}"),
            ]
        )
    ]
    statements = Statements(served)
    outcomes = served.dispatcher.process_many([(m, parse(m.text)) for m in batch])
    sent = statements.sent
    assert [o.status for o in outcomes] == ["ok", "ok", "ok"]
    assert len(sent) <= BATCH[served.engine.dialect.name], sent
    with transaction(served.factory) as session:
        stored = session.execute(
            select(InboundMessageRow.message_id, InboundMessageRow.reply_text).where(
                InboundMessageRow.message_id.like("rt-batch-%")
            )
        ).all()
    assert sorted(tuple(row) for row in stored) == [
        (m.message_id, o.reply.text) for m, o in zip(batch, outcomes, strict=True)
    ]
