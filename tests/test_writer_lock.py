"""The SQLite writers' file lock (``storage.filelock``): writers of several processes queue
on it, a dead holder frees it, a wait past the busy timeout is a 503, and a wait given up
leaves nothing held; a free turn is taken without waiting (the event loop's
fast path) and kept from every other writer while held."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.doctor import database_check
from storage.db import (
    make_engine,
    make_session_factory,
    transaction,
    upgrade,
    writer_turn_if_free,
)
from storage.errors import StorageUnavailable
from storage.filelock import WriterFileLock, lock_path
from tests.conftest import make_settings
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


def test_a_free_turn_is_taken_without_waiting_and_its_transactions_run_inside_it(
    tmp_path: Path,
) -> None:
    db = _database(tmp_path)
    factory = make_session_factory(make_engine(f"sqlite:///{db}", busy_timeout_ms=50))
    other = WriterFileLock(lock_path(db))
    with writer_turn_if_free(factory) as free:
        assert free
        # The turn is this thread's: its transactions do not queue again (no deadlock)...
        with transaction(factory) as session:
            session.execute(text("INSERT INTO hits VALUES (1)"))
        with transaction(factory) as session:
            session.execute(text("INSERT INTO hits VALUES (1)"))
        # ...while another process's writer and another thread of this one are kept out.
        assert other.try_acquire() is None
        blocked: list[BaseException] = []

        def write() -> None:
            try:
                with transaction(factory) as session:
                    session.execute(text("INSERT INTO hits VALUES (1)"))
            except StorageUnavailable as exc:
                blocked.append(exc)

        thread = threading.Thread(target=write)
        thread.start()
        thread.join(timeout=30)
        assert len(blocked) == 1  # waited its busy timeout (50 ms) and gave up
    assert _hits(db) == 2
    # Released: the other process's writer gets the lock at once.
    fd = other.try_acquire()
    assert fd is not None
    other.release(fd)
    other.close()


def test_a_turn_held_elsewhere_is_not_free(tmp_path: Path) -> None:
    db = _database(tmp_path)
    factory = make_session_factory(make_engine(f"sqlite:///{db}"))
    holder = WriterFileLock(lock_path(db))  # another process's writer, as far as flock knows
    fd = holder.acquire(1.0)
    with writer_turn_if_free(factory) as free:
        assert not free
    holder.release(fd)
    holder.close()
    inside = threading.Event()
    leave = threading.Event()

    def hold() -> None:
        with transaction(factory):
            inside.set()
            leave.wait(30)

    thread = threading.Thread(target=hold)  # a writer of this process, on another thread
    thread.start()
    assert inside.wait(30)
    try:
        with writer_turn_if_free(factory) as free:
            assert not free
    finally:
        leave.set()
        thread.join(timeout=30)
    with writer_turn_if_free(factory) as free:
        assert free


@pytest.mark.parametrize(
    "url", ["postgresql+psycopg://x@127.0.0.1:1/x", "mysql+pymysql://x@127.0.0.1:1/x"]
)
def test_a_database_server_never_has_a_free_turn(url: str) -> None:
    """Every statement there is a round trip: nothing runs on the caller's thread."""
    factory = make_session_factory(make_engine(url))
    with writer_turn_if_free(factory) as free:
        assert not free


def test_schema_upgrades_and_the_doctors_write_probe_take_the_writers_turn(
    tmp_path: Path,
) -> None:
    """Every writer on the file queues on its lock: one that did not (a worker starting
    while the others serve runs the migrations; ``edubot doctor`` probes a write) would
    hold SQLite's write lock while ``writer_turn_if_free`` says the turn is free, and the
    event loop would then wait in SQLite's busy handler."""
    db = _database(tmp_path)
    holder = WriterFileLock(lock_path(db))  # another process's writer
    fd = holder.acquire(1.0)
    engine = make_engine(f"sqlite:///{db}", busy_timeout_ms=50)
    try:
        with pytest.raises(StorageUnavailable):
            upgrade(engine)
        url = f"sqlite:///{db}"
        settings = make_settings(url, tmp_path, database={"url": url, "busy_timeout_ms": 50})
        assert database_check(settings).status == "bad"
    finally:
        holder.release(fd)
        holder.close()
        engine.dispose()
    upgrade(engine)  # the lock free again: nothing left to do
    assert database_check(make_settings(f"sqlite:///{db}", tmp_path)).status == "ok"
