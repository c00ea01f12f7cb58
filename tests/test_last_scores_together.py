"""Two judges' last scores at the same moment still complete the venue, once.

On PostgreSQL and MariaDB two workers' transactions run side by side at READ COMMITTED: each
last score counts the other judge's tally as it was before the other committed, so neither
sees the venue complete. Each of them has finished its judge's column, so each looks again
after its commit (``bot.meanwhile``); the later one sees every sheet. Staged here with two
threads that both read their counts before either commits. On SQLite writers take turns and
the last score sees the rest: the same two scores, one after the other, complete the venue
with nothing looked at again."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

import bot.meanwhile
import handlers.scoring
from bot.app import Services, build_services
from bot.clock import FakeClock
from bot.config import settings_from_mapping
from bot.dispatcher import Outcome
from handlers.messages import InboundMessage, message_of
from handlers.parsing import parse
from storage.db import transaction
from storage.inbound import find_inbound
from storage.models import OutboxRow
from storage.people import venue_by_key
from tests.support.campaign import campaign

IDS = count()
JUDGES = (("shenyi", 86), ("liangfei", 88), ("zhangweili", 87))
DONE = "🎉 瑞泉中学会场全部评分已完成。"
SESSION = "https://oapi.dingtalk.com/robot/sendBySession?session="
LAST = ("梁飞", "张伟利")
"""The two judges whose last scores race."""


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


def message(user: str, text: str) -> InboundMessage:
    return InboundMessage("wecom", "wecom_app", f"last{next(IDS)}", user, text, "private")


def fill_all_but_two(services: Services) -> None:
    """The first judge scores all five; the other two all but 5号."""
    for judge, total in JUDGES:
        numbers = range(1, 6) if judge == "shenyi" else range(1, 5)
        text = "评分\n" + "\n".join(f"{n}号 {total}" for n in numbers)
        assert services.dispatcher.process(message(judge, text)).status == "ok"


def both_read_before_either_commits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each score line, having written its sheet and read the counts, waits until the other
    has too: neither transaction has committed when the other counts."""
    together = threading.Barrier(2, timeout=10)
    real = handlers.scoring._score_line

    def line_then_wait(ctx: Any, *args: Any, **named: Any) -> Any:
        scored = real(ctx, *args, **named)
        if ctx.person.name in LAST:
            together.wait()
        return scored

    monkeypatch.setattr(handlers.scoring, "_score_line", line_then_wait)


def last_two(services: Services) -> tuple[InboundMessage, InboundMessage]:
    return message("liangfei", "评分 5号 88"), message("zhangweili", "评分 5号 87")


def completion_pushes(services: Services) -> list[str]:
    with transaction(services.factory) as session:
        rows = session.scalars(select(OutboxRow).order_by(OutboxRow.id)).all()
        return [message_of(r.payload).text for r in rows if r.dedupe_key == "complete:ruiquan"]


def venue_times(services: Services) -> tuple[Any, Any]:
    with transaction(services.factory) as session:
        venue = venue_by_key(session, "ruiquan")
        assert venue is not None
        return venue.completed_at, venue.published_at


def stored_answer(services: Services, sent: InboundMessage) -> str:
    with transaction(services.factory) as session:
        row = find_inbound(session, sent.platform, sent.message_id)
        assert row is not None
        return row.reply_text


def side_by_side(
    services: Services, first: InboundMessage, second: InboundMessage
) -> list[Outcome]:
    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(services.dispatcher.process, m) for m in (first, second)]
        return [f.result(timeout=30) for f in futures]


def on_a_server(services: Services) -> None:
    if services.engine.dialect.name == "sqlite":
        pytest.skip("SQLite's writers take turns: the second last score waits for the first")


