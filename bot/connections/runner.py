"""``LongConnection``: one platform session kept alive in a thread of its own.

The session is a coroutine function given a ``Link``; it connects, calls ``link.up()`` once
the platform has accepted it, and runs until the connection ends, raising a ``LinkError``
that says why (``LoginRefused``, ``LinkDropped``, ``Superseded``). The runner then waits
(``Backoff``: 1 s doubling to 60 s, jittered; reset once a session was up) and starts
another. A session that calls ``link.handover()`` (DingTalk's SYSTEM ``disconnect``) keeps
draining while the next one is opened at once, so no message falls between the two.

With a ``Lease`` only the instance holding it connects; the others stand by and try to
take it every ``lease_interval`` seconds, and the holder renews it as often (a lease a
crashed holder stops renewing expires and is taken over).

The loop runs on its own asyncio event loop: the dispatcher's database work goes to worker
threads, so heartbeats are answered while a message is being handled.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from bot.connections.backoff import Backoff
from bot.errors import LinkDropped, LinkError, LoginRefused, Superseded

log = logging.getLogger("edubot.connections")

DRAIN_SECONDS = 15.0
"""How long a session that handed over may keep running (DingTalk closes it after ~10 s)."""


class Link:
    """What a running session tells its runner."""

    def __init__(self, on_up: Callable[[], None]) -> None:
        self.is_up = False
        self.handed_over = asyncio.Event()
        self._on_up = on_up

    def up(self) -> None:
        """The platform accepted the connection: messages can arrive."""
        self.is_up = True
        self._on_up()

    def handover(self) -> None:
        """Open the next session now; this one drains what it has and then ends."""
        self.handed_over.set()


Session = Callable[[Link], Awaitable[None]]


class Lease(Protocol):
    """Who may hold a connection among several instances (``bot.connections.lease``)."""

    def acquire(self) -> str | None:
        """Take or renew the lease: ``None`` when we hold it, else the holder's name."""
        ...

    def release(self) -> None:
        """Give the lease up (clean stop), so another instance takes over at once."""
        ...


