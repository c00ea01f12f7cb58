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
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta
from itertools import count
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

import bot.meanwhile
import handlers.scoring
from bot.app import Services
from bot.clock import FakeClock
from bot.dispatcher import Outcome
from handlers.messages import InboundMessage, message_of
from handlers.parsing import parse
from storage.db import transaction
from storage.inbound import find_inbound
from storage.models import OutboxRow
from storage.people import venue_by_key
from storage.venue_events import count_venue_events

IDS = count()
JUDGES = (("shenyi", 86), ("liangfei", 88), ("zhangweili", 87))
DONE = "🎉 瑞泉中学会场全部评分已完成。"
SESSION = "https://oapi.dingtalk.com/robot/sendBySession?session="
LAST = ("梁飞", "张伟利")
"""The two judges whose last scores race."""


@pytest.fixture
def served(either_publishing: Services) -> Services:
    return either_publishing


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


def count_notes(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each look after a commit found a venue to complete (filled as they run)."""
    found: list[bool] = []
    real: Callable[..., str] = bot.meanwhile.complete_meanwhile

    def counting(*args: Any) -> str:
        note = real(*args)
        if note:
            found.append(True)
        return note

    monkeypatch.setattr(bot.meanwhile, "complete_meanwhile", counting)
    return found


def last_two(
    services: Services, *, then_repeat: bool = False
) -> tuple[InboundMessage, InboundMessage]:
    """梁飞's and 张伟利's last scores; with ``then_repeat``, each message goes on to repeat
    the judge's 1号 unchanged (a judge pasting the whole column again)."""
    more = {"liangfei": "\n1号 88", "zhangweili": "\n1号 87"} if then_repeat else {}
    return (
        message("liangfei", "评分\n5号 88" + more.get("liangfei", "")),
        message("zhangweili", "评分\n5号 87" + more.get("zhangweili", "")),
    )


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


def two_last_scores_to_race(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., str]:
    """On a database server: every sheet in but 梁飞's and 张伟利's 5号, whose scores will
    each read the counts before the other commits. Returns the real look after a commit,
    for a test to wrap."""
    if services.engine.dialect.name == "sqlite":
        pytest.skip("SQLite's writers take turns: the second last score waits for the first")
    fill_all_but_two(services)
    both_read_before_either_commits(monkeypatch)
    real: Callable[..., str] = bot.meanwhile.complete_meanwhile
    return real


@pytest.mark.parametrize("then_repeat", [False, True], ids=["last-line", "then-a-repeat"])
def test_two_last_scores_side_by_side_complete_the_venue_once(
    served: Services, monkeypatch: pytest.MonkeyPatch, then_repeat: bool
) -> None:
    two_last_scores_to_race(served, monkeypatch)
    sent = last_two(served, then_repeat=then_repeat)
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
    # Scores that arrive together are stored together (``Dispatcher.process_many``, in the
    # order of their senders): each last score shares its batch with a stranger's message,
    # which sorts after it and reads no venue, so neither transaction can see the venue
    # complete and only the look after the commit can complete it.
    two_last_scores_to_race(served, monkeypatch)
    looks = count_notes(monkeypatch)
    batches = [[m, message("zz-stranger", "你好")] for m in last_two(served)]

    def run(batch: list[InboundMessage]) -> list[Any]:
        return served.dispatcher.process_many([(m, parse(m.text)) for m in batch])

    with ThreadPoolExecutor(2) as pool:
        done = [f.result(timeout=30) for f in [pool.submit(run, b) for b in batches]]

    lasts = [outcomes[0] for outcomes in done]
    assert all(isinstance(o, Outcome) and o.status == "ok" for o in lasts), lasts
    assert [DONE in o.reply.text for o in lasts].count(True) == 1
    assert looks == [True]  # the note came from the look after the commit, once
    for batch, outcomes in zip(batches, done, strict=True):
        assert isinstance(outcomes[1], Outcome)
        assert outcomes[1].status == "unknown_person"
        assert stored_answer(served, batch[0]) == outcomes[0].reply.text
    assert venue_times(served)[0] is not None
    assert len(completion_pushes(served)) == 1


def test_on_dingtalk_the_completion_follows_as_a_second_session_answer(
    served: Services, monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    # A DingTalk answer is a push through the sessionWebhook, queued with the message; the
    # completion found after the commit follows it as a second one.
    two_last_scores_to_race(served, monkeypatch)
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
    second = answers[f"reply:dingtalk:done:{done.message_id}"]
    assert DONE not in first.text
    assert first.text in outcome.reply.text
    assert second.text.startswith(DONE)
    assert second.text in outcome.reply.text
    assert second.target == done.reply_url
    assert len(answers) == 3  # the other last score's answer: one, unchanged


def test_a_look_that_fails_on_the_database_is_tried_again(
    served: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = two_last_scores_to_race(served, monkeypatch)
    failed: list[str] = []

    def once_deadlocked(ctx: Any, venues: Any) -> str:
        if not failed:
            failed.append(ctx.person.name)
            raise OperationalError("SELECT …", {}, Exception("deadlock detected"))
        return real(ctx, venues)

    monkeypatch.setattr(bot.meanwhile, "complete_meanwhile", once_deadlocked)
    outcomes = side_by_side(served, *last_two(served))

    assert failed
    assert [DONE in o.reply.text for o in outcomes].count(True) == 1
    assert venue_times(served)[0] is not None


def test_a_look_that_keeps_failing_leaves_the_answer_as_stored_and_the_host_can_publish(
    served: Services, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    two_last_scores_to_race(served, monkeypatch)

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
    # Nobody announced it; the host's 公布 counts the sheets, not the completion mark.
    assert venue_times(served) == (None, None)
    published = served.dispatcher.process(message("lixuebin", "公布")).reply.text
    assert published.startswith("已公布并锁定瑞泉中学会场成绩"), published


def test_a_host_who_publishes_before_the_look_is_not_published_over(
    served: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Both last scores committed; the host's 公布 (which counts the sheets) comes in before
    # either looks again. The looks find the venue published and leave it alone.
    real = two_last_scores_to_race(served, monkeypatch)
    hosts: list[str] = []
    first_look = threading.Lock()

    def host_first(ctx: Any, venues: Any) -> str:
        with first_look:
            if not hosts:
                hosts.append(served.dispatcher.process(message("lixuebin", "公布")).reply.text)
        return real(ctx, venues)

    monkeypatch.setattr(bot.meanwhile, "complete_meanwhile", host_first)
    outcomes = side_by_side(served, *last_two(served))

    assert hosts[0].startswith("已公布并锁定瑞泉中学会场成绩"), hosts
    assert not any(DONE in o.reply.text for o in outcomes)
    with transaction(served.factory) as session:
        venue = venue_by_key(session, "ruiquan")
        assert venue is not None
        assert venue.published_at is not None
        assert count_venue_events(session, venue.id, "publish") == 1
        assert count_venue_events(session, venue.id, "auto_publish") == 0


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
