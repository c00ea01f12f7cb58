"""On a database server (PostgreSQL, MariaDB) each worker process has its own ``Intake``,
and their transactions run at the same time: a batch there would hold the rows of several
judges at once, taken in the order its messages came, so two workers' batches could wait
on each other (a deadlock: one batch aborted, every message in it answered 503). Quick
messages there run alone, as they always did, each on a thread."""

from __future__ import annotations

import asyncio
import threading
from itertools import count

import pytest
from sqlalchemy import func, select

from bot.app import Services
from bot.dispatcher import Dispatcher, Outcome
from bot.intake import Intake
from handlers.messages import InboundMessage
from storage.db import transaction
from storage.models import ScoreSheet

IDS = count()


def message(user: str, text: str) -> InboundMessage:
    return InboundMessage("wecom", "wecom_app", f"srv{next(IDS)}", user, text, "private")


def test_two_workers_scoring_the_same_judges_in_crossed_order_both_store(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    if services.engine.dialect.name == "sqlite":
        pytest.skip("SQLite: one writer at a time, batches cannot overlap")
    # Worker X: 申毅 then 梁飞; worker Y: 梁飞 then 申毅. Each first message has written
    # (its judge's tally row is held) before either worker goes on to its second.
    x = [message("shenyi", "评分 1号 81"), message("liangfei", "评分 1号 82")]
    y = [message("liangfei", "评分 2号 83"), message("shenyi", "评分 2号 84")]
    firsts = {x[0].message_id, y[0].message_id}
    both_wrote = threading.Barrier(2, timeout=10)
    handle_in = Dispatcher._handle_in

    def hooked(self: Dispatcher, session, message: InboundMessage, *rest):  # type: ignore[no-untyped-def]
        outcome = handle_in(self, session, message, *rest)
        if message.message_id in firsts:
            both_wrote.wait()
        return outcome

    monkeypatch.setattr(Dispatcher, "_handle_in", hooked)
    results: dict[str, list[Outcome | BaseException]] = {}

    def worker(name: str, messages: list[InboundMessage]) -> None:
        intake = Intake(services.dispatcher)  # one per worker process

        async def run() -> list[Outcome | BaseException]:
            tasks = [intake.process(m) for m in messages]
            return await asyncio.gather(*tasks, return_exceptions=True)

        results[name] = asyncio.run(run())

    threads = [threading.Thread(target=worker, args=w) for w in (("x", x), ("y", y))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    failed = [r for rs in results.values() for r in rs if isinstance(r, BaseException)]
    assert not failed, (failed, results)
    assert all(isinstance(r, Outcome) and r.status == "ok" for rs in results.values() for r in rs)
    with transaction(services.factory) as session:
        assert session.scalar(select(func.count()).select_from(ScoreSheet)) == 4