class LongConnection:
    """A ``Background`` keeping ``session`` connected until ``stop()``."""

    def __init__(
        self,
        name: str,
        session: Session,
        *,
        lease: Lease | None = None,
        lease_interval: float = 5.0,
        backoff: Backoff | None = None,
        rng: random.Random | None = None,
        stop_timeout: float = 10.0,
    ) -> None:
        self.name = name
        self._session = session
        self._lease = lease
        self._lease_interval = lease_interval
        self._backoff = backoff or Backoff()
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
        self._stop_timeout = stop_timeout
        self._state, self._reason = "stopped", ""
        self._status_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._stopping = threading.Event()
        self._draining: set[asyncio.Task[LinkError]] = set()
        self.sessions_started = 0

    # --- Background ---------------------------------------------------------------------

    def start(self) -> None:
        """Start the connection thread (returns at once; the first connect is under way)."""
        if self._thread is not None:
            return
        self._stopping.clear()
        self._set("connecting", "")
        self._thread = threading.Thread(target=self._run, name=f"edubot-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Close the sockets, give the lease up and wait for the thread."""
        self._stopping.set()
        loop, stop, thread = self._loop, self._stop, self._thread
        if loop is not None and stop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)
        if thread is not None:
            thread.join(self._stop_timeout)
        self._thread = None
        self._set("stopped", "")

    def wake(self) -> None:
        """Nothing to wake: messages arrive on their own."""
        return None

    def healthy(self) -> bool:
        """Degraded while refused or down; connecting, connected and standby are fine."""
        return self.describe()["state"] not in ("refused", "down")

    def describe(self) -> dict[str, str]:
        """``{"name", "state", "reason"}`` for ``/healthz``."""
        with self._status_lock:
            return {"name": self.name, "state": self._state, "reason": self._reason}

    # --- the loop -----------------------------------------------------------------------

    def _set(self, state: str, reason: str) -> None:
        with self._status_lock:
            changed = (self._state, self._reason) != (state, reason)
            self._state, self._reason = state, reason
        if changed and state in ("connected", "standby"):
            log.info("%s: %s%s", self.name, state, f" ({reason})" if reason else "")

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        if self._stopping.is_set():
            return
        try:
            await self._keep_connected(self._stop)
        finally:
            for task in list(self._draining):
                task.cancel()
            await asyncio.gather(*self._draining, return_exceptions=True)
            if self._lease is not None:
                await asyncio.to_thread(self._lease.release)

    async def _keep_connected(self, stop: asyncio.Event) -> None:
        attempt = 0
        while not stop.is_set():
            if self._lease is not None:
                holder = await asyncio.to_thread(self._lease.acquire)
                if holder is not None:
                    self._set("standby", f"another instance holds the connection: {holder}")
                    await self._pause(stop, self._lease_interval)
                    continue
            link = Link(lambda: self._set("connected", ""))
            ended = await self._run_one(link, stop)
            if stop.is_set():
                return
            if ended is None:  # handed over: the next session starts at once
                attempt = 0
                continue
            # Taken over by another connection: keep backing off rather than take it straight
            # back, so that we never fight over the robot once a second.
            attempt = 0 if link.is_up and not isinstance(ended, Superseded) else attempt
            state = "refused" if isinstance(ended, LoginRefused) else "down"
            delay = self._backoff.delay(attempt, self._rng)
            attempt += 1
            level = logging.ERROR if state == "refused" else logging.WARNING
            log.log(level, "%s: %s; reconnecting in %.1f s", self.name, ended.reason, delay)
            self._set(state, ended.reason)
            await self._pause(stop, delay)

    async def _run_one(self, link: Link, stop: asyncio.Event) -> LinkError | None:
        """Run one session until it ends (its error), hands over (``None``) or we stop."""
        self.sessions_started += 1
        with self._status_lock:
            refused = self._state == "refused"
        if not refused:  # a refused login stays reported until a session is up again
            self._set("connecting", "")
        session = asyncio.create_task(self._guarded(link))
        watchers: list[asyncio.Task[Any]] = [
            asyncio.create_task(link.handed_over.wait()),
            asyncio.create_task(stop.wait()),
        ]
        if self._lease is not None:
            watchers.append(asyncio.create_task(self._hold(self._lease)))
        try:
            await asyncio.wait([session, *watchers], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for watcher in watchers:
                watcher.cancel()
        if session.done():
            return session.result()
        if link.handed_over.is_set() and not stop.is_set():
            log.info("%s: the platform asked to reconnect; opening a new connection", self.name)
            self._draining.add(session)
            session.add_done_callback(self._draining.discard)
            asyncio.get_running_loop().call_later(DRAIN_SECONDS, session.cancel)
            return None
        session.cancel()
        await asyncio.gather(session, return_exceptions=True)
        lost = watchers[-1]
        if self._lease is not None and lost.done() and not lost.cancelled():
            error = lost.exception()
            return error if isinstance(error, LinkError) else LinkDropped("lease lost")
        return None

    async def _guarded(self, link: Link) -> LinkError:
        """The session's end as a value: a bug in it is a drop, never the end of the loop."""
        try:
            await self._session(link)
        except LinkError as error:
            return error
        except (OSError, TimeoutError) as error:
            return LinkDropped(f"network: {error!r}")
        except Exception as error:
            log.exception("%s: the session failed", self.name)
            return LinkDropped(f"session failed: {error!r}")
        return LinkDropped("the platform closed the connection")

    async def _hold(self, lease: Lease) -> None:
        while True:
            await asyncio.sleep(self._lease_interval)
            holder = await asyncio.to_thread(lease.acquire)
            if holder is not None:
                raise LinkDropped(f"lease taken over by {holder}")

    @staticmethod
    async def _pause(stop: asyncio.Event, seconds: float) -> None:
        try:
            await asyncio.wait_for(stop.wait(), timeout=seconds)
        except TimeoutError:
            return
