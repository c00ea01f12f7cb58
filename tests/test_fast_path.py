"""The dispatcher's fast path (``Dispatcher.process_many_now``): texts of scores are handled
on the caller's thread (the HTTP event loop) only while the writers' turn is free, and only
kinds of message that cannot wait on anything; every other message is left to ``process``
on a thread, untouched."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from itertools import count

import pytest
from sqlalchemy import event, func, select

from bot.app import Services
from bot.dispatcher import Outcome
from bot.intake import Intake
from handlers.messages import Attachment, InboundMessage
from handlers.parsing import parse
from storage.db import transaction
from storage.models import InboundMessageRow, ScoreSheet
from tests.support.writers import writer_held

IDS = count()


def message(user: str, text: str, attachment: Attachment | None = None) -> InboundMessage:
    return InboundMessage(
        "wecom", "wecom_app", f"f{next(IDS)}", user, text, "private", attachment=attachment
    )


def now(services: Services, one: InboundMessage) -> Outcome | None:
    """The fast path's outcome for one message; None if it left the message alone."""
    outcomes = services.dispatcher.process_many_now([(one, parse(one.text))])
    if outcomes is None:
        return None
    (outcome,) = outcomes
    assert isinstance(outcome, Outcome)
    return outcome


def logged(services: Services) -> int:
    with transaction(services.factory) as session:
        return int(session.scalar(select(func.count()).select_from(InboundMessageRow)) or 0)


def sheets(services: Services) -> int:
    with transaction(services.factory) as session:
        return int(session.scalar(select(func.count()).select_from(ScoreSheet)) or 0)


def test_a_score_is_handled_at_once_and_answered_as_process_would(
    sqlite_services: Services,
) -> None:
    fast = now(sqlite_services, message("shenyi", "评分 1号 86"))
    slow = sqlite_services.dispatcher.process(message("liangfei", "评分 1号 86"))
    assert fast is not None
    assert fast.reply.text == "已记录 申毅 → 瑞泉中学共同体：86 分（总分） · 本会场您还剩 4 位未评"
    assert slow.reply.text == fast.reply.text.replace("申毅", "梁飞")
    assert sheets(sqlite_services) == 2


def test_a_repeated_delivery_on_the_fast_path_gets_the_stored_answer(
    sqlite_services: Services,
) -> None:
    first = message("shenyi", "评分 1号 86")
    answered = now(sqlite_services, first)
    again = now(sqlite_services, first)
    assert answered is not None
    assert again is not None
    assert again.duplicate
    assert again.reply == answered.reply
    assert sheets(sqlite_services) == 1
    assert logged(sqlite_services) == 1


def test_a_refused_score_on_the_fast_path_records_only_its_answer(
    sqlite_services: Services,
) -> None:
    outcome = now(sqlite_services, message("shenyi", "评分 1号 860"))
    assert outcome is not None
    assert outcome.status == "refused"
    assert sheets(sqlite_services) == 0
    assert logged(sqlite_services) == 1


def test_other_kinds_of_message_are_left_to_the_thread(sqlite_services: Services) -> None:
    assert now(sqlite_services, message("shenyi", "进度")) is None
    assert now(sqlite_services, message("shenyi", "排名")) is None
    with_file = message("shenyi", "评分 1号 86", attachment=Attachment("file", "media-1", "a.pdf"))
    assert now(sqlite_services, with_file) is None
    assert logged(sqlite_services) == 0
    assert sheets(sqlite_services) == 0


def test_a_score_waits_on_the_thread_when_another_writer_holds_the_turn(
    sqlite_services: Services,
) -> None:
    score = message("shenyi", "评分 1号 86")
    with writer_held(sqlite_services.factory):
        assert now(sqlite_services, score) is None  # returned, did not wait
    assert logged(sqlite_services) == 0  # nothing half-done: the thread path runs it whole
    assert sqlite_services.dispatcher.process(score).reply.text.startswith("已记录 申毅")
    assert sheets(sqlite_services) == 1
    assert logged(sqlite_services) == 1


