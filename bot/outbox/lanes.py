"""Lanes: each robot's claimed pushes go out one after another, and no robot waits for
another.

A lane holds one robot's claimed pushes in claim order. The pool's threads take turns over
the lanes: a thread sends a lane's next push, waits for its answer and its ``sent`` mark,
then puts the lane back at the end of the queue. So a robot that answers after 12 s holds
one thread for 12 s and delays nobody else's push (unless every thread is waiting on a
slow robot at once: ``[outbox] send_threads`` bounds how many requests are under way).
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


Step = Callable[[Lane], bool]
"""Send a lane's next push; False when the lane must stop (its rows are left as they are)."""


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

    def _turn(self, lane: Lane) -> None:
        try:
            go_on = self._step(lane)
        except BaseException as exc:
            log.exception("lane %s stopped", lane.key)
            lane.error, go_on = exc, False
        with self._lock:
            if go_on and lane.rows and not self._stopping and self._pool is not None:
                self._pool.submit(self._turn, lane)
                return
            if lane.rows and self._stopping:
                return  # close() gives these back
            self._busy.pop(lane.key, None)
        lane.done.set()
        self._on_free()
