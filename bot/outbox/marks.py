"""Writing ``sent`` marks: at once, and for many lanes in one transaction.

A push is marked ``sent`` (and its request counted in ``outbox_attempts``) as soon as its
answer arrives, and its lane sends nothing more to that robot until the mark is committed:
so at any instant each robot has at most one push answered but not yet marked, and a crash
re-sends at most that one.

One transaction per push would make every lane queue for the database's write lock (on
SQLite, one writer at a time) and a burst of 1,000 pushes spend most of its time
committing. Here one thread writes the marks: it takes every mark waiting, commits them
together, and wakes their lanes; while it commits, the next marks gather. A lane waits a
few milliseconds at most when the database is healthy; the promise above holds because a
lane waits for its own mark, not because marks are rare.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence
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
    """A delivered push (its request started at ``started``) waiting to be marked."""

    row: Claimed
    started: datetime
    written: threading.Event = field(default_factory=threading.Event)


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

    def mark(self, row: Claimed, started: datetime) -> Mark:
        """Queue the mark of a delivered push; wait on its ``written`` event."""
        item = Mark(row, started)
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="outbox-marks", daemon=True)
                self._thread.start()
        self._queue.put(item)
        return item

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
            except StorageUnavailable as exc:
                log.warning("could not mark %d delivered pushes yet: %s", len(pending), exc)
                if self._closing.wait(RETRY_S):
                    log.error("stopping with %d delivered pushes unmarked", len(pending))
                    return
                continue
            except Exception:
                log.exception("marking %d delivered pushes failed", len(pending))
                if self._closing.wait(RETRY_S):
                    return
                continue
            for item in pending:
                item.written.set()
            pending = []