def test_two_last_scores_side_by_side_complete_the_venue_once(
    served: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_a_server(served)
    fill_all_but_two(served)
    both_read_before_either_commits(monkeypatch)
    sent = last_two(served)
    outcomes = side_by_side(served, *sent)

    assert [o.status for o in outcomes] == ["ok", "ok"]
    texts = [o.reply.text for o in outcomes]
    assert [DONE in t for t in texts].count(True) == 1, texts
    # Each answer says what it recorded; the one that completed it says so too, as stored.
    assert texts[0].startswith("已记录 梁飞 → ")
    assert texts[1].startswith("已记录 张伟利 → ")
    for m, text in zip(sent, texts, strict=True):
        assert stored_answer(served, m) == text
    completed, published = venue_times(served)
    assert completed is not None
    [pushed] = completion_pushes(served)
    assert pushed.startswith("瑞泉中学会场全部评分已完成（3 位评委 × 5 位选手）")
    auto = "成绩已自动公布" in pushed
    assert (published is not None) is auto
    assert any(o.pushed for o in outcomes)


def test_two_batches_side_by_side_complete_the_venue_once(
    served: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Scores that arrive together are stored together (``Dispatcher.process_many``); here
    # each last score shares its batch with 申毅 repeating one of his.
    on_a_server(served)
    fill_all_but_two(served)
    both_read_before_either_commits(monkeypatch)
    batches = [[m, message("shenyi", "评分 1号 86")] for m in last_two(served)]

    def run(batch: list[InboundMessage]) -> list[Any]:
        return served.dispatcher.process_many([(m, parse(m.text)) for m in batch])

    with ThreadPoolExecutor(2) as pool:
        done = [f.result(timeout=30) for f in [pool.submit(run, b) for b in batches]]

    answers = [o for outcomes in done for o in outcomes]
    assert all(isinstance(o, Outcome) and o.status == "ok" for o in answers), answers
    # Once, in one answer of the four: a last score's, or 申毅's when his message came
    # after both last scores had committed and saw the venue complete as it ran.
    texts = [o.reply.text for o in answers if isinstance(o, Outcome)]
    assert [DONE in t for t in texts].count(True) == 1, texts
    for batch, outcomes in zip(batches, done, strict=True):
        assert isinstance(outcomes[1], Outcome)
        assert outcomes[1].reply.text.startswith("已记录过（未变化）申毅")
        for sent, outcome in zip(batch, outcomes, strict=True):
            assert isinstance(outcome, Outcome)
            assert stored_answer(served, sent) == outcome.reply.text
    assert venue_times(served)[0] is not None
    assert len(completion_pushes(served)) == 1


def test_on_dingtalk_the_completion_follows_as_a_second_session_answer(
    served: Services, monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    # A DingTalk answer is a push through the sessionWebhook, queued with the message; the
    # completion found after the commit follows it as a second one.
    on_a_server(served)
    fill_all_but_two(served)
    both_read_before_either_commits(monkeypatch)
    expires = clock.now() + timedelta(hours=1)
    sent = [
        replace(
            m,
            platform="dingtalk",
            channel="dingtalk",
            sender_id=f"ding-{m.sender_id}",
            reply_url=f"{SESSION}{m.message_id}",
            reply_url_expires_at=expires,
        )
        for m in last_two(served)
    ]
    outcomes = side_by_side(served, *sent)

    [(done, outcome)] = [
        (m, o) for m, o in zip(sent, outcomes, strict=True) if DONE in o.reply.text
    ]
    with transaction(served.factory) as session:
        rows = session.scalars(select(OutboxRow).order_by(OutboxRow.id)).all()
        answers = {r.dedupe_key: message_of(r.payload) for r in rows if r.target_kind == "session"}
    first = answers[f"reply:dingtalk:{done.message_id}"]
    second = answers[f"reply:dingtalk:{done.message_id}:done"]
    assert DONE not in first.text
    assert first.text in outcome.reply.text
    assert second.text.startswith(DONE)
    assert second.text in outcome.reply.text
    assert second.target == done.reply_url
    assert len(answers) == 3  # the other last score's answer: one, unchanged


def test_a_failed_second_look_leaves_the_stored_answer_as_it_was(
    served: Services, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    on_a_server(served)
    fill_all_but_two(served)
    both_read_before_either_commits(monkeypatch)

    def broken(*_args: object) -> str:
        raise RuntimeError("the second look broke")

    monkeypatch.setattr(bot.meanwhile, "complete_meanwhile", broken)
    sent = last_two(served)
    outcomes = side_by_side(served, *sent)

    assert [o.status for o in outcomes] == ["ok", "ok"]
    for m, outcome in zip(sent, outcomes, strict=True):
        assert DONE not in outcome.reply.text
        assert stored_answer(served, m) == outcome.reply.text  # both scores are stored
    assert "looking again at" in caplog.text


def test_one_after_the_other_the_last_score_completes_it_without_looking_again(
    served: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill_all_but_two(served)
    looked: list[object] = []
    real: Callable[..., str] = bot.meanwhile.complete_meanwhile

    def counting(*args: Any) -> str:
        looked.append(args)
        return real(*args)

    monkeypatch.setattr(bot.meanwhile, "complete_meanwhile", counting)
    first, second = last_two(served)
    one = served.dispatcher.process(first).reply.text
    two = served.dispatcher.process(second).reply.text

    assert DONE not in one
    assert DONE in two
    # The first one finished 梁飞's column with 张伟利's still open: on a server it looks
    # again (and finds nothing to do); on SQLite, where writers take turns, it does not.
    assert len(looked) == (0 if served.engine.dialect.name == "sqlite" else 1)
    assert len(completion_pushes(served)) == 1
