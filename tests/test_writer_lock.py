"""The SQLite writers' file lock (``storage.filelock``): writers of several processes queue
on it, a dead holder frees it, a wait past the busy timeout is a 503, and a wait given up
leaves nothing held."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import text

from storage.db import make_engine, make_session_factory, transaction, upgrade
from storage.errors import StorageUnavailable
from storage.filelock import WriterFileLock, lock_path
from tests.support.waiting import wait_until

REPO = Path(__file__).resolve().parent.parent


def _database(tmp_path: Path) -> str:
    db = tmp_path / "edubot.db"
    engine = make_engine(f"sqlite:///{db}")
    try:
        upgrade(engine)
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE hits (n INTEGER NOT NULL)"))
    finally:
        engine.dispose()
    return str(db)


def _child(code: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _reap(child: subprocess.Popen[str]) -> str:
    """Kill ``child`` if still running; its output (pipes closed)."""
    if child.poll() is None:
        child.kill()
    return child.communicate(timeout=30)[0]


def _hits(db: str) -> int:
    engine = make_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            return int(conn.scalar(text("SELECT count(*) FROM hits")) or 0)
    finally:
        engine.dispose()


def _waiters(path: Path) -> int:
    """Processes blocked on ``path``'s flock, from /proc/locks ("->" lines are waiters)."""
    inode = path.stat().st_ino
    lines = Path("/proc/locks").read_text().splitlines()
    return sum(1 for line in lines if "->" in line and f":{inode} " in line)


WRITE_ONCE = """
    from sqlalchemy import text
    from storage.db import make_engine, make_session_factory, transaction
    factory = make_session_factory(make_engine("sqlite:///{db}"))
    with transaction(factory) as session:
        session.execute(text("INSERT INTO hits VALUES (1)"))
    print("written", flush=True)
"""


def test_a_writer_in_another_process_waits_for_the_lock_and_goes_when_it_is_released(
    tmp_path: Path,
) -> None:
    db = _database(tmp_path)
    holder = WriterFileLock(lock_path(db))
    fd = holder.acquire(1.0)
    child = _child(WRITE_ONCE.format(db=db))
    try:
        wait_until(lambda: _waiters(lock_path(db)) >= 1, timeout=30)  # queued, not polling
        assert _hits(db) == 0
        holder.release(fd)
        assert child.wait(timeout=30) == 0
        assert _hits(db) == 1
    finally:
        _reap(child)
        holder.close()


def test_a_holder_killed_with_kill_9_frees_the_lock(tmp_path: Path) -> None:
    db = _database(tmp_path)
    child = _child(
        f"""
        import time
        from storage.filelock import WriterFileLock, lock_path
        lock = WriterFileLock(lock_path({db!r}))
        lock.acquire(1.0)
        print("held", flush=True)
        time.sleep(600)
        """
    )
    lock = WriterFileLock(lock_path(db))
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "held"
        with pytest.raises(StorageUnavailable, match="another process"):
            lock.acquire(0.05)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
        lock.release(lock.acquire(30.0))
    finally:
        _reap(child)
        lock.close()


def test_a_wait_given_up_leaves_nothing_held(tmp_path: Path) -> None:
    path = lock_path(str(tmp_path / "x.db"))
    first, second = WriterFileLock(path), WriterFileLock(path)  # two descriptors conflict
    fd = first.acquire(1.0)
    with pytest.raises(StorageUnavailable):
        second.acquire(0.05)
    first.release(fd)
    # The abandoned wait got the lock after its caller left, and let it go at once.
    again = first.acquire(30.0)
    first.release(again)
    first.close()
    second.close()


def test_writers_of_several_processes_all_commit(tmp_path: Path) -> None:
    db = _database(tmp_path)
    code = """
        from sqlalchemy import text
        from storage.db import make_engine, make_session_factory, transaction
        factory = make_session_factory(make_engine("sqlite:///{db}"))
        for _ in range(40):
            with transaction(factory) as session:
                session.execute(text("INSERT INTO hits VALUES (1)"))
    """
    children = [_child(code.format(db=db)) for _ in range(3)]
    try:
        for c in children:
            c.wait(timeout=120)
    finally:
        outputs = [_reap(c) for c in children]
    assert [c.returncode for c in children] == [0, 0, 0], outputs
    assert _hits(db) == 120


def test_sqlite_engines_take_the_file_lock_for_each_transaction(tmp_path: Path) -> None:
    db = _database(tmp_path)
    factory = make_session_factory(make_engine(f"sqlite:///{db}", busy_timeout_ms=50))
    holder = WriterFileLock(lock_path(db))
    fd = holder.acquire(1.0)
    try:
        with pytest.raises(StorageUnavailable), transaction(factory) as session:
            session.execute(text("INSERT INTO hits VALUES (1)"))
    finally:
        holder.release(fd)
        holder.close()
    with transaction(factory) as session:
        session.execute(text("INSERT INTO hits VALUES (1)"))
    assert _hits(db) == 1
