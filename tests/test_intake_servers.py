"""On a database server (PostgreSQL, MariaDB) each worker process has its own ``Intake``,
and their batches run at the same time, each holding the tally rows of several judges at
once. Taken in the order the messages came, two workers' batches could wait on each other
(a deadlock: one batch aborted, every message in it answered 503); ``process_many`` runs a
batch in the order of its senders, so both take the rows in one order and one waits for
the other instead."""

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
    # Worker X: 申毅 then 梁飞; worker Y: 梁飞 then 申毅. After its first message, each batch
    # waits (up to 0.5 s, well within the statement timeout) until the other has written its first too: in arrival order, each
    # would then hold the row the other needs next.
    x = [message("shenyi", "评分 1号 81"), message("liangfei", "评分 1号 82")]
    y = [message("liangfei", "评分 2号 83"), message("shenyi", "评分 2号 84")]
    seen: list[str] = []
    both_wrote = threading.Event()
    handle_in = Dispatcher._handle_in

    def hooked(self: Dispatcher, session, message: InboundMessage, *rest, **named):  # type: ignore[no-untyped-def]
        outcome = handle_in(self, session, message, *rest, **named)
        batch = "x" if message in x else "y"
        if batch not in seen:  # this batch's first message is written
            seen.append(batch)
            if len(seen) == 2:
                both_wrote.set()
            both_wrote.wait(0.5)
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
