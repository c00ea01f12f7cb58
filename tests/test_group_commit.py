"""Group commits (``Dispatcher.process_many``, ``bot.intake.Intake``): quick messages that
queue behind a writer are stored several to a transaction, yet each is answered exactly as
alone — a refusal undoes only its own writes, a repeat gets the stored answer — and a batch
that cannot be stored loses nothing: none of it is written and every one is told to retry."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import count

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError, OperationalError

from bot import intake as intake_module
from bot.app import Services
from bot.dispatcher import Outcome
from bot.intake import Intake
from handlers.commands import Command
from handlers.context import Context
from handlers.messages import InboundMessage, Reply
from handlers.parsing import parse
from handlers.registry import handle as registry_handle
from storage.db import transaction
from storage.errors import StorageUnavailable
from storage.models import InboundMessageRow, ScoreRevision, ScoreSheet
from storage.scores import record_sheet
from tests.support.writers import writer_held

IDS = count()


def message(user: str, text: str, message_id: str = "") -> InboundMessage:
    return InboundMessage(
        "wecom", "wecom_app", message_id or f"g{next(IDS)}", user, text, "private"
    )


def counted(services: Services, table: type) -> int:
    with transaction(services.factory) as session:
        return int(session.scalar(select(func.count()).select_from(table)) or 0)


@contextmanager
def commits(services: Services) -> Iterator[list[int]]:
    seen: list[int] = []

    def on_commit(_conn: object) -> None:
        seen.append(1)

    event.listen(services.engine, "commit", on_commit)
    try:
        yield seen
    finally:
        event.remove(services.engine, "commit", on_commit)


def test_a_batch_is_one_commit_and_each_message_is_answered_as_alone(services: Services) -> None:
    """On every backend: SQLite, and PostgreSQL and MariaDB where they run."""
    good = message("shenyi", "评分 1号 86")
    batch = [
        good,
        message("liangfei", "评分 1号 860"),  # out of range: refused
        message("zhangweili", "评分 1号 90"),
        good,  # the platform's retry of the first, in the same batch
        message("nobody", "评分 1号 80"),  # not on the list
    ]
    with commits(services) as seen:
        outcomes = services.dispatcher.process_many([(m, parse(m.text)) for m in batch])
    assert len(seen) == 1
    texts = [o.reply.text for o in outcomes]
    assert texts[0] == "已记录 申毅 → 瑞泉中学共同体：86 分（总分） · 本会场您还剩 4 位未评"
    assert outcomes[1].status == "refused"
    assert "860" in texts[1]
    assert texts[2].startswith("已记录 张伟利 → 瑞泉中学共同体：90 分")
    assert outcomes[3].duplicate
    assert texts[3] == texts[0]
    assert outcomes[4].status == "unknown_person"
    assert counted(services, ScoreSheet) == 2  # 申毅 and 张伟利; the refusal undone
    assert counted(services, ScoreRevision) == 2
    assert counted(services, InboundMessageRow) == 4  # the retry is not logged twice


def test_a_batch_without_refusals_runs_without_savepoints(sqlite_services: Services) -> None:
    batch = [message(user, "评分 1号 88") for user in ("shenyi", "liangfei", "zhangweili")]
    sent: list[str] = []
    event.listen(
        sqlite_services.engine, "before_cursor_execute", lambda *a: sent.append(a[2].upper())
    )
    with commits(sqlite_services) as seen:
        outcomes = sqlite_services.dispatcher.process_many([(m, parse(m.text)) for m in batch])
    assert len(seen) == 1
    assert [o.status for o in outcomes] == ["ok", "ok", "ok"]
    assert not [s for s in sent if "SAVEPOINT" in s]
    assert counted(sqlite_services, ScoreSheet) == 3


@pytest.mark.parametrize("on", ["loop", "thread"])
def test_a_batch_that_fails_halfway_stores_none_of_it_and_every_request_is_told(
    sqlite_services: Services, monkeypatch: pytest.MonkeyPatch, threads: list[str], on: str
) -> None:
    """The disk fails on the batch's second message: the first one's writes, made in the
    same transaction, go too, and each waiting request gets the error (a 503, retried)."""
    calls = count()

    def failing(*args: object, **kwargs: object) -> object:
        if next(calls) == 1:
            raise OperationalError("INSERT INTO score_sheets", {}, Exception("disk I/O error"))
        return record_sheet(*args, **kwargs)  # type: ignore[arg-type]

    intake = Intake(sqlite_services.dispatcher)
    messages = [message(user, "评分 1号 85") for user in ("shenyi", "liangfei", "zhangweili")]
    monkeypatch.setattr("handlers.scoring.record_sheet", failing)
    results = asyncio.run(_answers(sqlite_services, intake, messages, on=on))
    assert list(intake.batches) == [3]
    assert threads == ([] if on == "loop" else ["process_many"])
    assert all(isinstance(r, StorageUnavailable) for r in results)
    assert counted(sqlite_services, ScoreSheet) == 0  # the first one's sheet went too
    assert counted(sqlite_services, InboundMessageRow) == 0


async def _answers(
    services: Services, intake: Intake, messages: list[InboundMessage], *, on: str = "thread"
) -> list[Outcome | BaseException]:
    """The answers (or errors) of ``messages`` as one batch: ``on`` the event loop (they
    arrive together while the writers' turn is free) or on a ``thread`` (they queue behind
    a writer)."""
    if on == "loop":
        together = [intake.process(m) for m in messages]
        return await asyncio.wait_for(asyncio.gather(*together, return_exceptions=True), 30)
    with writer_held(services.factory):
        tasks = [asyncio.ensure_future(intake.process(m)) for m in messages]
        await asyncio.sleep(0.2)
    return await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)


@pytest.fixture
def threads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of what the intake ran on a thread."""
    ran: list[str] = []
    real = intake_module.run_in_threadpool

    async def recorded(func: Callable[..., object], *args: object) -> object:
        ran.append(func.__name__)
        return await real(func, *args)

    monkeypatch.setattr(intake_module, "run_in_threadpool", recorded)
    return ran