def test_the_intake_answers_a_score_on_the_loop_when_the_turn_is_free(
    sqlite_services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No thread for a score while the turn is free; a thread for anything else."""
    threads: list[str] = []

    async def on_a_thread(func: Callable[..., Outcome], *args: object) -> Outcome:
        threads.append(func.__name__)
        return func(*args)

    monkeypatch.setattr("bot.intake.run_in_threadpool", on_a_thread)
    intake = Intake(sqlite_services.dispatcher)

    async def run() -> list[Outcome]:
        return [
            await intake.process(message("shenyi", "评分 1号 86")),
            await intake.process(message("shenyi", "进度")),
        ]

    score, progress = asyncio.run(run())
    assert score.reply.text.startswith("已记录 申毅")
    assert progress.status == "ok"
    assert threads == ["process"]
    assert list(intake.batches) == []


def test_scores_read_in_one_turn_of_the_loop_are_one_transaction_on_the_loop(
    sqlite_services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Requests that arrive together (the loop reads them in one turn) are stored together:
    one commit and one sync to disk, no thread; each answered as alone, a refusal too."""
    threads: list[str] = []

    async def on_a_thread(func: Callable[..., Outcome], *args: object) -> Outcome:
        threads.append(func.__name__)
        return func(*args)

    monkeypatch.setattr("bot.intake.run_in_threadpool", on_a_thread)
    commits: list[object] = []
    event.listen(sqlite_services.engine, "commit", commits.append)
    intake = Intake(sqlite_services.dispatcher)
    texts = ["评分 1号 86", "评分 1号 860", "评分 2号 77", "评分 1号 91"]
    users = ["shenyi", "liangfei", "shenyi", "zhangweili"]

    async def run() -> list[Outcome]:
        return await asyncio.gather(
            *(intake.process(message(u, t)) for u, t in zip(users, texts, strict=True))
        )

    outcomes = asyncio.run(run())
    assert list(intake.batches) == [4]
    assert threads == []
    assert len(commits) == 1
    assert [o.status for o in outcomes] == ["ok", "refused", "ok", "ok"]
    assert outcomes[0].reply.text.startswith("已记录 申毅 → 瑞泉中学共同体：86 分")
    assert "860" in outcomes[1].reply.text
    assert outcomes[2].reply.text.startswith("已记录 申毅 → ")
    assert outcomes[3].reply.text.startswith("已记录 张伟利 → 瑞泉中学共同体：91 分")
    assert sheets(sqlite_services) == 3
    assert logged(sqlite_services) == 4


def test_a_writer_from_outside_edubot_sends_the_score_to_the_thread_at_once(
    sqlite_services: Services,
) -> None:
    """An operator's sqlite3 shell holding a write: the loop does not wait in SQLite's busy
    handler (5 s here); the score goes to the thread path, which waits and stores it."""
    path = sqlite_services.engine.url.database
    assert path
    shell = sqlite3.connect(path, isolation_level=None)
    shell.execute("BEGIN IMMEDIATE")
    score = message("shenyi", "评分 1号 86")
    try:
        started = time.monotonic()
        assert now(sqlite_services, score) is None
        assert time.monotonic() - started < 1.0
    finally:
        shell.execute("ROLLBACK")
        shell.close()
    assert logged(sqlite_services) == 0
    assert sqlite_services.dispatcher.process(score).reply.text.startswith("已记录 申毅")
    # The connections keep their busy timeout for everyone else.
    with sqlite_services.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
    again = message("liangfei", "评分 1号 86")
    answered = now(sqlite_services, again)
    assert answered is not None
    assert answered.reply.text.startswith("已记录 梁飞")


def test_with_every_pooled_connection_taken_the_score_goes_to_a_thread(
    sqlite_services: Services,
) -> None:
    # Desk pages on threads holding every connection the pool may open: on the event loop
    # the score would wait up to the pool's timeout with every other request behind it.
    engine = sqlite_services.engine
    pool = engine.pool
    held = []
    try:
        while pool.checkedin() > 0 or pool.overflow() < pool._max_overflow:
            held.append(engine.connect())
        started = time.perf_counter()
        assert now(sqlite_services, message("shenyi", "评分 1号 86")) is None
        assert time.perf_counter() - started < 1.0
    finally:
        for connection in held:
            connection.close()
    assert now(sqlite_services, message("shenyi", "评分 1号 86")) is not None
    assert sheets(sqlite_services) == 1
