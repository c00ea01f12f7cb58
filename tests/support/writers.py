"""Holding the database's writers' turn from another thread, for tests of what waits."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session, sessionmaker

from storage.db import transaction


@contextmanager
def writer_held(factory: sessionmaker[Session]) -> Iterator[None]:
    """Another thread of this process holds a write transaction for the block."""
    inside, leave = threading.Event(), threading.Event()

    def hold() -> None:
        with transaction(factory):
            inside.set()
            leave.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    assert inside.wait(30)
    try:
        yield
    finally:
        leave.set()
        holder.join(timeout=30)
