"""``LongConnection`` with scripted sessions (no sockets): what it does after each kind of
ending, how it backs off, hands over and stops."""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Callable

import pytest

from bot.connections.runner import Link, LongConnection
from bot.errors import LinkDropped, LoginRefused, Superseded
from tests.support.waiting import wait_until


class RecordingBackoff:
    """Waits 10 ms and notes which attempt each wait was for."""

    def __init__(self) -> None:
        self.attempts: list[int] = []

    def delay(self, attempt: int, rng: random.Random) -> float:
        self.attempts.append(attempt)
        return 0.01


def scripted(
    *endings: Callable[[Link], BaseException | None],
) -> tuple[Callable[[Link], object], list[Link]]:
    """A session that ends the n-th time as ``endings[n]`` says, then waits forever."""
    links: list[Link] = []

    async def session(link: Link) -> None:
        links.append(link)
        index = len(links) - 1
        if index < len(endings):
            error = endings[index](link)
            if error is not None:
                raise error
        await asyncio.Event().wait()

    return session, links


def up_then(error: BaseException) -> Callable[[Link], BaseException]:
    def ending(link: Link) -> BaseException:
        link.up()
        return error

    return ending


def _run(session: Callable[[Link], object], backoff: RecordingBackoff) -> LongConnection:
    connection = LongConnection("test", session, backoff=backoff)  # type: ignore[arg-type]
    connection.start()
    return connection


def test_a_refused_login_backs_off_further_each_time_and_is_reported() -> None:
    backoff = RecordingBackoff()
    session, links = scripted(*(lambda _l: LoginRefused("bad secret") for _ in range(4)))
    connection = _run(session, backoff)
    try:
        wait_until(lambda: len(links) == 5)
        assert backoff.attempts[:4] == [0, 1, 2, 3]
    finally:
        connection.stop()
    assert connection.describe()["state"] == "stopped"


def test_a_refused_login_stays_reported_while_the_next_attempt_runs() -> None:
    # The wrong secret does not fix itself: /healthz must not read "connecting" (healthy)
    # each time the connection tries again, only once a session is up.
    backoff = RecordingBackoff()
    session, links = scripted(lambda _l: LoginRefused("bad secret"), lambda link: link.up())
    connection = _run(session, backoff)
    try:
        wait_until(lambda: len(links) == 2)
        wait_until(lambda: connection.describe()["state"] == "connected")
    finally:
        connection.stop()

    hanging, attempts = scripted(lambda _l: LoginRefused("bad secret"))
    connection = _run(hanging, backoff)
    try:
        wait_until(lambda: len(attempts) == 2)  # the second attempt is under way, not up
        assert connection.describe() == {
            "name": "test",
            "state": "refused",
            "reason": "bad secret",
        }
        assert connection.healthy() is False
    finally:
        connection.stop()


def test_a_refused_login_shows_in_health_with_its_reason() -> None:
    backoff = RecordingBackoff()

    async def refused(link: Link) -> None:
        raise LoginRefused("subscribe refused: 40058 invalid secret")

    connection = _run(refused, backoff)
    try:
        wait_until(lambda: connection.describe()["state"] == "refused")
        assert connection.describe()["reason"] == "subscribe refused: 40058 invalid secret"
        assert connection.healthy() is False
    finally:
        connection.stop()


def test_a_connection_that_was_up_starts_its_backoff_again_but_a_takeover_does_not() -> None:
    backoff = RecordingBackoff()
    session, links = scripted(
        up_then(LinkDropped("lost")),
        up_then(LinkDropped("lost")),
        up_then(Superseded("taken over")),
        up_then(Superseded("taken over")),
    )
    connection = _run(session, backoff)
    try:
        wait_until(lambda: len(links) == 5)
        # Each drop after being up waits the first delay again; takeovers keep escalating.
        assert backoff.attempts == [0, 0, 1, 2]
        assert connection.describe()["state"] == "connecting"
        assert connection.healthy() is True
    finally:
        connection.stop()


def test_a_bug_in_a_session_is_a_drop_not_the_end_of_the_loop() -> None:
    backoff = RecordingBackoff()
    session, links = scripted(lambda _l: ValueError("boom"))
    connection = _run(session, backoff)
    try:
        wait_until(lambda: len(links) == 2)
    finally:
        connection.stop()


def test_a_handover_opens_the_next_session_while_the_first_still_runs() -> None:
    backoff = RecordingBackoff()
    running = threading.Event()
    first_cancelled = threading.Event()

    async def session(link: Link) -> None:
        link.up()
        if not running.is_set():
            running.set()
            link.handover()
            try:
                await asyncio.Event().wait()
            finally:
                first_cancelled.set()
        await asyncio.Event().wait()

    connection = _run(session, backoff)
    try:
        wait_until(lambda: connection.sessions_started == 2)
        assert not first_cancelled.is_set()  # still draining next to the new one
        assert backoff.attempts == []
    finally:
        connection.stop()
    assert first_cancelled.is_set()  # a clean stop ends the draining one too


@pytest.mark.parametrize("holder", [None, "host:42"])
def test_with_a_lease_only_the_holder_connects(holder: str | None) -> None:
    class Lease:
        released = False

        def acquire(self) -> str | None:
            return holder

        def release(self) -> None:
            Lease.released = True

    session, links = scripted()
    connection = LongConnection("test", session, lease=Lease(), lease_interval=0.01)  # type: ignore[arg-type]
    connection.start()
    try:
        if holder is None:
            wait_until(lambda: connection.describe()["state"] == "connected" or len(links) == 1)
        else:
            wait_until(lambda: connection.describe()["state"] == "standby")
            assert holder in connection.describe()["reason"]
            assert links == []
    finally:
        connection.stop()
    assert Lease.released
