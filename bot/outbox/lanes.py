"""Lanes: each robot's claimed pushes go out one after another, and no robot waits for
another.

A lane holds one robot's claimed pushes in claim order. The pool's threads take turns over
the lanes: a thread sends a lane's next push and waits for its answer; the lane then rests
until the push's ``sent`` mark is committed (``bot.outbox.marks``), and goes back to the end
of the queue. So a robot that answers after 12 s holds one thread for 12 s and delays
nobody else's push (unless every thread is waiting on a slow robot at once: ``[outbox]
send_threads`` bounds how many requests are under way), and no thread waits for a commit.
Within a lane nothing overlaps, so one robot never has two pushes in flight.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from bot.outbox.claimed import Claimed

log = logging.getLogger("edubot.outbox")


class Lane:
    """The claimed pushes of one robot (or, sending in order on one thread, of all robots)
    and what became of them."""

    def __init__(self, key: str, rows: Iterable[Claimed], leased_at: datetime) -> None:
        self.key = key
        self.rows: deque[Claimed] = deque(rows)
        self.leased_at = leased_at
        """When the rows' leases were last set (claim or renewal)."""
        self.totals: Counter[str] = Counter()
        self.stalled: set[str] = set()
        """Robots whose delivered push could not be marked: nothing more goes to them."""
        self.error: BaseException | None = None
        self.done = threading.Event()


def lanes_of(claimed: list[Claimed], leased_at: datetime) -> list[Lane]:
    """One lane per robot, each in claim order, in the order the robots were first claimed."""
    by_key: dict[str, list[Claimed]] = {}
    for row in claimed:
        by_key.setdefault(row.rate_key, []).append(row)
    return [Lane(key, rows, leased_at) for key, rows in by_key.items()]


NEXT, STOP, PARKED = "next", "stop", "parked"
Step = Callable[[Lane], str]
"""Send a lane's next push: ``NEXT`` (its turn is over), ``STOP`` (the lane ends; its rows
are left as they are) or ``PARKED`` (it waits for a mark; ``LanePool.resume`` goes on)."""


class LanePool:
    """Runs lanes on ``threads`` threads, one push at a time per turn."""

    def __init__(self, threads: int, step: Step, on_free: Callable[[], None]) -> None:
        self._threads = threads
        self._step = step
        self._on_free = on_free
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._busy: dict[str, Lane] = {}
        self._stopping = False

    def busy(self) -> frozenset[str]:
        """The robots with a lane under way (a claim leaves them to it)."""
        with self._lock:
            return frozenset(self._busy)

    def start(self, lanes: list[Lane]) -> None:
        """Queue the lanes' first turns."""
        with self._lock:
            if self._stopping:
                raise RuntimeError("the outbox is closing")
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="outbox-lane")
            for lane in lanes:
                self._busy[lane.key] = lane
                self._pool.submit(self._turn, lane)

    def close(self) -> list[Lane]:
        """Let the requests under way finish, start no more; the lanes left with rows."""
        with self._lock:
            self._stopping = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
        with self._lock:
            left = [lane for lane in self._busy.values() if lane.rows]
            self._busy.clear()
        for lane in left:
            lane.done.set()
        return left

    def resume(self, lane: Lane, go_on: bool) -> None:
        """A parked lane's mark was written (``go_on``) or given up on (the lane ends)."""
        self._after(lane, go_on)

    def _turn(self, lane: Lane) -> None:
        try:
            outcome = self._step(lane)
        except BaseException as exc:  # handed to whoever waits on the lane
            log.exception("lane %s stopped", lane.key)
            lane.error, outcome = exc, STOP
        if outcome != PARKED:
            self._after(lane, outcome == NEXT)

    def _after(self, lane: Lane, go_on: bool) -> None:
        with self._lock:
            if go_on and lane.rows and not self._stopping and self._pool is not None:
                self._pool.submit(self._turn, lane)
                return
            if lane.rows and self._stopping:
                return  # close() gives these back
            self._busy.pop(lane.key, None)
        lane.done.set()
        self._on_free()
