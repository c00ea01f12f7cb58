"""Writes that meet on a database server, where transactions run side by side at READ
COMMITTED (on SQLite writers take turns, so each case is skipped there). Each is staged with
two threads that both hold what they read before either commits.

- Two 公布 of one venue at the same moment publish it once: ``handlers.publishing.locked``
  makes them take turns on the venue's row and read it again, so the second is refused as
  already published and the venue has one publish in its history, not two.
- A recount of a venue's tallies (加选手, 换评委, a config sync) that meets a score still
  being written counts that score's sheet once it has committed: on PostgreSQL a recount in
  one ``UPDATE`` waited for the score's tally row and then counted with the snapshot it
  began with, one sheet short, and the venue could never look complete.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from itertools import count
from typing import Any

import pytest

import bot.meanwhile
import handlers.publishing
import handlers.scoring
import handlers.status
from bot.app import Services
from handlers.messages import InboundMessage
from storage.db import transaction
from storage.people import venue_by_key
from storage.scores import recount_sheets, sheet_counts
from storage.venue_events import count_venue_events

IDS = count()


@pytest.fixture
def served(either_publishing: Services) -> Services:
    if either_publishing.engine.dialect.name == "sqlite":
        pytest.skip("SQLite's writers take turns: nothing commits inside another's transaction")
    return either_publishing


def say(services: Services, user: str, text: str) -> str:
    message = InboundMessage("wecom", "wecom_app", f"sr{next(IDS)}", user, text, "private")
    return services.dispatcher.process(message).reply.text


def fill(services: Services) -> None:
    for judge, total in (("shenyi", 86), ("liangfei", 88), ("zhangweili", 87)):
        say(services, judge, "评分\n" + "\n".join(f"{n}号 {total}" for n in range(1, 6)))


def events(services: Services, action: str) -> int:
    with transaction(services.factory) as session:
        venue = venue_by_key(session, "ruiquan")
        assert venue is not None
        return count_venue_events(session, venue.id, action)


def served_auto(services: Services) -> bool:
    with transaction(services.factory) as session:
        venue = venue_by_key(session, "ruiquan")
        assert venue is not None
        return venue.auto_publish


def test_two_publishes_at_once_publish_the_venue_once(
    served: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(served)
    if events(served, "auto_publish"):  # published itself: unlock it for the race
        assert say(served, "lixuebin", "撤销公布").startswith("已撤销瑞泉中学会场的成绩公布")
    together = threading.Barrier(2, timeout=10)
    real = handlers.status.publish

    def in_hand_then_publish(*args: Any, **named: Any) -> Any:
        together.wait()  # both have read the venue unpublished
        return real(*args, **named)

    monkeypatch.setattr(handlers.status, "publish", in_hand_then_publish)
    with ThreadPoolExecutor(2) as pool:
        answers = list(
            pool.map(lambda user: say(served, user, "公布 瑞泉"), ["lixuebin", "jiaoyugu"])
        )

    published = [a for a in answers if a.startswith("已公布并锁定瑞泉中学会场成绩")]
    refused = [a for a in answers if "成绩已于" in a and "公布。如需修改，请先发送：撤销公布" in a]
    assert (len(published), len(refused)) == (1, 1), answers
    assert events(served, "publish") == 1


def test_a_correction_that_would_publish_again_yields_to_the_host_who_just_did(
    served: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    # After 撤销公布 an auto-publishing venue publishes itself again at the next 更正; the
    # host's 公布 commits after the 更正 read the venue unpublished, before it publishes.
    fill(served)
    if not events(served, "auto_publish"):
        pytest.skip("only an auto-publishing venue publishes itself on a 更正")
    assert say(served, "lixuebin", "撤销公布").startswith("已撤销瑞泉中学会场的成绩公布")
    hosts: list[str] = []
    real = handlers.publishing.locked
    scorer = threading.get_ident()

    def host_first(ctx: Any, venue: Any) -> Any:
        if threading.get_ident() == scorer and not hosts:
            with ThreadPoolExecutor(1) as pool:
                hosts.append(pool.submit(say, served, "lixuebin", "公布").result(timeout=30))
        return real(ctx, venue)

    monkeypatch.setattr(handlers.publishing, "locked", host_first)
    answer = say(served, "shenyi", "更正 2号 85")

    assert hosts[0].startswith("已公布并锁定瑞泉中学会场成绩"), hosts
    assert answer.startswith("已更正 申毅"), answer
    assert "自动公布" not in answer
    assert (events(served, "publish"), events(served, "auto_publish")) == (1, 1)


def test_a_recount_waiting_on_a_score_counts_its_sheet(
    served: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert say(served, "shenyi", "评分 1号 86").startswith("已记录 申毅")
    scored, go_on = threading.Event(), threading.Event()
    real = handlers.scoring._score_line

    def score_then_hold(*args: Any, **named: Any) -> Any:
        line = real(*args, **named)  # the sheet and the tally are written, not committed
        scored.set()
        assert go_on.wait(10)
        return line

    monkeypatch.setattr(handlers.scoring, "_score_line", score_then_hold)
    with transaction(served.factory) as session:
        venue = venue_by_key(session, "ruiquan")
        assert venue is not None
        venue_id, judges = venue.id, [j.person_id for j in venue.judges]

    def recount() -> None:
        with transaction(served.factory) as session:
            recount_sheets(session, venue_id)

    with ThreadPoolExecutor(2) as pool:
        score = pool.submit(say, served, "shenyi", "评分 2号 86")
        assert scored.wait(10)
        counting = pool.submit(recount)
        threading.Timer(0.3, go_on.set).start()  # the recount is waiting on the score's row
        assert score.result(timeout=30).startswith("已记录 申毅")
        counting.result(timeout=30)

    with transaction(served.factory) as session:
        # 申毅's two sheets, and nobody else's yet.
        assert sorted(sheet_counts(session, venue_id, judges).values()) == [0, 0, 2]


def test_two_confirmations_of_the_last_two_outliers_at_once_publish_the_venue_once(
    served: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 梁飞's 50 for 2号 and 张伟利's 50 for 1号 stand far from the other judges'; the venue
    # completes and waits for them. Both confirm at the same moment: each reads the other's
    # still open, and only the look after the commit finds none left.
    scores = {
        "shenyi": ["86"] * 5,
        "liangfei": ["88", "50", "88", "88", "88"],
        "zhangweili": ["50", "87", "87", "87", "87"],
    }
    if not served_auto(served):
        pytest.skip("only an auto-publishing venue publishes itself on a 确认")
    for judge, totals in scores.items():
        lines = "\n".join(f"{n}号 {total}" for n, total in enumerate(totals, start=1))
        say(served, judge, f"评分\n{lines}")
    assert events(served, "auto_publish") == 0  # complete, waiting on the two outliers
    together = threading.Barrier(2, timeout=10)
    real = handlers.publishing._ready
    waited: set[int] = set()

    def read_then_wait(*args: Any) -> bool:
        ready = real(*args)
        if threading.get_ident() not in waited:  # the first read: in the 确认's transaction
            waited.add(threading.get_ident())
            together.wait()
        return ready

    monkeypatch.setattr(handlers.publishing, "_ready", read_then_wait)
    with ThreadPoolExecutor(2) as pool:
        answers = list(
            pool.map(
                lambda sent: say(served, *sent),
                [("liangfei", "确认 2号"), ("zhangweili", "确认 1号")],
            )
        )

    assert all(a.startswith("已确认") for a in answers), answers
    assert ["成绩已自动公布" in a for a in answers].count(True) == 1, answers
    assert events(served, "auto_publish") == 1


@pytest.mark.parametrize(
    ("settles", "reads"),
    [("确认 2号", "_ready"), ("更正 2号 88", "_score_line")],
    ids=["confirmed", "corrected"],
)
def test_a_confirmation_racing_the_completing_score_still_publishes(
    served: Services, monkeypatch: pytest.MonkeyPatch, settles: str, reads: str
) -> None:
    # 梁飞 stands by his 50 for 2号 while 张伟利's last score completes the venue: the score
    # sees the outlier still open and completes it "waiting"; the 确认 sees the venue still
    # incomplete. Only a look after the commits can publish it (an auto-publishing venue;
    # a venue waiting for its host is never auto-published).
    say(served, "shenyi", "评分\n" + "\n".join(f"{n}号 86" for n in range(1, 6)))
    say(served, "liangfei", "评分\n1号 88\n2号 50\n3号 88\n4号 88\n5号 88")
    say(served, "zhangweili", "评分\n" + "\n".join(f"{n}号 87" for n in range(1, 5)))
    auto = served_auto(served)
    together = threading.Barrier(2, timeout=10)
    waited: set[str] = set()
    confirm_looked = threading.Event()

    def then_wait(real: Any, who: str, *, then: threading.Event | None = None) -> Any:
        def read_then_wait(ctx: Any, *args: Any, **named: Any) -> Any:
            result = real(ctx, *args, **named)
            if ctx.person.name == who and who not in waited:  # in the message's own
                waited.add(who)
                together.wait()
                if then is not None:
                    assert then.wait(10)
            return result

        return read_then_wait

    real_look = bot.meanwhile.complete_meanwhile

    def look(ctx: Any, venues: Any) -> str:
        note = real_look(ctx, venues)
        if ctx.person.name == "梁飞":
            confirm_looked.set()
        return note

    # The 确认 reads the venue (not complete yet); the score reads the outliers, and, on an
    # auto-publishing venue, commits only after the 确认 has committed and looked again:
    # the 确认's look finds the venue incomplete, and only the score's own can publish it.
    monkeypatch.setattr(bot.meanwhile, "complete_meanwhile", look)
    where = handlers.publishing if reads == "_ready" else handlers.scoring
    monkeypatch.setattr(where, reads, then_wait(getattr(where, reads), "梁飞"))
    monkeypatch.setattr(
        handlers.scoring,
        "after_scoring",
        then_wait(handlers.scoring.after_scoring, "张伟利", then=confirm_looked if auto else None),
    )
    with ThreadPoolExecutor(2) as pool:
        answers = list(
            pool.map(
                lambda sent: say(served, *sent),
                [("liangfei", settles), ("zhangweili", "评分 5号 87")],
            )
        )

    assert answers[0].startswith(("已确认 梁飞", "已更正 梁飞")), answers
    assert answers[1].startswith("已记录 张伟利"), answers
    assert ["自动公布" in a for a in answers].count(True) == (1 if auto else 0), answers
    assert events(served, "auto_publish") == (1 if auto else 0)
    assert events(served, "publish") == 0