async def _queued(services: Services, intake: Intake, messages: list[InboundMessage]) -> list[str]:
    with writer_held(services.factory):
        tasks = [asyncio.ensure_future(intake.process(m)) for m in messages]
        await asyncio.sleep(0.2)
        # The loop is free while they wait (this line ran), and nothing is answered yet.
        assert not any(task.done() for task in tasks)
    outcomes = await asyncio.wait_for(asyncio.gather(*tasks), 30)
    return [o.reply.text for o in outcomes]


def test_messages_queued_behind_a_writer_go_in_one_batch(sqlite_services: Services) -> None:
    intake = Intake(sqlite_services.dispatcher)
    judges = [("shenyi", "申毅"), ("liangfei", "梁飞"), ("zhangweili", "张伟利")]
    messages = [message(user, f"评分 {n}号 8{n}") for n in (1, 2) for user, _ in judges]
    with commits(sqlite_services) as seen:
        texts = asyncio.run(_queued(sqlite_services, intake, messages))
    assert list(intake.batches) == [6]
    assert len(seen) == 1  # six messages, one commit (the holder wrote nothing)
    for text, (n, (_, name)) in zip(texts, [(n, j) for n in (1, 2) for j in judges], strict=True):
        assert text.startswith(f"已记录 {name} → ")
        assert f"：8{n} 分" in text
    assert counted(sqlite_services, ScoreSheet) == 6


def test_a_request_that_left_while_queued_is_still_stored_and_the_rest_answered(
    sqlite_services: Services,
) -> None:
    intake = Intake(sqlite_services.dispatcher)
    messages = [message(user, "评分 1号 85") for user in ("shenyi", "liangfei", "zhangweili")]

    async def run() -> list[str]:
        with writer_held(sqlite_services.factory):
            tasks = [asyncio.ensure_future(intake.process(m)) for m in messages]
            await asyncio.sleep(0.2)
            tasks[1].cancel()  # the platform gave up on the request
        await asyncio.wait([tasks[0], tasks[2]], timeout=30)
        return [tasks[0].result().reply.text, tasks[2].result().reply.text]

    first, third = asyncio.run(run())
    assert first.startswith("已记录 申毅")
    assert third.startswith("已记录 张伟利")
    assert counted(sqlite_services, ScoreSheet) == 3  # its retry will get the stored answer


def test_a_handler_that_fails_in_a_batch_runs_and_is_logged_once(
    sqlite_services: Services, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug in one message's handler rolls the batch back and runs it again with
    savepoints; the failing message is answered from its first run (as ``process`` does),
    not run a second time: one traceback in the log, not two."""
    runs: list[str] = []

    def handle(ctx: Context, command: Command) -> Reply:
        runs.append(ctx.message.sender_id)
        if ctx.message.sender_id == "liangfei":
            raise RuntimeError("a bug")
        return registry_handle(ctx, command)

    monkeypatch.setattr("bot.dispatcher.handle", handle)
    batch = [message(user, "评分 1号 86") for user in ("shenyi", "liangfei", "zhangweili")]
    with caplog.at_level("INFO", logger="edubot.dispatch"):
        outcomes = sqlite_services.dispatcher.process_many([(m, parse(m.text)) for m in batch])
    assert [o.status for o in outcomes] == ["ok", "error", "ok"]
    assert runs.count("liangfei") == 1
    assert len([r for r in caplog.records if "handler failed" in r.getMessage()]) == 1
    assert counted(sqlite_services, ScoreSheet) == 2
    assert counted(sqlite_services, InboundMessageRow) == 3


@pytest.mark.parametrize("on", ["loop", "thread"])
def test_a_message_that_breaks_a_constraint_fails_alone(
    sqlite_services: Services, monkeypatch: pytest.MonkeyPatch, threads: list[str], on: str
) -> None:
    """One message's handler breaks a constraint (a bug, or on a server a concurrent
    write): as alone, that message is answered 503 and nothing of it is stored, while the
    others of its batch are stored and answered."""

    def handle(ctx: Context, command: Command) -> Reply:
        if ctx.message.sender_id == "liangfei":
            raise IntegrityError("INSERT INTO x", {}, Exception("NOT NULL constraint failed"))
        return registry_handle(ctx, command)

    monkeypatch.setattr("bot.dispatcher.handle", handle)
    intake = Intake(sqlite_services.dispatcher)
    messages = [message(user, "评分 1号 86") for user in ("shenyi", "liangfei", "zhangweili")]
    first, broken, third = asyncio.run(_answers(sqlite_services, intake, messages, on=on))
    assert list(intake.batches) == [3]
    assert threads == ([] if on == "loop" else ["process_many"])
    assert isinstance(broken, StorageUnavailable)
    assert not isinstance(first, BaseException)
    assert not isinstance(third, BaseException)
    assert counted(sqlite_services, ScoreSheet) == 2
