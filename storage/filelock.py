"""The writers' queue across processes, for one SQLite file (``edubot serve --workers N``).

SQLite admits one writer at a time and makes every other one poll: its busy handler sleeps
1, 2, 5 … up to 100 ms between tries, so under load a waiting writer sleeps past the moment
the lock came free. ``storage.db`` already queues the threads of one process on a
``threading.Lock``; this lock queues the processes: a writer takes ``flock(LOCK_EX)`` on a
file beside the database before ``BEGIN IMMEDIATE`` and is woken by the kernel the moment
the writer before it lets go. A process killed with ``kill -9`` loses its lock with its
descriptors, so a dead worker never blocks the others.

Only one thread per process asks at a time (the in-process queue comes first), so the
uncontended path is one non-blocking ``flock`` on a descriptor kept open. A contended
wait runs in a helper thread on a descriptor of its own, so that it can be given up after
the busy timeout: a helper that gets the lock after its caller gave up releases it at once.
"""

from __future__ import annotations

import fcntl
import os
import threading
import weakref
from pathlib import Path

from storage.errors import StorageUnavailable


def lock_path(database: str) -> Path:
    """The lock file of the SQLite database at ``database``: beside it, same name + suffix."""
    return Path(f"{database}-writer.lock")


class WriterFileLock:
    """An exclusive ``flock`` on ``path`` held for one write transaction at a time."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd = self._open()
        self._close = weakref.finalize(self, os.close, self._fd)  # with the engine

    def _open(self) -> int:
        try:
            return os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise StorageUnavailable(f"cannot open the writer lock {self._path}: {exc}") from exc

    def acquire(self, timeout_s: float) -> int:
        """Wait up to ``timeout_s`` for the lock; returns the descriptor to ``release``.
        Raises ``StorageUnavailable`` when another process holds it longer."""
        fd = self.try_acquire()
        return self._wait(timeout_s) if fd is None else fd

    def try_acquire(self) -> int | None:
        """The lock's descriptor if no other process holds it now, else ``None`` (no wait)."""
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None
        return self._fd

    def release(self, fd: int) -> None:
        """Let the next writer (of any process) in."""
        fcntl.flock(fd, fcntl.LOCK_UN)
        if fd != self._fd:
            os.close(fd)

    def close(self) -> None:
        """Close the kept descriptor now rather than when this lock is collected."""
        self._close()

    def _wait(self, timeout_s: float) -> int:
        fd = self._open()
        got = threading.Event()
        guard = threading.Lock()
        abandoned = False

        def take() -> None:
            fcntl.flock(fd, fcntl.LOCK_EX)  # blocks until the kernel hands it over
            with guard:
                if abandoned:
                    fcntl.flock(fd, fcntl.LOCK_UN)
                    os.close(fd)
                    return
                got.set()

        threading.Thread(target=take, name="edubot-writer-lock", daemon=True).start()
        if got.wait(timeout_s):
            return fd
        with guard:
            if got.is_set():
                return fd
            abandoned = True
        raise StorageUnavailable("database is busy: timed out waiting for another process")
