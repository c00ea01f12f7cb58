"""Writing ``sent`` marks: at once, and for many lanes in one transaction.

A push is marked ``sent`` (and its request counted in ``outbox_attempts``) as soon as its
answer arrives, and its lane sends nothing more to that robot until the mark is committed:
so at any instant each robot has at most one push answered but not yet marked, and a crash
re-sends at most that one.

One transaction per push would make every lane queue for the database's write lock (on
SQLite, one writer at a time) and a burst of 1,000 pushes spend most of its time
committing. Here one thread writes the marks: it takes every mark waiting, commits them
together, and resumes their lanes; while it commits, the next marks gather. The promise
above holds because a lane waits for its own mark, not because marks are rare. A mark the
database keeps refusing is given up after ``wait_s``: its lane ends, and the push, still
``sending``, is sent again once its lease runs out.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.outbox.claimed import Claimed
from storage import outbox as store
from storage.db import transaction
from storage.errors import StorageUnavailable

log = logging.getLogger("edubot.outbox")

RETRY_S = 0.5
"""How long the mark writer waits before trying a refused commit again."""


@dataclass(slots=True)
class Mark:
    """A delivered push (its request started at ``started``) waiting to be marked;
    ``then(True)`` once written, ``then(False)`` if given up at ``give_up_at``."""

    row: Claimed
    started: datetime
    then: Callable[[bool], None]
    give_up_at: float = field(default=0.0)  # time.monotonic()


def write_marks(
    factory: sessionmaker[Session], clock: Clock, marks: Sequence[tuple[Claimed, datetime]]
) -> None:
    """Mark delivered pushes ``sent`` and count their requests, in one transaction
    (``StorageUnavailable`` when the database cannot take it now)."""
    if not marks:
        return
    now = clock.now()
    with transaction(factory) as session:
        store.finish(session, [row.id for row, _ in marks], "sent", now, "")
        store.record_attempts(session, [(row.rate_key, started) for row, started in marks])


class MarkWriter:
    """The one thread that writes every lane's marks (group commit)."""

    def __init__(self, factory: sessionmaker[Session], clock: Clock) -> None:
        self._factory = factory
        self._clock = clock
        self._queue: queue.SimpleQueue[Mark | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closing = threading.Event()

    def mark(
        self, row: Claimed, started: datetime, then: Callable[[bool], None], wait_s: float
    ) -> None:
        """Queue the mark of a delivered push; ``then`` is called on the writer's thread."""
        item = Mark(row, started, then, time.monotonic() + wait_s)
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="outbox-marks", daemon=True)
                self._thread.start()
        self._queue.put(item)

    def close(self) -> None:
        """Write what is queued (while the database takes it), then stop the thread."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._closing.set()
            self._queue.put(None)
            thread.join(timeout=30)

    def _run(self) -> None:
        pending: list[Mark] = []
        stop = False
        while not stop or pending:
            if not pending:
                first = self._queue.get()
                if first is None:
                    return
                pending.append(first)
            while True:  # everything queued meanwhile goes into the same transaction
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                else:
                    pending.append(more)
            try:
                write_marks(self._factory, self._clock, [(m.row, m.started) for m in pending])
            except Exception as exc:  # logged here; the lanes are told below
                if isinstance(exc, StorageUnavailable):
                    log.warning("could not mark %d delivered pushes yet: %s", len(pending), exc)
                else:
                    log.exception("marking %d delivered pushes failed", len(pending))
                closing = self._closing.wait(RETRY_S)
                now = time.monotonic()
                late = [m for m in pending if closing or now >= m.give_up_at]
                pending = [m for m in pending if m not in late]
                _tell(late, written=False)
                if closing:
                    return
                continue
            _tell(pending, written=True)
            pending = []


def _tell(marks: list[Mark], *, written: bool) -> None:
    """Resume (or end) the lanes waiting on ``marks``."""
    if marks and not written:
        log.error("gave up marking %d delivered pushes: sent again after their lease", len(marks))
    for item in marks:
        try:
            item.then(written)
        except Exception:
            log.exception("resuming the lane of %s failed", item.row.dedupe_key)
